"""Shared helpers of the benchmarks: bake a project, run and time commands.

Method (issue 23.6): every command a benchmark times, ours and its baseline alike, is
started the same way, in a session of its own (`setsid`, as amlops starts a job), so
the kernel's per-session CPU grouping cannot favour one side; each figure is the median
of rounds that alternate between the sides (the order rotates every round, so neither
side always runs first); CPU seconds (user + system of this process and every process
it waited for) are reported beside wall seconds. CPU spent by dockerd and containers
is not in the CPU figure (they are not our children): compare wall time there.

BENCH_QUICK=1 runs every benchmark once on tiny sizes (tests/test_benchmarks.py does,
so a benchmark that no longer runs fails CI); its figures mean nothing. Quick mode also
skips the untimed warm-ups the timed run can do without, and benchmarks that do not
measure tracking run amlops with TRACKING=0 (a tracked run imports MLflow on the host:
~1.5 s of CPU); every timed action and every report line still runs."""

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")


# An image for quick-mode experiments: the base image with a venv first on PATH (it has
# python3 but no `python`) and nothing installed.
TINY_DOCKERFILE = """ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
"""


def rounds(default: int) -> int:
    """Rounds to run: 1 in quick mode, else $BENCH_ROUNDS or `default`."""
    if QUICK:
        return 1
    return int(os.environ.get("BENCH_ROUNDS", str(default)))


def sized(full, quick):
    """`quick` in quick mode (BENCH_QUICK=1), else `full`."""
    return quick if QUICK else full


def bake_default(into: Path) -> Path:
    """A project baked with default answers."""
    from cookiecutter.main import cookiecutter

    return Path(cookiecutter(str(REPO), no_input=True, output_dir=str(into)))


def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="amlops-bench-"))


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of the children it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measured(action: Callable[[], None]) -> Tuple[float, float]:
    """(wall seconds, CPU seconds) of one call of `action`."""
    start_cpu, start = cpu_seconds(), time.perf_counter()
    action()
    return time.perf_counter() - start, cpu_seconds() - start_cpu


def timed(action: Callable[[], None]) -> float:
    """Wall seconds of one call of `action`."""
    return measured(action)[0]


class Figures(dict):
    """Median wall seconds by name (a plain dict of floats), with the median CPU seconds
    of the same rounds in `.cpu`."""

    def __init__(self, wall: Dict[str, float], cpu: Dict[str, float]):
        super().__init__(wall)
        self.cpu = cpu


def interleaved(actions: Dict[str, Callable[[], None]], rounds: int) -> Figures:
    """Median wall and CPU seconds of each action over `rounds` rounds; each round runs
    every action once, starting one further along the list each round."""
    names = list(actions)
    wall: Dict[str, List[float]] = {name: [] for name in names}
    cpu: Dict[str, List[float]] = {name: [] for name in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, used = measured(actions[name])
            wall[name].append(seconds)
            cpu[name].append(used)
    return Figures(
        {name: statistics.median(values) for name, values in wall.items()},
        {name: statistics.median(values) for name, values in cpu.items()},
    )


def run(argv: List[str], cwd: Path, env: Optional[Dict[str, str]] = None) -> str:
    """Run a command quietly in a session of its own (both sides of a comparison start
    this way); its stdout. Fail the benchmark loudly if it fails."""
    result = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    if result.returncode:
        sys.exit(f"benchmark command failed: {argv}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def run_environment(record: Dict) -> Tuple[str, str]:
    """(kind, what) of the environment a local run used, from its run.json `environment`
    line: ("image", tag) for `image <tag> (<recipe>)`, ("venv", path) for `venv <path>`."""
    words = str(record["environment"]).split()
    if words[0] in ("image", "venv") and len(words) > 1:
        return words[0], words[1]
    raise SystemExit(f"benchmark: cannot read the environment of run.json: {words}")


def dvc_command() -> List[str]:
    """The dvc CLI: $DVC, or a venv under build/bench made on first use."""
    if os.environ.get("DVC"):
        return [os.environ["DVC"]]
    venv = REPO / "build" / "bench" / "dvc-venv"
    if not (venv / "bin" / "dvc").exists():
        print("installing dvc into build/bench/dvc-venv (once)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run(pip + ["--upgrade", "pip"], check=True)
        subprocess.run(pip + ["dvc"], check=True)
    return [str(venv / "bin" / "dvc")]


def dvc_version(dvc: List[str]) -> str:
    return subprocess.check_output(dvc + ["--version"], text=True).strip()


def disk_usage(*paths: Path) -> int:
    """Bytes on disk under `paths`, each hard-linked file counted once (like `du`)."""
    seen, total = set(), 0
    for root in paths:
        for folder, _, files in os.walk(root):
            for name in files:
                stat = os.lstat(os.path.join(folder, name))
                if (stat.st_dev, stat.st_ino) not in seen:
                    seen.add((stat.st_dev, stat.st_ino))
                    total += stat.st_blocks * 512
    return total


def machine_note() -> str:
    """One line saying what the figures were measured on."""
    cores = os.cpu_count()
    with open("/proc/meminfo") as handle:
        mem_kb = int(handle.readline().split()[1])
    load = os.getloadavg()[0]
    return (
        f"machine: {cores} cores, {mem_kb / 2**20:.0f} GiB; load average {load:.1f} at start"
        " (the cores may be shared with other work: compare ratios, not seconds)"
    )


def report(title: str, figures: Dict[str, float], baseline: str) -> None:
    """Print each figure's median wall seconds, its ratio to `baseline`, and (when
    measured) its median CPU seconds and their ratio."""
    cpu = getattr(figures, "cpu", None)
    unit = "median wall and CPU seconds" if cpu else "median seconds"
    quick = "; QUICK MODE: tiny sizes, one round, figures mean nothing" if QUICK else ""
    print(f"\n{title} ({unit}; ratio against {baseline}{quick})")
    for name, seconds in figures.items():
        line = f"  {name:<44} {seconds:8.3f} s  x{ratio(seconds, figures[baseline]):.2f}"
        if cpu:
            line += f"   cpu {cpu[name]:8.3f} s  x{ratio(cpu[name], cpu[baseline]):.2f}"
        print(line, flush=True)


def ratio(value: float, baseline: float) -> float:
    """value / baseline, infinite for a zero baseline."""
    return value / baseline if baseline else float("inf")
