"""Shared helpers of the benchmarks: bake a project and time commands."""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

REPO = Path(__file__).resolve().parents[1]


def bake_default(into: Path) -> Path:
    """A project baked with default answers."""
    from cookiecutter.main import cookiecutter

    return Path(cookiecutter(str(REPO), no_input=True, output_dir=str(into)))


def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="amlops-bench-"))


def timed(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def interleaved(actions: Dict[str, Callable[[], None]], rounds: int) -> Dict[str, float]:
    """Median seconds of each action, run in alternation so noise hits all alike."""
    samples: Dict[str, List[float]] = {name: [] for name in actions}
    for _ in range(rounds):
        for name, action in actions.items():
            samples[name].append(timed(action))
    return {name: statistics.median(values) for name, values in samples.items()}


def run(argv: List[str], cwd: Path, env: Dict[str, str] = None) -> None:
    """Run a command quietly; fail the benchmark loudly if it fails."""
    result = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if result.returncode:
        sys.exit(f"benchmark command failed: {argv}\n{result.stdout}\n{result.stderr}")


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
    print(f"\n{title} (median seconds; ratio against {baseline})")
    for name, seconds in figures.items():
        print(f"  {name:<40} {seconds:8.3f} s   x{seconds / figures[baseline]:.2f}")
