"""Pipelines written in Python (pipelines/<name>.py with azure.ai.ml.dsl, exposing
pipeline_job; tests/cases/python_pipeline/): graph, local DAG run and reuse, validate,
one-line errors with file:line, and `make pipeline DRY_RUN=1` through the fake service."""

import json
import shutil

import pytest
import yaml

from tests.cloud_support import cloud_make, cloud_project
from tests.helpers import REPO, error_lines
from tests.pipelines import pipeline_runs

pytest.importorskip("azure.ai.ml")

CASE = REPO / "tests" / "cases" / "python_pipeline"


def add_python_pipeline(project):
    """The case as its CASE.md says."""
    pipelines = project.path / "pipelines"
    (pipelines / "components").mkdir(exist_ok=True)
    shutil.copy(CASE / "pyp.py", pipelines / "pyp.py")
    shutil.copy(CASE / "count.yaml", pipelines / "components" / "count.yaml")
    (project.path / "src" / "tools").mkdir(exist_ok=True)
    for script in ("count.py", "show.py"):
        shutil.copy(CASE / script, project.path / "src" / "tools" / script)
    return project


@pytest.fixture
def pyp(baked):
    return add_python_pipeline(baked)


def test_graph_and_validate_take_a_python_pipeline(pyp):
    graph = pyp.make("pipeline-graph", PIPELINE="pyp")
    assert graph.returncode == 0, graph.stderr
    assert "counted" in graph.stdout and "shown" in graph.stdout
    assert "<- counted=counted.counted" in graph.stdout
    assert "building pipelines/pyp.py with azure-ai-ml" in graph.stderr  # the cost is said
    checked = pyp.make("validate", OFFLINE="1")
    assert checked.returncode == 0, checked.stderr
    assert "ok pipelines/pyp.py" in checked.stderr


def test_python_pipeline_runs_locally_and_is_reused(pyp):
    result = pyp.make("pipeline-local", PIPELINE="pyp", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    newest = pipeline_runs(pyp, "pyp")[-1]
    record = json.loads((newest / "pipeline.json").read_text())
    assert [s["state"] for s in record["steps"].values()] == ["completed", "completed"]
    assert (newest / "shown/outputs/shown/shown.txt").read_text() == "count=9"
    again = pyp.make("pipeline-local", PIPELINE="pyp", RUNTIME="venv")
    assert again.returncode == 0, again.stderr
    record = json.loads((pipeline_runs(pyp, "pyp")[-1] / "pipeline.json").read_text())
    assert [s["state"] for s in record["steps"].values()] == ["reused", "reused"]
    step = pyp.make("step-local", PIPELINE="pyp", STEP="shown", RUNTIME="venv")
    assert step.returncode == 0, step.stderr
    assert "count=9" in step.stdout + step.stderr  # the upstream output of the last run
    assert pyp.run_dirs("shown"), "step-local runs under the node's name"


def test_an_error_in_the_python_file_is_one_line_with_its_line(pyp):
    path = pyp.path / "pipelines" / "pyp.py"
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "counted = count(" in line)
    lines[at] = "    counted = count(text=text, nonsense=undefined_name)"
    path.write_text("\n".join(lines) + "\n")
    result = pyp.make("pipeline-graph", PIPELINE="pyp")
    assert result.returncode != 0
    assert error_lines(result.stderr) == [
        f"error: pipelines/pyp.py:{at + 1}: NameError: name 'undefined_name' is not defined"
    ], result.stderr
    assert "Traceback" not in result.stderr


def test_a_python_file_without_pipeline_job_says_what_to_define(pyp):
    path = pyp.path / "pipelines" / "pyp.py"
    path.write_text(path.read_text().replace("pipeline_job = ", "job = "))
    result = pyp.make("pipeline-graph", PIPELINE="pyp")
    assert result.returncode != 0
    (line,) = error_lines(result.stderr)
    assert "pipelines/pyp.py: define a module-level pipeline_job" in line


def test_python_and_yaml_pipelines_of_one_name_are_one_line(pyp):
    shutil.copy(pyp.path / "pipelines" / "training.yaml", pyp.path / "pipelines" / "pyp.yaml")
    result = pyp.make("pipeline-graph", PIPELINE="pyp")
    assert result.returncode != 0
    assert error_lines(result.stderr) == [
        "error: pipelines/pyp.yaml and pipelines/pyp.py are both pipeline 'pyp': rename one"
    ], result.stderr


def test_make_pipeline_dry_run_writes_the_sdk_job_it_would_send(tmp_path):
    project = add_python_pipeline(cloud_project(tmp_path / "p"))
    result, recording = cloud_make(project, tmp_path, "pipeline", PIPELINE="pyp", DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    assert "sends the SDK's own pipeline job" in result.stderr
    assert recording.puts("jobs") == []
    folder = (project.path / result.stdout.strip().splitlines()[-1]).parent
    written = yaml.safe_load((folder / "job.yaml").read_text())
    assert sorted(written["jobs"]) == ["counted", "shown"]
    sent = yaml.safe_load((folder / "pipeline_sdk.yaml").read_text())
    assert sorted(sent["jobs"]) == ["counted", "shown"]
    assert sent["tags"]["pipeline"] == "pyp"
    assert sent["experiment_name"].endswith("-pyp")


def test_make_pipeline_sends_the_sdk_job(tmp_path):
    project = add_python_pipeline(cloud_project(tmp_path / "p"))
    result, recording = cloud_make(project, tmp_path, "pipeline", PIPELINE="pyp", INPUTS="text=abc")
    assert result.returncode == 0, result.stderr
    body = recording.job_body()["properties"]
    assert sorted(body["jobs"]) == ["counted", "shown"]
    assert body["inputs"]["text"]["value"] == "abc"
    assert body["tags"]["pipeline"] == "pyp"
    assert body["settings"]["default_compute"].endswith("cpu-cluster")
