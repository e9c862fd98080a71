"""A local sweep against the same trials run by hand, and what tracking costs per trial.

The case ../tests/cases/native/sweep (8 trials, max_concurrent_trials 2) runs with
`make local EXP=sweep` in the venv runtime (BENCH_RUNTIME=docker for Docker).
Baseline: the same 8 trials, their values taken from the sweep's own record, run one
after another by hand (`python objective.py --x ... --kind ... --offset 1.0` in the
same venv, logging to a scratch MLflow file store, as a user would). Target: sweep /
by hand <= 0.65 on 2 cores. Also printed: the sweep with max_concurrent_trials 1,
whose difference from the by-hand run over 8 is amlops's whole per-trial overhead
(staging, tracking, process start), and the host-side tracking work of one trial
(experiment lookup, run creation with params and tags, final status) alone."""

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    QUICK,
    REPO,
    bake_default,
    interleaved,
    machine_note,
    report,
    rounds,
    run,
    scratch,
    sized,
)

ROUNDS = rounds(3)
TRIALS = sized(8, 1)  # quick mode (BENCH_QUICK=1): one trial
RUNTIME = os.environ.get("BENCH_RUNTIME", "venv")
BASE_IMAGE = os.environ.get("TEST_BASE_IMAGE", "amlops-test-base:bookworm")
CASE = REPO / "tests" / "cases" / "native" / "sweep"
DOCKERFILE = """ARG BASE_IMAGE=mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
FROM ${BASE_IMAGE}
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \\
    && /opt/venv/bin/python -m pip install --no-cache-dir -r /tmp/requirements.txt
ENV PATH=/opt/venv/bin:$PATH
"""


def add_case(project: Path, name: str, concurrent: int) -> None:
    folder = project / "src" / name
    shutil.copytree(CASE, folder, ignore=shutil.ignore_patterns("CASE.md"))
    (folder / "docker" / "requirements.txt").write_text("mlflow-skinny\n")
    (folder / "docker" / "Dockerfile").write_text(DOCKERFILE)
    job = folder / "job.yaml"
    text = job.read_text().replace("max_total_trials: 8", f"max_total_trials: {TRIALS}")
    job.write_text(text.replace("max_concurrent_trials: 2", f"max_concurrent_trials: {concurrent}"))


def latest_sweep(project: Path, name: str) -> Path:
    return sorted(p for p in (project / ".runs" / name).iterdir() if not p.is_symlink())[-1]


def by_hand(project: Path, environment: str, values: list) -> None:
    """The trials one after another, as a user would type them (no amlops): in the
    sweep's venv, or with `docker run` in its image (`environment` as run.json has it)."""
    scratch_dir = Path(tempfile.mkdtemp(prefix="amlops-bench-mlruns-"))
    store = scratch_dir / "mlruns"  # MLflow sets up a store folder only if it is new
    env = {
        "MLFLOW_TRACKING_URI": store.as_uri(),
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "GIT_PYTHON_REFRESH": "quiet",
    }
    code = project / "src" / "sweep"
    if environment.startswith("venv "):
        prefix = [str(project / environment.split()[-1] / "bin" / "python")]
    else:
        prefix = ["docker", "run", "--rm", "--user", f"{os.getuid()}:{os.getgid()}"]
        prefix += [
            "-v",
            f"{code}:/mnt/code",
            "-w",
            "/mnt/code",
            "-v",
            f"{scratch_dir}:{scratch_dir}",
        ]
        prefix += [f"-e{key}" for key in env] + [environment.split()[1], "python"]
    for value in values:
        argv = prefix + ["objective.py", "--x", repr(value["x"]), "--kind", value["kind"]]
        run(argv + ["--offset", "1.0"], code, env)
    shutil.rmtree(scratch_dir, ignore_errors=True)


def tracking_cost(project: Path, trials: int = sized(50, 2)) -> float:
    """Median seconds of the host-side tracking work of one trial."""
    sys.path.insert(0, str(project))
    from amlops.tracking.store import FileStore

    store = FileStore(Path(tempfile.mkdtemp(prefix="amlops-bench-store-")) / "mlruns")
    params = {"x": "0.123456", "kind": "plain", "offset": "1.0"}
    tags = {f"amlops.tag{i}": "value" for i in range(9)}
    samples = []
    for n in range(trials):
        start = time.perf_counter()
        experiment = FileStore(store.root).experiment_id("bench")
        run_id = store.create_run(experiment, f"sweep/trial-{n:02d}", params, tags)
        store.finish_run(experiment, run_id, "FINISHED")
        samples.append(time.perf_counter() - start)
    shutil.rmtree(store.root.parent, ignore_errors=True)
    return statistics.median(samples)


def main() -> None:
    print(machine_note())
    project = bake_default(scratch())
    add_case(project, "sweep", 2)
    add_case(project, "serial", 1)
    env = {"RUNTIME": RUNTIME}
    if RUNTIME == "docker":
        env.update(BASE_IMAGE=BASE_IMAGE, DOCKER_BUILD_ARGS="--network host")
    make = ["make", "-s", "local", f"PYTHON={sys.executable}"]
    run(make + ["EXP=sweep"], project, env)  # warm: the venv (or image) is built once
    if not QUICK:  # quick mode: serial's one run is the timed one (same venv or image)
        run(make + ["EXP=serial"], project, env)
    record = json.loads((latest_sweep(project, "sweep") / "run.json").read_text())
    values = [trial["values"] for trial in record["trials"].values()]
    trial_run = json.loads((latest_sweep(project, "sweep") / "trial-01" / "run.json").read_text())
    environment = trial_run["environment"]
    sweep = "make local: sweep, 2 at a time"
    serial = "make local: sweep, 1 at a time"
    hand = f"{TRIALS} trials by hand, one after another"
    figures = interleaved(
        {
            hand: lambda: by_hand(project, environment, values),
            sweep: lambda: run(make + ["EXP=sweep"], project, env),
            serial: lambda: run(make + ["EXP=serial"], project, env),
        },
        ROUNDS,
    )
    report(f"local sweep ({RUNTIME}), {ROUNDS} rounds, {os.cpu_count()} cores", figures, hand)
    print(f"  sweep (2 at a time) / by hand: {figures[sweep] / figures[hand]:.3f} (target <= 0.65)")
    per_trial = (figures[serial] - figures[hand]) / len(values)
    print(f"  amlops overhead per trial (1 at a time vs by hand): {per_trial * 1000:.0f} ms")
    print(
        f"  host-side tracking per trial (create run, params, tags, status): "
        f"{tracking_cost(project) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
