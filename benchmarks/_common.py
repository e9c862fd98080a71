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


def report(title: str, figures: Dict[str, float], baseline: str) -> None:
    print(f"\n{title} (median seconds; ratio against {baseline})")
    for name, seconds in figures.items():
        print(f"  {name:<40} {seconds:8.3f} s   x{seconds / figures[baseline]:.2f}")
