"""Tracking costs: per-step overhead of a cold pipeline as the store grows (issue 23.1),
and what one local run pays for being tracked (issues 20.5 and 23.3), before and after
the store moved to MLflow's own code.

(1) Per step of a cold pipeline at 10, 100 and 500 steps, each step its own experiment
(the worst case: dag100.py's steps are 100 experiments), all steps in one process as
`make pipeline-local` runs them: what start_run + finish cost in the store (find or
make the experiment, create the run with its params and tags, record its end). Each
size runs in a fresh process on an empty store. "before" is the hand-written store of
BENCH_TRACKING_BEFORE (a git revision, default the one before this change); "after" is
this tree's, whose one-off MLflow import per process is shown on its own line.
Goal: after's per-step cost flat from 10 to 500 steps (ratio 500/10 within 1.2).

(2) Per local run, in fresh processes (as `make local` starts them): the host's part
(amlops: import what it needs, make the run, record its end) and the job's part (the
sample's common/tracking.py logging four metrics: before, `import mlflow` and
`mlflow.log_metrics`; after, one line handed to amlops, which logs it through MLflow).
TRACKING=0 costs neither. Goal (20.5): after's total within 1.1x of before's.

Every process is started the same way (its own session, as amlops starts jobs), CPU
seconds are shown beside wall time, rounds are interleaved. PYTHONDONTWRITEBYTECODE is
dropped for the measured processes (a user's Python caches bytecode; a warm-up round
writes it). The job's part runs on this Python (mlflow-skinny): an experiment's venv
or image adds its own packages' import cost (azureml-mlflow) on top of "before" only.

BENCH_QUICK=1: tiny sizes (2 and 4 steps), one round and no warm-up, so CI sees a broken
benchmark.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, machine_note  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"
SIZES = [2, 4] if QUICK else [10, 100, 500]
ROUNDS = 1 if QUICK else int(os.environ.get("BENCH_ROUNDS", "3"))
BEFORE = os.environ.get("BENCH_TRACKING_BEFORE", "831b980")
PROJECT = REPO / "{{cookiecutter.project_slug}}"
STORE_PATH = "{{cookiecutter.project_slug}}/amlops/tracking/store.py"
TAGS = {f"amlops.tag{k}": f"value {k}" for k in range(12)}  # about what start_run sets
PARAMS = {"n_estimators": "100", "seed": "42"}
METRICS = {"accuracy": 0.97, "f1_macro": 0.96, "n_train": 133.0, "n_test": 45.0}

STEPS_WORKER = """
import json, os, sys, time, importlib.util
sys.path.insert(0, sys.argv[1])
variant, store_file, n, root = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
tags, params = json.loads(sys.argv[6]), json.loads(sys.argv[7])
spec = importlib.util.spec_from_file_location("bench_store", store_file)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
uri = "file://" + root
once_cpu = once_wall = 0.0
if variant == "after":
    c, w = time.process_time(), time.perf_counter()
    module.open_store(uri, {}).mlflow  # the one-off MLflow import of a process
    once_cpu, once_wall = time.process_time() - c, time.perf_counter() - w
steps = []
for k in range(n):
    c, w = time.process_time(), time.perf_counter()
    store = module.open_store(uri, {})  # start_run opens the store for every step
    experiment = store.experiment_id(f"bench-step-{k:04d}")
    run = store.create_run(experiment, f"run-{k}", params, tags)
    store.finish_run(experiment, run, "FINISHED")
    steps.append((time.process_time() - c, time.perf_counter() - w))
print(json.dumps({"once": [once_cpu, once_wall], "steps": steps}))
"""

HOST_WORKER = """
import json, os, sys, time, importlib.util
c0, w0 = time.process_time(), time.perf_counter()
sys.path.insert(0, sys.argv[1])
variant, store_file, root, run_dir = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
tags, params = json.loads(sys.argv[6]), json.loads(sys.argv[7])
spec = importlib.util.spec_from_file_location("bench_store", store_file)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
store = module.open_store("file://" + root, {})
experiment = store.experiment_id("bench-run")
run = store.create_run(experiment, "run", params, tags)
relay = None
if variant == "after":
    from amlops.tracking.relay import MetricsRelay
    relay = MetricsRelay(store, experiment, run, __import__("pathlib").Path(run_dir))
sys.stdout.write(run + "\\n"); sys.stdout.flush()
waited = time.perf_counter()
sys.stdin.readline()  # the job ran (not counted)
waited = time.perf_counter() - waited
if relay is not None:
    relay.pump()
store.finish_run(experiment, run, "FINISHED")
print(json.dumps([time.process_time() - c0, time.perf_counter() - w0 - waited]))
"""

JOB_BEFORE = """
import os, sys, time
c, w = time.process_time(), time.perf_counter()
import mlflow
mlflow.log_metrics({"accuracy": 0.97, "f1_macro": 0.96, "n_train": 133.0, "n_test": 45.0})
print(time.process_time() - c, time.perf_counter() - w)
"""

JOB_AFTER = """
import os, sys, time
c, w = time.process_time(), time.perf_counter()
sys.path.insert(0, sys.argv[1])
from common.tracking import log_metrics
log_metrics({"accuracy": 0.97, "f1_macro": 0.96, "n_train": 133.0, "n_test": 45.0})
print(time.process_time() - c, time.perf_counter() - w)
"""


def measured_env(extra: Dict[str, str] = None) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"MLFLOW_ALLOW_FILE_STORE": "true", "GIT_PYTHON_REFRESH": "quiet"})
    env.update(extra or {})
    return env


def started(argv: List[str], env: Dict[str, str], stdin: bool = False) -> subprocess.Popen:
    """A measured process, in its own session (as amlops starts a job)."""
    return subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def finished(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=1800)
    if proc.returncode:
        sys.exit(f"benchmark process failed ({proc.args[:3]}...):\n{err[-3000:]}")
    return out


def before_store(scratch: Path) -> Path:
    """The hand-written store of BEFORE, from git, or an empty path when unavailable."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{BEFORE}:{STORE_PATH}"], capture_output=True, text=True
    )
    if done.returncode:
        return Path()
    path = scratch / "store_before.py"
    path.write_text(done.stdout)
    return path


def steps_figures(variant: str, store_file: Path, n: int, scratch: Path) -> Dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix=f"{variant}-{n}-", dir=scratch)) / "mlruns"
    argv = [sys.executable, "-c", STEPS_WORKER, str(PROJECT), variant, str(store_file), str(n)]
    argv += [str(root), json.dumps(TAGS), json.dumps(PARAMS)]
    found = json.loads(finished(started(argv, measured_env())).strip().splitlines()[-1])
    steps = found["steps"]
    last = steps[-min(10, len(steps)) :]
    return {
        "once_cpu": found["once"][0],
        "once_wall": found["once"][1],
        "cpu": statistics.mean(s[0] for s in steps),
        "wall": statistics.mean(s[1] for s in steps),
        "last_cpu": statistics.mean(s[0] for s in last),
    }


def per_step(store_files: Dict[str, Path], scratch: Path) -> None:
    print(
        f"\n(1) tracking cost per step of a cold pipeline, each step its own experiment;"
        f" {ROUNDS} round(s), medians; ms"
    )
    results: Dict[str, Dict[int, List[Dict[str, float]]]] = {
        v: {n: [] for n in SIZES} for v in store_files
    }
    for _ in range(ROUNDS):
        for n in SIZES:
            for variant, path in store_files.items():
                results[variant][n].append(steps_figures(variant, path, n, scratch))
    for variant in store_files:
        line = []
        for n in SIZES:
            got = results[variant][n]
            cpu = statistics.median(r["cpu"] for r in got) * 1000
            wall = statistics.median(r["wall"] for r in got) * 1000
            last = statistics.median(r["last_cpu"] for r in got) * 1000
            line.append(f"{n} steps: {cpu:6.2f} cpu {wall:6.2f} wall (last steps {last:.2f} cpu)")
        print(f"  {variant:<7} " + " | ".join(line))
        first = statistics.median(r["cpu"] for r in results[variant][SIZES[0]])
        big = statistics.median(r["cpu"] for r in results[variant][SIZES[-1]])
        print(
            f"  {'':<7} ratio {SIZES[-1]}/{SIZES[0]} steps (cpu per step): x{big / first:.2f}"
            + ("  (goal <= 1.2)" if variant == "after" else "")
        )
    if "after" in results:
        once = [r for n in SIZES for r in results["after"][n]]
        print(
            f"  after: once per process, MLflow's import:"
            f" {statistics.median(r['once_cpu'] for r in once):.2f} s cpu,"
            f" {statistics.median(r['once_wall'] for r in once):.2f} s wall"
        )


def one_run(variant: str, store_file: Path, scratch: Path) -> Dict[str, float]:
    """Host and job parts of one tracked run; seconds (cpu, wall)."""
    root = Path(tempfile.mkdtemp(prefix=f"run-{variant}-", dir=scratch))
    run_dir = root / "run"
    (run_dir / "logs").mkdir(parents=True)
    store = root / "mlruns"
    argv = [sys.executable, "-c", HOST_WORKER, str(PROJECT), variant, str(store_file)]
    argv += [str(store), str(run_dir), json.dumps(TAGS), json.dumps(PARAMS)]
    host = started(argv, measured_env(), stdin=True)
    run_id = host.stdout.readline().strip()
    job_env = measured_env(
        {
            "MLFLOW_TRACKING_URI": store.as_uri(),
            "MLFLOW_RUN_ID": run_id,
            "AMLOPS_LOG_DIR": str(run_dir / "logs"),
        }
    )
    if variant == "after":
        job_env["AMLOPS_TRACKING_RELAY"] = "1"
        job = [sys.executable, "-c", JOB_AFTER, str(PROJECT / "src")]
    else:
        job = [sys.executable, "-c", JOB_BEFORE]
    job_cpu, job_wall = map(float, finished(started(job, job_env)).split())
    host.stdin.write("\n")
    host.stdin.flush()
    host_cpu, host_wall = json.loads(finished(host).strip().splitlines()[-1])
    return {"host_cpu": host_cpu, "host_wall": host_wall, "job_cpu": job_cpu, "job_wall": job_wall}


def per_run(store_files: Dict[str, Path], scratch: Path) -> None:
    print(f"\n(2) what one tracked local run pays for tracking; {ROUNDS} round(s), medians; s")
    for variant, path in store_files.items():
        if not QUICK:  # quick mode: one measured round, no warm-up
            one_run(variant, path, scratch)  # warm-up: bytecode written, files cached
    samples: Dict[str, List[Dict[str, float]]] = {v: [] for v in store_files}
    for _ in range(ROUNDS):
        for variant, path in store_files.items():
            samples[variant].append(one_run(variant, path, scratch))
    totals = {}
    for variant, got in samples.items():
        fig = {k: statistics.median(r[k] for r in got) for k in got[0]}
        totals[variant] = fig["host_cpu"] + fig["job_cpu"]
        print(
            f"  {variant:<7} host {fig['host_cpu']:.3f} cpu {fig['host_wall']:.3f} wall;"
            f" job {fig['job_cpu']:.3f} cpu {fig['job_wall']:.3f} wall;"
            f" total {totals[variant]:.3f} cpu"
        )
    if "before" in totals:
        print(
            f"  ratio after/before (total cpu): x{totals['after'] / totals['before']:.2f}"
            " (goal <= 1.1); TRACKING=0: no store work, no relay"
        )


def main() -> None:
    print(machine_note())
    print(f"sizes {SIZES}, rounds {ROUNDS}{' (BENCH_QUICK)' if QUICK else ''}")
    scratch = Path(tempfile.mkdtemp(prefix="amlops-bench-tracking-"))
    started_at = time.perf_counter()
    store_files = {}
    old = before_store(scratch)
    if old != Path():
        store_files["before"] = old
    else:
        print(f"before: {BEFORE} not in this clone's history; only after is measured")
    store_files["after"] = PROJECT / "amlops" / "tracking" / "store.py"
    per_step(store_files, scratch)
    per_run(store_files, scratch)
    print(f"\n({time.perf_counter() - started_at:.0f} s)")
    subprocess.run(["rm", "-rf", str(scratch)])


if __name__ == "__main__":
    main()
