"""Sweep jobs (`type: sweep`): the case from ../shared/cases/native/sweep end to end
(venv and Docker), early termination stopping a real trial, bad input refused in one
line before any trial, DRY_RUN loaded back with azure.ai.ml.load_job, and the
sample's own sweep.yaml. Trials are real processes; metrics are read back with
MLflow's own client."""

import json
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import PRELOAD
from tests.helpers import Baked, default_project, error_lines
from tests.native_support import dry_run_folder, edit_yaml, sent
from tests.tracking_support import add_sweep_case, local_store, mlflow_runs, tools_python

# A trial that logs its loss at 6 steps, a second apart: base + 1/(step + 1).
STEPS = """import argparse, time
import mlflow
parser = argparse.ArgumentParser()
parser.add_argument("--base", type=float)
args = parser.parse_args()
for step in range(6):
    mlflow.log_metric("loss", args.base + 1.0 / (step + 1), step=step)
    time.sleep(1)
print("finished all steps")
"""


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, shared_venvs) -> Baked:
    """One project for the venv tests (their venv, with mlflow-skinny, built once)."""
    project = Baked(
        default_project(tmp_path_factory.mktemp("sweeps")), env={"VENV_DIR": str(shared_venvs)}
    )
    project.env["RUNTIME"] = "venv"
    project.preload = PRELOAD
    add_sweep_case(project)
    return project


def trial_dirs(run: Path):
    return sorted(p for p in run.iterdir() if p.name.startswith("trial-") and p.is_dir())


def overlap(records) -> int:
    """The most trials running at one moment, from their start and end times."""
    events = sorted([(r["started"], 1) for r in records] + [(r["ended"], -1) for r in records])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def check_case_sweep(project: Baked, result) -> None:
    """8 trials, at most 2 at a time (2 at some point), each its own tracked run with its
    sampled values; the best is the minimum of what the trials logged."""
    assert result.returncode == 0, result.stderr
    sweep_dir = project.latest_run("sweep")
    trials = trial_dirs(sweep_dir)
    assert [t.name for t in trials] == [f"trial-{n:02d}" for n in range(1, 9)]
    records = [json.loads((t / "run.json").read_text()) for t in trials]
    assert all(r["status"] == "completed" for r in records)
    assert overlap(records) == 2
    runs = mlflow_runs(local_store(project), "azure-ml-project-sweep")
    parent = [r for r in runs if r["name"] == sweep_dir.name][0]
    children = [r for r in runs if r["tags"].get("mlflow.parentRunId") == parent["run_id"]]
    assert len(children) == 8
    for child in children:
        x, kind = float(child["params"]["x"]), child["params"]["kind"]
        assert -2.0 <= x <= 2.0 and kind in ("plain", "squared")
        assert child["params"]["offset"] == "1.0"
        expected = (x**2 if kind == "squared" else abs(x)) + 1.0
        assert child["metrics"]["loss"] == pytest.approx(expected)
    best = min(children, key=lambda r: r["metrics"]["loss"])
    record = json.loads((sweep_dir / "run.json").read_text())
    assert record["status"] == "completed"
    assert f"{sweep_dir.name}/{record['best']}" == best["name"]
    assert record["best_objective"] == pytest.approx(best["metrics"]["loss"])
    assert f"best: {record['best']} loss=" in result.stdout
    assert (sweep_dir / "best").resolve() == (sweep_dir / record["best"]).resolve()
    # a sweep job's outputs are its best trial's (Azure ML): the endpoint's latest/outputs path
    assert (sweep_dir / "outputs").resolve() == (sweep_dir / record["best"] / "outputs").resolve()
    assert parent["metrics"]["loss"] == pytest.approx(best["metrics"]["loss"])
    assert parent["tags"]["amlops.best_trial"] == record["best"]
    listed = project.make("runs", EXP="sweep")
    assert listed.returncode == 0, listed.stderr
    assert len([line for line in listed.stdout.splitlines() if "/trial-" in line]) == 8


def test_the_sweep_case_runs_8_trials_2_at_a_time_and_keeps_the_minimum(sweeps):
    result = sweeps.make("local", EXP="sweep")
    check_case_sweep(sweeps, result)
    assert "trial-01 completed loss=" in result.stderr  # the leaderboard, line by line
    assert "2 at a time" in result.stderr


def test_the_sweep_case_in_docker(docker_baked):
    add_sweep_case(docker_baked)
    check_case_sweep(docker_baked, docker_baked.make("local", EXP="sweep"))


def test_early_termination_stops_a_trial_that_falls_behind(sweeps):
    folder = sweeps.path / "src" / "early"
    folder.mkdir()
    (folder / "steps.py").write_text(STEPS)
    job = {
        "$schema": "https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json",
        "type": "sweep",
        "trial": {
            "code": ".",
            "command": "python steps.py --base ${{search_space.base}}",
            "environment": {"build": {"path": "../sweep/docker"}},
        },
        "sampling_algorithm": "grid",
        "search_space": {"base": {"type": "choice", "values": [0, 10]}},
        "objective": {"goal": "minimize", "primary_metric": "loss"},
        "early_termination": {"type": "bandit", "slack_amount": 1, "evaluation_interval": 1},
        "limits": {"max_total_trials": 2, "max_concurrent_trials": 1},
    }
    (folder / "job.yaml").write_text(yaml.safe_dump(job, sort_keys=False))
    result = sweeps.make("local", EXP="early")
    assert result.returncode == 0, result.stderr
    sweep_dir = sweeps.latest_run("early")
    good, bad = trial_dirs(sweep_dir)
    assert json.loads((good / "run.json").read_text())["status"] == "completed"
    stopped = json.loads((bad / "run.json").read_text())
    # Stopped by the bandit policy at an interval n < 6, comparing the best value each
    # trial had logged by then: trial-02's 10 + 1/n against the leader trial-01's 0 + 1/n.
    assert stopped["status"] == "early_terminated", stopped
    reason = re.fullmatch(
        r"bandit: best ([0-9.]+) outside slack_amount of leader ([0-9.]+) at interval (\d+)",
        stopped["stopped"],
    )
    assert reason, stopped["stopped"]
    mine, leader, n = float(reason.group(1)), float(reason.group(2)), int(reason.group(3))
    assert 1 <= n < 6, stopped["stopped"]
    assert mine == pytest.approx(10 + 1 / n, abs=0.01), stopped["stopped"]
    assert leader == pytest.approx(1 / n, abs=0.01), stopped["stopped"]
    # It stopped before logging all 6 values (no matter how long that took): its process
    # never reached the end, and the values it did log are its first ones, in order.
    assert "finished all steps" not in (bad / "logs" / "std_log.txt").read_text()
    runs = {r["name"]: r for r in mlflow_runs(local_store(sweeps), "azure-ml-project-early")}
    assert runs[f"{sweep_dir.name}/trial-02"]["status"] == "KILLED"
    logged = runs[f"{sweep_dir.name}/trial-02"]["history"]["loss"]
    assert n <= len(logged) < 6
    expected = [pytest.approx(10 + 1 / (step + 1)) for step in range(len(logged))]
    assert sorted(logged, reverse=True) == expected  # its first values (they only decrease)
    assert len(runs[f"{sweep_dir.name}/trial-01"]["history"]["loss"]) == 6
    assert "early_terminated" in result.stdout and "best: trial-01 loss=0.166667" in result.stdout


BAD = {
    "unknown distribution": (
        lambda d: d["search_space"]["x"].update(type="gaussian"),
        "search_space.x: unknown distribution 'gaussian' (use choice, randint, uniform",
    ),
    "unused name": (
        lambda d: d["search_space"].update(y={"type": "choice", "values": [1]}),
        "search_space.y is not used by the trial command",
    ),
    "undeclared name": (
        lambda d: d["trial"].update(command=d["trial"]["command"] + " --z ${{search_space.z}}"),
        "trial command uses ${{search_space.z}} but search_space has no 'z'",
    ),
    "grid over a continuous distribution": (
        lambda d: d.update(sampling_algorithm="grid"),
        "grid sampling needs choice parameters; search_space.x is uniform",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_sweep_input_is_one_line_before_any_trial(sweeps, case):
    change, message = BAD[case]
    folder = sweeps.path / "src" / "bad"
    add_sweep_case(sweeps, "bad")
    edit_yaml(folder / "job.yaml", change)
    try:
        result = sweeps.make("local", EXP="bad")
    finally:  # the module's project is shared: make validate must not meet it later
        shutil.rmtree(folder)
    assert result.returncode == 2
    assert len(error_lines(result.stderr)) == 1, result.stderr
    assert message in error_lines(result.stderr)[0]
    assert error_lines(result.stderr)[0].startswith("error: src/bad/job.yaml:")
    assert not (sweeps.path / ".runs" / "bad").exists()


def test_a_primary_metric_no_trial_logged_is_told_at_the_end_with_the_logs(sweeps):
    add_sweep_case(sweeps, "nometric")
    edit_yaml(
        sweeps.path / "src/nometric/job.yaml",
        lambda d: (
            d["objective"].update(primary_metric="accuracy"),
            d["limits"].update(max_total_trials=2),
        ),
    )
    result = sweeps.make("local", EXP="nometric")
    assert result.returncode == 2
    assert "objective.primary_metric 'accuracy': no trial logged it" in result.stderr
    assert (
        "trial-01 completed: loss" in result.stderr and "trial-01/logs/std_log.txt" in result.stderr
    )
    assert (
        json.loads((sweeps.latest_run("nometric") / "run.json").read_text())["status"] == "failed"
    )


def test_sweep_dry_run_is_the_file_loaded_back_with_load_job(sweeps):
    from azure.ai.ml import load_job
    from azure.ai.ml.sweep import SweepJob

    result = sweeps.make("job", EXP="sweep", DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    folder = dry_run_folder(sweeps, result)
    job = load_job(folder / "job.yaml")
    assert isinstance(job, SweepJob)
    assert job.limits.max_total_trials == 8 and job.limits.max_concurrent_trials == 2
    assert job.objective.primary_metric == "loss" and job.objective.goal.lower() == "minimize"
    source = yaml.safe_load((sweeps.path / "src/sweep/job.yaml").read_text())
    native = sent(sweeps, result)
    rewritten = {"trial", "experiment_name", "tags", "$schema"}
    for key, value in source.items():
        if key not in rewritten:
            assert native[key] == value, key
    assert native["trial"]["command"] == source["trial"]["command"].strip()
    assert (
        native["trial"]["code"] == "code/sweep" and (folder / "code/sweep/objective.py").is_file()
    )
    assert (folder / native["trial"]["environment"]["build"]["path"] / "Dockerfile").is_file()
    assert native["experiment_name"] == "azure-ml-project-sweep"
    assert native["tags"]["experiment"] == "sweep"
    assert "compute" not in native  # none in the file or config: serverless, as for command jobs

    validated = sweeps.make("validate", OFFLINE="1")
    assert validated.returncode == 0, validated.stderr
    assert (
        "ok src/sweep/job.yaml" in validated.stderr
        and "ok src/train/sweep.yaml" in validated.stderr
    )


def test_the_samples_sweep_runs_with_one_command(sweeps):
    result = sweeps.make("local", EXP="train", JOB="sweep.yaml")
    assert result.returncode == 0, result.stderr
    sweep_dir = sweeps.latest_run("train")
    assert len(trial_dirs(sweep_dir)) == 6
    record = json.loads((sweep_dir / "run.json").read_text())
    assert set(record["best_values"]) == {"n_estimators", "max_depth"}
    assert (sweep_dir / "best" / "outputs" / "model" / "model.pkl").is_file()
    assert "best outputs: .runs/train/" in result.stdout


def test_bayesian_sampling_runs_locally_with_optuna(sweeps):
    """With a Python that has Optuna (make setup installs it into .venv)."""
    add_sweep_case(sweeps, "bayes")
    edit_yaml(
        sweeps.path / "src/bayes/job.yaml",
        lambda d: (
            d.update(sampling_algorithm={"type": "bayesian"}),
            d["limits"].update(max_total_trials=3, max_concurrent_trials=1),
        ),
    )
    result = sweeps.make(
        "local", EXP="bayes", PYTHON=str(tools_python()), VENV_PYTHON=sys.executable
    )
    assert result.returncode == 0, result.stderr
    assert "Optuna's TPE sampler stands in" in result.stderr
    trials = trial_dirs(sweeps.latest_run("bayes"))
    assert len(trials) == 3
    assert {json.loads((t / "run.json").read_text())["status"] for t in trials} == {"completed"}


def test_ctrl_c_stops_the_running_trials_and_starts_no_more(sweeps):
    import signal
    import subprocess

    folder = sweeps.path / "src" / "slow"
    folder.mkdir()
    (folder / "steps.py").write_text(STEPS.replace("time.sleep(1)", "time.sleep(5)"))
    job = {
        "type": "sweep",
        "trial": {
            "code": ".",
            "command": "python steps.py --base ${{search_space.base}}",
            "environment": {"build": {"path": "../sweep/docker"}},
        },
        "sampling_algorithm": "grid",
        "search_space": {"base": {"type": "choice", "values": [1, 2, 3, 4]}},
        "objective": {"goal": "minimize", "primary_metric": "loss"},
        "limits": {"max_total_trials": 4, "max_concurrent_trials": 2},
    }
    (folder / "job.yaml").write_text(yaml.safe_dump(job, sort_keys=False))
    proc = sweeps.start("local", EXP="slow")

    def two_running():
        runs = sweeps.path / ".runs" / "slow"
        records = list(runs.glob("2*/trial-*/run.json")) if runs.is_dir() else []
        return len(records) == 2 and all(json.loads(r.read_text()).get("tracking") for r in records)

    assert sweeps.wait_for(two_running, 400), proc.stderr.read() if proc.poll() else ""
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    sweep_dir = sweeps.latest_run("slow")
    assert json.loads((sweep_dir / "run.json").read_text())["status"] == "interrupted"
    trials = trial_dirs(sweep_dir)
    assert len(trials) == 2, "no trial starts after Ctrl-C"
    assert {json.loads((t / "run.json").read_text())["status"] for t in trials} == {"interrupted"}
    still = subprocess.run(["pgrep", "-f", "python steps.py --base"], capture_output=True)
    assert still.returncode == 1, f"trials left running: {still.stdout}"
