"""Files are known by what they are, not where they sit or how they are named (issue
24.1): Azure's examples keep a pipeline beside its component, conda, environment and
data files, and name single jobs hello-world.yml or job-sweep.yml."""

import sys
from pathlib import Path

import pytest

from tests.helpers import TEMPLATE_PROJECT, error_lines

sys.path.insert(0, str(TEMPLATE_PROJECT))
from amlops.filekinds import kind_of_document  # noqa: E402

pytest.importorskip("azure.ai.ml")

SCHEMA = "https://azuremlschemas.azureedge.net/latest/{}.schema.json"


@pytest.mark.parametrize(
    "document, kind",
    [
        ({"$schema": SCHEMA.format("commandJob"), "command": "echo"}, "command"),
        ({"$schema": SCHEMA.format("pipelineJob"), "jobs": {}}, "pipeline"),
        ({"$schema": SCHEMA.format("commandComponent"), "command": "x"}, "command_component"),
        ({"$schema": SCHEMA.format("managedOnlineDeployment")}, "online_deployment"),
        ({"type": "command", "command": "echo", "environment": "azureml:x:1"}, "command"),
        ({"type": "command", "command": "echo", "version": 1, "name": "c"}, "command_component"),
        ({"type": "sweep", "trial": {}, "search_space": {}}, "sweep"),
        ({"trial": "./t.yml", "search_space": {}, "objective": {}}, "sweep"),
        ({"jobs": {"a": {"experiment": "train"}}}, "pipeline"),
        ({"type": "pipeline", "jobs": {}, "version": "1", "name": "p"}, "pipeline_component"),
        ({"type": "parallel", "task": {}, "input_data": "x"}, "parallel"),
        ({"type": "spark", "entry": {"file": "a.py"}, "conf": {}}, "spark"),
        ({"name": "env", "channels": ["conda-forge"], "dependencies": ["python"]}, "conda"),
        ({"name": "e", "image": "mcr.microsoft.com/x", "conda_file": "c.yml"}, "environment"),
        ({"name": "e", "build": {"path": "docker"}}, "environment"),
        ({"name": "d", "type": "uri_folder", "path": "./data"}, "data"),
        ({"name": "m", "type": "mlflow_model", "path": "./model"}, "model"),
        ({"name": "ep", "auth_mode": "key"}, "online_endpoint"),
        ({"name": "blue", "endpoint_name": "ep", "instance_type": "x"}, "online_deployment"),
        ({"name": "b", "endpoint_name": "ep", "mini_batch_size": 10}, "batch_deployment"),
        ({"repos": [{"repo": "x"}]}, ""),
        (["a", "b"], ""),
    ],
)
def test_a_document_is_known_by_its_schema_type_or_shape(document, kind):
    assert kind_of_document(document) == kind


PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: hello_pipeline_with_components
settings:
  default_compute: azureml:cpu-cluster
jobs:
  train_job:
    type: command
    component: ./train.yml
    inputs:
      training_data:
        type: uri_folder
        path: ../data/wine
"""
COMPONENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: train_model
display_name: Train
version: 1
type: command
inputs:
  training_data:
    type: uri_folder
outputs:
  model_output:
    type: uri_folder
code: ./train_src
environment:
  image: python:3.11-slim
command: python train.py ${{inputs.training_data}} ${{outputs.model_output}}
"""
CONDA = """\
name: model-env
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
      - pyyaml
"""
ENVIRONMENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json
name: model-env
image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
conda_file: conda.yaml
"""
DATA = """\
$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json
name: wine
type: uri_folder
path: ../data/wine
"""


@pytest.fixture
def examples(baked):
    """A pipeline folder laid out as azureml-examples lays one, copied into pipelines/."""
    folder = baked.path / "pipelines"
    for name, text in {
        "pipeline.yml": PIPELINE,
        "train.yml": COMPONENT,
        "conda.yaml": CONDA,
        "environment.yml": ENVIRONMENT,
        "data.yml": DATA,
    }.items():
        (folder / name).write_text(text)
    (folder / "train_src").mkdir()
    (folder / "train_src" / "train.py").write_text("import sys\nprint(sys.argv)\n")
    return baked


def test_only_pipelines_are_listed_as_pipelines(examples):
    listed = examples.make("pipelines")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["pipeline", "training"]


def test_validate_checks_each_file_as_what_it_is(examples):
    result = examples.make("validate", OFFLINE="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unknown field" not in result.stderr
    for line in (
        "ok pipelines/pipeline.yml",
        "ok pipelines/train.yml (command component)",
        "ok pipelines/environment.yml (environment)",
        "ok pipelines/data.yml (data)",
    ):
        assert line in result.stderr, result.stderr
    assert "conda.yaml" not in result.stderr


def test_a_pipeline_in_its_own_subfolder_is_listed_by_the_folder_and_validated(baked):
    """Azure's examples keep each pipeline in a folder of its own with its files
    (cli/jobs/pipelines-with-components/basics/<name>/pipeline.yml): copied as a folder
    into pipelines/, it is pipeline <name>."""
    folder = baked.path / "pipelines" / "e2e_components"
    (folder / "train_src").mkdir(parents=True)
    (folder / "train_src" / "train.py").write_text("import sys\nprint(sys.argv)\n")
    for name, text in {
        "pipeline.yml": PIPELINE.replace("../data/wine", "../../data/wine"),
        "train.yml": COMPONENT,
        "conda.yaml": CONDA,
        "data.yml": DATA.replace("../data/wine", "../../data/wine"),
    }.items():
        (folder / name).write_text(text)
    listed = baked.make("pipelines")
    assert listed.stdout.split() == ["e2e_components", "training"], listed.stderr
    result = baked.make("validate", OFFLINE="1")
    assert result.returncode == 0, result.stdout + result.stderr
    for line in (
        "ok pipelines/e2e_components/pipeline.yml",
        "ok pipelines/e2e_components/train.yml (command component)",
        "ok pipelines/e2e_components/data.yml (data)",
    ):
        assert line in result.stderr, result.stderr
    graph = baked.make("pipeline-graph", PIPELINE="e2e_components")
    assert graph.returncode == 0 and "train_job" in graph.stdout, graph.stderr
    assert graph.stdout.startswith("pipeline e2e_components:")  # its name, not the file's


def test_validate_names_a_broken_component_as_a_component(examples):
    broken = COMPONENT.replace("type: uri_folder\noutputs", "type: not_a_type\noutputs")
    (examples.path / "pipelines" / "train.yml").write_text(broken)
    result = examples.make("validate", OFFLINE="1")
    assert result.returncode != 0
    assert any("pipelines/train.yml" in line for line in error_lines(result.stderr))


HELLO = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: echo "hello world" > ./outputs/hello.txt
environment:
  image: library/python:latest
"""


def _add(project, folder: str, files: dict) -> Path:
    path = project.path / "src" / folder
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def test_a_docs_named_job_file_is_an_experiment_run_and_validated(baked):
    _add(baked, "hello", {"hello-world.yml": HELLO, "conda.yaml": CONDA})
    assert "hello" in baked.make("experiments").stdout.split()
    result = baked.make("local", EXP="hello", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (baked.latest_run("hello") / "outputs" / "hello.txt").read_text() == "hello world\n"
    checked = baked.make("validate", OFFLINE="1")
    assert checked.returncode == 0, checked.stderr
    assert "ok src/hello/hello-world.yml" in checked.stderr


def test_a_folder_with_several_job_files_asks_for_one_in_one_line(baked):
    _add(baked, "two", {"a.yml": HELLO, "b.yml": HELLO.replace("hello world", "b")})
    result = baked.make("local", EXP="two", RUNTIME="venv")
    assert result.returncode != 0
    assert error_lines(result.stderr) == [
        "error: src/two/ holds several job files (a.yml, b.yml) and no job.yaml or job.yml:"
        " pick one with JOB=<file> (e.g. make local EXP=two JOB=a.yml)"
    ]
    picked = baked.make("local", EXP="two", JOB="b.yml", RUNTIME="venv")
    assert picked.returncode == 0, picked.stderr
    assert (baked.latest_run("two") / "outputs" / "hello.txt").read_text() == "b\n"
    checked = baked.make("validate", OFFLINE="1")
    assert checked.returncode == 0, checked.stderr
    assert "ok src/two/a.yml" in checked.stderr and "ok src/two/b.yml" in checked.stderr
