"""A code root's own `common` module is never shadowed by src/common (issue 24.8), and
local runs set the workspace variables Azure ML sets in every job (issue 24.9)."""

import json
from pathlib import Path

import pytest

from tests.native_support import dry_run_folder, sent

JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: python run.py ${{outputs.report}}
code: .
environment:
  image: python:3.11-slim
outputs:
  report:
    type: uri_folder
"""

RUN = """\
import json
import os
import sys
from pathlib import Path

import common

names = ["AZUREML_RUN_ID", "AZUREML_ARM_SUBSCRIPTION", "AZUREML_ARM_RESOURCEGROUP",
         "AZUREML_ARM_WORKSPACE_NAME"]
report = {"common": common.VALUE, "env": {n: os.environ.get(n) for n in names}}
Path(sys.argv[1], "report.json").write_text(json.dumps(report))
"""


@pytest.fixture
def own_common(baked):
    folder = baked.path / "src" / "mine"
    folder.mkdir()
    (folder / "job.yaml").write_text(JOB)
    (folder / "run.py").write_text(RUN)
    (folder / "common.py").write_text('VALUE = "mine"\n')
    return baked


def _report(project) -> dict:
    run = project.latest_run("mine")
    assert run is not None
    return json.loads((run / "outputs" / "report" / "report.json").read_text())


def test_a_code_root_with_its_own_common_py_keeps_it_locally_and_in_the_snapshot(own_common):
    result = own_common.make("local", EXP="mine", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _report(own_common)["common"] == "mine"
    assert "its own common.py: src/common not staged over it" in result.stderr
    staged = sorted(p.name for p in (own_common.latest_run("mine") / "src").iterdir())
    assert "common.py" in staged and "common" not in staged

    dry = own_common.make("job", EXP="mine", DRY_RUN="1")
    assert dry.returncode == 0, dry.stderr
    code = dry_run_folder(own_common, dry) / sent(own_common, dry)["code"]
    assert (code / "common.py").read_text() == 'VALUE = "mine"\n'
    assert not (code / "common").exists()


def test_without_its_own_common_the_shared_package_is_staged(own_common):
    (own_common.path / "src/mine/common.py").unlink()
    (own_common.path / "src/common/__init__.py").write_text('VALUE = "shared"\n')
    result = own_common.make("local", EXP="mine", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _report(own_common)["common"] == "shared"
    assert "not staged over it" not in result.stderr


def test_local_runs_set_the_workspace_variables_azure_ml_sets(own_common):
    own_common.env.update(
        AZURE_SUBSCRIPTION_ID="00000000-0000-0000-0000-000000000001",
        AZURE_RESOURCE_GROUP="rg-test",
        AZURE_ML_WORKSPACE="ws-test",
    )
    result = own_common.make("local", EXP="mine", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    env = _report(own_common)["env"]
    assert env["AZUREML_RUN_ID"] == Path(own_common.latest_run("mine")).name
    assert env["AZUREML_ARM_SUBSCRIPTION"] == "00000000-0000-0000-0000-000000000001"
    assert env["AZUREML_ARM_RESOURCEGROUP"] == "rg-test"
    assert env["AZUREML_ARM_WORKSPACE_NAME"] == "ws-test"


def test_without_a_workspace_the_workspace_variables_are_unset(own_common):
    for key in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_ML_WORKSPACE"):
        own_common.env[key] = ""
    result = own_common.make("local", EXP="mine", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    env = _report(own_common)["env"]
    assert env["AZUREML_ARM_SUBSCRIPTION"] is None and env["AZUREML_ARM_WORKSPACE_NAME"] is None


R_JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: Rscript-not-here train.R
code: .
environment:
  image: rocker/r-ver:4.3.1
"""


def test_a_venv_says_it_cannot_stand_in_for_a_non_python_environment(baked):
    folder = baked.path / "src" / "rjob"
    folder.mkdir()
    (folder / "job.yaml").write_text(R_JOB)
    (folder / "train.R").write_text("print('hi')\n")
    result = baked.make("local", EXP="rjob", RUNTIME="venv")
    assert result.returncode != 0
    assert (
        "the command runs 'Rscript-not-here', which neither the venv nor this machine has: a venv"
        " stands in only for a Python environment" in result.stderr
    )
    record = json.loads((baked.latest_run("rjob") / "run.json").read_text())
    assert record["status"] == "failed" and record["exit_code"] == 127


def test_base_image_said_to_not_reach_a_dockerfile_without_its_arg(docker_baked):
    baked = docker_baked
    folder = baked.path / "src" / "fixed"
    (folder / "docker").mkdir(parents=True)
    (folder / "docker" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (folder / "job.yaml").write_text(
        "command: python -c 'print(1)'\nenvironment:\n  build:\n    path: docker\n"
    )
    baked.env["BASE_IMAGE"] = "my-base:1"
    # auto: Docker cannot pull the Dockerfile's own FROM here, the venv stands in and the
    # reason says BASE_IMAGE does not reach this Dockerfile (not "set BASE_IMAGE=")
    result = baked.make("local", EXP="fixed", RUNTIME="auto")
    assert result.returncode == 0, result.stderr
    assert "BASE_IMAGE=my-base:1 does not reach src/fixed/docker/Dockerfile" in result.stderr
    assert "to stay in Docker, set BASE_IMAGE=" not in result.stderr


@pytest.mark.parametrize(
    "own", ["common.py", "common.pyc", "common.cpython-311-x86_64-linux-gnu.so", "common/"]
)
def test_every_form_of_an_own_common_module_keeps_src_common_out(tmp_path, own):
    import sys

    from tests.helpers import TEMPLATE_PROJECT

    sys.path.insert(0, str(TEMPLATE_PROJECT))
    from amlops.project import Project
    from amlops.spec.job import load_job
    from amlops.staging import code_snapshot

    (tmp_path / "config.env").write_text("")
    (tmp_path / "src" / "common").mkdir(parents=True)
    folder = tmp_path / "src" / "mine"
    folder.mkdir()
    (folder / "job.yaml").write_text(JOB)
    if own.endswith("/"):
        (folder / own).mkdir()
        (folder / own / "__init__.py").write_text("")
    else:
        (folder / own).write_text("")
    snap = code_snapshot(Project(tmp_path), load_job(folder / "job.yaml", "src/mine/job.yaml"))
    assert [name for name, _ in snap.parts] == [""]
    assert snap.label == f"src/mine (its own {own.rstrip('/')}: src/common not staged over it)"
    (folder / own.rstrip("/")).rename(folder / "other")
    snap = code_snapshot(Project(tmp_path), load_job(folder / "job.yaml", "src/mine/job.yaml"))
    assert [name for name, _ in snap.parts] == ["", "common"]
