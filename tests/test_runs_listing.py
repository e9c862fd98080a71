"""`make runs` names what each run was: a pipeline step by its node name (as Azure ML's
studio does) whether it ran or was reused, a notebook set or a terminal/jupyter session
by its kind, from the records under .runs/ (written here as the commands write them)."""

import json
import time
from pathlib import Path

from tests.helpers import Baked

PIPELINE_RUN = "20261201-101500-a1b2c3"


def write(path: Path, record: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "run.json").write_text(json.dumps(record))


def test_runs_names_steps_by_node_and_marks_notebooks_and_sessions(baked: Baked):
    now = time.time()
    runs = baked.path / ".runs"
    pipeline = runs / "pipelines/native" / PIPELINE_RUN
    pipeline.mkdir(parents=True)
    (pipeline / "pipeline.json").write_text(json.dumps({"status": "completed", "started": now}))
    # a node `fit` of component `train_component` that ran, and a node `clean` reused
    ran = {"status": "completed", "started": now, "duration_s": 1.0, "runtime": "venv"}
    write(pipeline / "fit", {**ran, "experiment": "train_component", "pipeline": "native"})
    write(pipeline / "clean", {"status": "reused", "reused_from": ".runs/pipelines/x/y/clean"})
    write(
        runs / "notebooks/20261201-101600-d4e5f6", {**ran, "experiment": "train", "notebooks": []}
    )
    write(runs / "train/20261201-101700-a7b8c9", {**ran, "experiment": "train", "kind": "terminal"})
    write(runs / "train/20261201-101800-0a1b2c", {**ran, "experiment": "train"})

    listed = baked.make("runs")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines()[1:]}
    assert rows[f"{PIPELINE_RUN}/fit"] == "native:fit"
    assert rows[f"{PIPELINE_RUN}/clean"] == "native:clean"
    assert rows["20261201-101600-d4e5f6"] == "notebooks:train"
    assert rows["20261201-101700-a7b8c9"] == "terminal:train"
    assert rows["20261201-101800-0a1b2c"] == "train"


def test_runs_and_register_model_take_the_name_a_job_file_run_is_recorded_under(baked: Baked):
    jobs = baked.path / "jobs"
    jobs.mkdir()
    (jobs / "score.yaml").write_text(
        "type: command\ncommand: python -c \"print('scored')\"\nenvironment: {image: python:3.11}\n"
    )
    ran = baked.make("local", JOB="jobs/score.yaml", RUNTIME="venv", TRACKING="0")
    assert ran.returncode == 0, ran.stderr
    listed = baked.make("runs", EXP="score")  # jobs/score.yaml runs as `score`
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[1] for line in listed.stdout.splitlines()[1:]] == ["score"]
    model = baked.make("register-model", EXP="score", OFFLINE="1")
    assert "unknown experiment" not in model.stderr  # it has no model output: another line
    typo = baked.make("runs", EXP="scor")
    assert typo.returncode != 0
    assert "unknown experiment 'scor' (did you mean 'score'?)" in typo.stderr
    assert "job files run with JOB=: prepare, score, train" in typo.stderr
