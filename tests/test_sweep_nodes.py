"""A sweep job as a node of a native pipeline (`type: sweep`, `trial: ./component.yaml`,
Azure ML's form: azureml-examples cli/jobs/pipelines-with-components/
pipeline_with_hyperparameter_sweep): prep -> tune (a sweep over a component) -> report,
run locally in the venv runtime (real trials, tracked with MLflow), the downstream
node reading the best trial's output; reuse, and a changed search space running the
sweep again; DRY_RUN of make pipeline and of make step loaded back with the SDK; bad
input refused in one line."""

import json
import shutil

import pytest
import yaml

from tests.conftest import PRELOAD
from tests.helpers import Baked, default_project, error_lines
from tests.native_support import dry_run_folder, edit_yaml, sent
from tests.pipelines import pipeline_runs
from tests.tracking_support import add_sweep_case, local_store, mlflow_runs

PREP = """import argparse, pathlib
p = argparse.ArgumentParser(); p.add_argument("--out"); a = p.parse_args()
pathlib.Path(a.out, "target.txt").write_text("0.5")
"""
# loss = (x - target)^2 + offset, logged with MLflow; the "model" is x itself.
TRAIN = """import argparse, pathlib
import mlflow
p = argparse.ArgumentParser()
for name in ("--prepared", "--x", "--offset", "--model"):
    p.add_argument(name)
a = p.parse_args()
target = float(pathlib.Path(a.prepared, "target.txt").read_text())
loss = (float(a.x) - target) ** 2 + float(a.offset)
mlflow.log_metric("loss", loss)
pathlib.Path(a.model, "x.txt").write_text(a.x)
print("loss", loss)
"""
REPORT = """import argparse, pathlib
p = argparse.ArgumentParser(); p.add_argument("--model"); a = p.parse_args()
print("best x", pathlib.Path(a.model, "x.txt").read_text())
"""
ENVIRONMENT = {"build": {"path": "../src/tune/docker"}}
COMPONENT = {
    "$schema": "https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json",
    "type": "command",
    "name": "train_model",
    "inputs": {
        "prepared": {"type": "uri_folder"},
        "x": {"type": "number"},
        "offset": {"type": "number", "default": 0},
    },
    "outputs": {"model": {"type": "uri_folder"}},
    "code": "../../src/tune",
    "environment": {"build": {"path": "../../src/tune/docker"}},
    "command": "python train.py --prepared ${{inputs.prepared}} --x ${{inputs.x}}"
    " --offset ${{inputs.offset}} --model ${{outputs.model}}",
}
PIPELINE = {
    "$schema": "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json",
    "type": "pipeline",
    "inputs": {"offset": 1.0},
    "outputs": {"best_model": {"type": "uri_folder"}},
    "jobs": {
        "prep": {
            "type": "command",
            "code": "../src/tune",
            "command": "python prep.py --out ${{outputs.prepared}}",
            "environment": ENVIRONMENT,
            "outputs": {"prepared": {"type": "uri_folder"}},
        },
        "tune": {
            "type": "sweep",
            "trial": "./components/train.yaml",
            "inputs": {
                "prepared": "${{parent.jobs.prep.outputs.prepared}}",
                "offset": "${{parent.inputs.offset}}",
            },
            "outputs": {"model": "${{parent.outputs.best_model}}"},
            "sampling_algorithm": "grid",
            "search_space": {"x": {"type": "choice", "values": [-1.0, 0.75, 2.0]}},
            "objective": {"goal": "minimize", "primary_metric": "loss"},
            "limits": {"max_total_trials": 3, "max_concurrent_trials": 3},
        },
        "report": {
            "type": "command",
            "code": "../src/tune",
            "command": "python report.py --model ${{inputs.model}}",
            "environment": ENVIRONMENT,
            "inputs": {"model": "${{parent.jobs.tune.outputs.model}}"},
        },
    },
}


def add_tuned_pipeline(project: Baked) -> None:
    """src/tune/ (the sweep case's environment, with mlflow-skinny, plus the scripts),
    pipelines/components/train.yaml and pipelines/tuned.yaml."""
    folder = add_sweep_case(project, "tune")
    (folder / "job.yaml").unlink()  # not an experiment: the pipeline's code folder
    for name, text in (("prep.py", PREP), ("train.py", TRAIN), ("report.py", REPORT)):
        (folder / name).write_text(text)
    components = project.path / "pipelines" / "components"
    components.mkdir(exist_ok=True)
    (components / "train.yaml").write_text(yaml.safe_dump(COMPONENT, sort_keys=False))
    pipeline = project.path / "pipelines" / "tuned.yaml"
    pipeline.write_text(yaml.safe_dump(PIPELINE, sort_keys=False))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, shared_venvs) -> Baked:
    project = Baked(
        default_project(tmp_path_factory.mktemp("tuned")), env={"VENV_DIR": str(shared_venvs)}
    )
    project.env["RUNTIME"] = "venv"
    project.preload = PRELOAD
    add_tuned_pipeline(project)
    return project


def newest(project: Baked):
    folder = pipeline_runs(project, "tuned")[-1]
    return json.loads((folder / "pipeline.json").read_text()), folder


def trial_folders(step_dir):
    return sorted(p for p in step_dir.iterdir() if p.name.startswith("trial-") and p.is_dir())


def test_sweep_node_runs_its_trials_and_the_next_step_gets_the_best(tuned):
    result = tuned.make("pipeline-local", PIPELINE="tuned")
    assert result.returncode == 0, result.stderr
    record, folder = newest(tuned)
    assert [s["state"] for s in record["steps"].values()] == ["completed"] * 3
    trials = trial_folders(folder / "tune")
    assert [t.name for t in trials] == ["trial-01", "trial-02", "trial-03"]
    for trial in trials:  # each trial its own run: own folder, upstream input read-only
        run = json.loads((trial / "run.json").read_text())
        assert run["status"] == "completed" and run["pipeline"] == "tuned"
        assert run["inputs"]["prepared"].endswith("prep/outputs/prepared")
    sweep = json.loads((folder / "tune" / "run.json").read_text())
    assert sweep["kind"] == "sweep" and sweep["best"] == "trial-02"  # x=0.75: (0.25)^2 + 1
    assert sweep["best_objective"] == pytest.approx(1.0625)
    assert record["steps"]["tune"]["outputs"]["model"].endswith("tune/trial-02/outputs/model")
    assert "best x 0.75" in (folder / "report/logs/std_log.txt").read_text()
    assert "tune: best trial trial-02 loss=1.0625 [x=0.75]" in result.stdout
    assert "tune/trial-02/outputs" in result.stdout  # the summary's outputs column
    runs = mlflow_runs(local_store(tuned), "azure-ml-project-train_model")
    parent = [r for r in runs if r["tags"].get("amlops.kind") == "sweep"][-1]
    assert parent["tags"]["amlops.step"] == "tune" and parent["tags"]["amlops.best_trial"]
    children = [r for r in runs if r["tags"].get("mlflow.parentRunId") == parent["run_id"]]
    assert sorted(float(c["params"]["x"]) for c in children) == [-1.0, 0.75, 2.0]
    assert all(c["params"]["offset"] == "1.0" for c in children)
    listed = tuned.make("runs", PIPELINE="tuned")
    assert listed.returncode == 0, listed.stderr
    assert len([row for row in listed.stdout.splitlines() if "/tune/trial-0" in row]) == 3

    again = tuned.make("pipeline-local", PIPELINE="tuned")
    assert again.returncode == 0, again.stderr
    record, _ = newest(tuned)
    assert [s["state"] for s in record["steps"].values()] == ["reused"] * 3
    assert "tune: best trial trial-02 loss=1.0625 [x=0.75] (reused)" in again.stdout

    edit_yaml(
        tuned.path / "pipelines/tuned.yaml",
        lambda d: d["jobs"]["tune"]["search_space"]["x"].update(values=[-1.0, 0.5]),
    )
    plan = tuned.make("pipeline-local", PIPELINE="tuned", DRY_RUN="1")
    assert plan.returncode == 0, plan.stderr
    assert "prep    reuse" in plan.stdout
    tune_line = [line for line in plan.stdout.splitlines() if line.startswith("  tune ")][0]
    assert "run   (sweep changed: search_space)" in tune_line
    assert "sweep of up to 3 trials, grid over x; objective: minimize loss" in tune_line
    rerun = tuned.make("pipeline-local", PIPELINE="tuned")
    assert rerun.returncode == 0, rerun.stderr
    record, folder = newest(tuned)
    states = {n: s["state"] for n, s in record["steps"].items()}
    assert states == {"prep": "reused", "tune": "completed", "report": "completed"}
    assert len(trial_folders(folder / "tune")) == 2  # grid of 2 values
    assert "best x 0.5" in (folder / "report/logs/std_log.txt").read_text()


@pytest.mark.docker
def test_sweep_node_in_docker(docker_baked):
    """The trials run in the component's image, the upstream output mounted read-only."""
    add_tuned_pipeline(docker_baked)
    result = docker_baked.make("pipeline-local", PIPELINE="tuned")
    assert result.returncode == 0, result.stderr
    record, folder = newest(docker_baked)
    assert [s["state"] for s in record["steps"].values()] == ["completed"] * 3
    assert len(trial_folders(folder / "tune")) == 3
    trial = json.loads((folder / "tune/trial-01/run.json").read_text())
    assert trial["runtime"] == "docker" and trial["inputs"]["prepared"].endswith("prepared")
    assert "best x 0.75" in (folder / "report/logs/std_log.txt").read_text()


def test_step_local_runs_a_sweep_node_alone(tuned):
    if not pipeline_runs(tuned, "tuned"):
        assert tuned.make("pipeline-local", PIPELINE="tuned").returncode == 0
    result = tuned.make("step-local", PIPELINE="tuned", STEP="tune")
    assert result.returncode == 0, result.stderr
    assert "best: trial-" in result.stdout
    sweep_dir = tuned.latest_run("train_model")
    record = json.loads((sweep_dir / "run.json").read_text())
    assert record["kind"] == "sweep" and record["step"] == "tune"
    assert (sweep_dir / "best" / "outputs" / "model" / "x.txt").is_file()


def test_dry_run_sends_the_sweep_node_unchanged_and_it_loads(tuned):
    from azure.ai.ml import load_job
    from azure.ai.ml.entities import PipelineJob
    from azure.ai.ml.entities._builders import Sweep

    dry = tuned.make("pipeline", PIPELINE="tuned", DRY_RUN="1")
    assert dry.returncode == 0, dry.stderr
    folder = dry_run_folder(tuned, dry)
    job = sent(tuned, dry)
    source = yaml.safe_load((tuned.path / "pipelines/tuned.yaml").read_text())
    node, written = job["jobs"]["tune"], source["jobs"]["tune"]
    for key, value in written.items():
        if key != "trial":
            assert node[key] == value, key
    assert node["trial"] == "./component_tune.yaml"
    trial = yaml.safe_load((folder / node["trial"]).read_text())
    assert trial["command"] == COMPONENT["command"] and trial["inputs"] == COMPONENT["inputs"]
    assert (folder / trial["code"] / "train.py").is_file()
    assert (folder / trial["environment"]["build"]["path"] / "Dockerfile").is_file()
    loaded = load_job(folder / "job.yaml")
    assert isinstance(loaded, PipelineJob)
    sweep = loaded.jobs["tune"]
    assert isinstance(sweep, Sweep)
    assert sweep.limits.max_total_trials == 3 and sweep.objective.primary_metric == "loss"
    assert set(sweep.search_space) == {"x"}
    assert loaded._validate().passed

    step = tuned.make("step", PIPELINE="tuned", STEP="tune", DRY_RUN="1", INPUTS="prepared=data")
    assert step.returncode == 0, step.stderr
    from azure.ai.ml.sweep import SweepJob

    sweep_job = load_job(dry_run_folder(tuned, step) / "job.yaml")
    assert isinstance(sweep_job, SweepJob)
    sent_step = sent(tuned, step)
    assert "${{search_space.x}}" in sent_step["trial"]["command"]
    assert "x" not in sent_step["inputs"] and sent_step["inputs"]["offset"] == 1.0

    validated = tuned.make("validate", OFFLINE="1")
    assert validated.returncode == 0, validated.stderr
    assert "ok pipelines/tuned.yaml" in validated.stderr


BAD = {
    "unknown distribution": (
        lambda d: d["search_space"]["x"].update(type="gaussian"),
        "search_space.x: unknown distribution 'gaussian' (use choice, randint, uniform",
    ),
    "name the trial does not declare": (
        lambda d: d["search_space"].update(lr={"type": "choice", "values": [0.1, 0.2]}),
        "node 'tune': search_space.lr: the trial component pipelines/components/train.yaml"
        " has no input 'lr'",
    ),
    "searched input also bound": (
        lambda d: d["inputs"].update(x=0.5),
        "node 'tune': search_space.x: input 'x' is also bound under inputs:",
    ),
    "missing objective": (
        lambda d: d.pop("objective"),
        "objective: required (primary_metric and goal)",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_sweep_node_is_one_line_and_nothing_runs(tuned, case):
    change, message = BAD[case]
    bad = tuned.path / "pipelines" / "bad.yaml"
    data = yaml.safe_load((tuned.path / "pipelines/tuned.yaml").read_text())
    change(data["jobs"]["tune"])
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    before = len(pipeline_runs(tuned, "bad"))
    try:
        for result in (
            tuned.make("pipeline-local", PIPELINE="bad"),
            tuned.make("validate", OFFLINE="1"),
        ):
            assert result.returncode == 2, result.stderr
            errors = error_lines(result.stderr)
            assert len([e for e in errors if "pipelines/bad.yaml" in e]) == 1, result.stderr
            line = [e for e in errors if "pipelines/bad.yaml" in e][0]
            assert line.startswith("error: pipelines/bad.yaml:") and message in line, line
    finally:  # the module's project is shared
        bad.unlink()
    assert len(pipeline_runs(tuned, "bad")) == before


def test_an_experiment_step_whose_job_is_a_sweep_says_to_use_a_sweep_node(tuned):
    shorthand = tuned.path / "pipelines" / "short.yaml"
    shorthand.write_text("jobs:\n  tune:\n    experiment: sweep\n")
    add_sweep_case(tuned, "sweep")
    try:
        result = tuned.make("pipeline-local", PIPELINE="short")
    finally:
        shorthand.unlink()
        shutil.rmtree(tuned.path / "src" / "sweep")
    assert result.returncode == 2
    assert len(error_lines(result.stderr)) == 1, result.stderr
    assert "make the sweep a native sweep node (type: sweep" in error_lines(result.stderr)[0]
