"""`make demo` on a fresh clone, and what the demo's venvs hold on disk.

1. `git clone` this repository (its committed HEAD) into a scratch folder and time
   `make demo` there: the clone's .venv from requirements-dev.txt (pip), the bake,
   `make local EXP=train` and `make pipeline-local`. RUNTIME=auto: where the Dockerfile's
   Azure ML base image cannot be pulled (this machine), both run in the venv runtime.
2. In the baked demo, what `make setup` changes for the venv runtime: the project's own
   .venv, made by another interpreter of the same Python version (/usr/bin/python3 when
   its version matches), with the project installed (`pip install -e .`; the dev tools
   and the Azure SDK that make setup adds do not matter to venvs); then
   `make pipeline-local` again with that .venv. BENCH_QUICK=1: `make demo` uses this
   repository's .venv, and uv (beside this interpreter, when there) installs the project
   into a .venv made without pip.

Figures: the time of `make demo`; the venvs in .runs/.venvs after each step, their size
on disk (hard-linked files counted once, uv's cache included) and whether the second
pipeline built a venv. Goals: one venv, and no rebuild. The issue's baseline (before uv
and content keys): 5 venvs and 2.2 GB after a day, a 52 s rebuild after make setup."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import QUICK, REPO, disk_usage, machine_note, scratch  # noqa: E402


def venvs(project: Path) -> list:
    folder = project / ".runs" / ".venvs"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def shown(project: Path) -> str:
    names = venvs(project)
    size = disk_usage(project / ".runs" / ".venvs") if names else 0
    return f"{len(names)} venv(s) {names}, {size / 2**20:.0f} MiB on disk with uv's cache"


def built_at(project: Path) -> dict:
    """Each venv's completion marker mtime: a rebuild changes it."""
    folder = project / ".runs" / ".venvs"
    return {name: (folder / name / ".amlops-ready").stat().st_mtime_ns for name in venvs(project)}


def step(argv: list, cwd: Path, env: dict = None) -> subprocess.CompletedProcess:
    """Run a command the way a user would: without this process's venv or make settings."""
    clean = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHON")}
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, env={**clean, **(env or {})}
    )
    done.seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"failed: {argv}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def main() -> None:
    print(machine_note())
    work = scratch()
    clone = work / "clone"
    try:
        step(["git", "clone", "-q", str(REPO), str(clone)], work)
        commit = step(["git", "rev-parse", "--short", "HEAD"], clone).stdout.strip()
        demo_argv = ["make", "--no-print-directory", "demo", f"DEMO_DIR={work / 'demo'}"]
        if QUICK:  # the clone uses this repository's .venv instead of installing its own
            venv = Path(sys.prefix)
            demo_argv += [f"VENV={venv}", "-o", f"{venv}/.installed"]
        demo = step(demo_argv, clone)
        project = work / "demo" / "azure-ml-project"
        runtime = "venv" if "running in a Python venv instead" in demo.stderr else "docker"
        print(
            f"\nmake demo on a fresh clone (commit {commit}): {demo.seconds:.0f} s"
            f" ({runtime} runtime; "
            + (
                "quick mode: with this repository's .venv)"
                if QUICK
                else "includes the clone's" " .venv from requirements-dev.txt)"
            )
        )
        print(f"  after make demo: {shown(project)}")

        python = "/usr/bin/python3"
        check = [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        mine = "%d.%d" % sys.version_info[:2]
        if not Path(python).exists() or step(check, work).stdout.strip() != mine:
            python = sys.executable
        venv = [python, "-m", "venv", ".venv"]
        install = [".venv/bin/python", "-m", "pip", "install", "-q", "-e", "."]
        uv = Path(sys.executable).parent / "uv"
        if QUICK and uv.exists():  # the same install by uv from its cache: pip resolves and
            # downloads the project's dependencies (mlflow-skinny...), most of the quick run;
            # so the venv needs no pip of its own (ensurepip: seconds)
            venv.append("--without-pip")
            install = [str(uv), "pip", "install", "-q", "--python", ".venv/bin/python", "-e", "."]
        step(venv, project)
        step(install, project, {"UV_SYSTEM_CERTS": "1", "UV_NATIVE_TLS": "1"})
        before = built_at(project)
        again = step(["make", "--no-print-directory", "pipeline-local", "RUNTIME=venv"], project)
        rebuilt = built_at(project) != before
        print(
            f"  make pipeline-local with the project's own .venv ({python} -m venv):"
            f" {again.seconds:.1f} s, {'REBUILT a venv' if rebuilt else 'no venv rebuilt'}"
        )
        print(f"  after that: {shown(project)}")
        print(
            f"summary: {len(venvs(project))} venv(s) (goal 1), rebuild: {rebuilt} (goal False);"
            f" make demo {demo.seconds:.0f} s"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
