"""The venv runtime standing in for Azure ML's curated environments (issue 24.5): the
Python packages Microsoft publishes for them (amlops/local/curated_packages.py), what is
left out and what still differs in one short line (in full with VERBOSE=1 and in
run.json), a project's own list, and an unknown name.

Runs use recorded lists (tests/cases/curated/, set by the `baked` fixture): the packages
of the train experiment's venv, so no test installs a published list from PyPI."""

import json
import re
import sys
import textwrap
from pathlib import Path

from tests.helpers import TEMPLATE_PROJECT

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.local.curated import _sorted_lines, dockerfile_base  # noqa: E402
from amlops.local.curated_packages import ENVIRONMENTS  # noqa: E402
from amlops.local.environments import venv_recipe  # noqa: E402
from amlops.project import Project  # noqa: E402
from amlops.spec.job import load_job  # noqa: E402

HERE = "%d.%d" % sys.version_info[:2]


def job(folder: Path, environment: str, command: str = "python -c \"print('ran')\"") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.yaml"
    path.write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"
        f"type: command\ncommand: {command}\nenvironment: {environment}\n"
    )
    return path


def recipe(tmp_path: Path, monkeypatch, environment: str):
    monkeypatch.delenv("CURATED_ENVIRONMENTS", raising=False)
    monkeypatch.delenv("VENV_PYTHON", raising=False)
    path = job(tmp_path / "src" / "exp", environment)
    return venv_recipe(Project(tmp_path), load_job(path))


def test_a_registry_curated_environment_gets_its_published_packages(tmp_path, monkeypatch):
    found = recipe(
        tmp_path, monkeypatch, "azureml://registries/azureml/environments/sklearn-1.5/labels/latest"
    )
    names = [line.split("~")[0].split("=")[0].split(">")[0] for line in found.requirement_lines]
    assert "scikit-learn~=1.5.0" in found.requirement_lines  # its wheels cover 3.9-3.13
    assert {"pandas", "scipy", "numpy", "matplotlib", "mlflow-skinny"} <= set(names)
    assert not [n for n in names if n.startswith("azureml-")], "no SDK v1 in the venv"
    assert "scikit-learn-intelex" not in names and "debugpy" not in names
    # one short line: what is installed, what is not, how to choose otherwise (it was
    # ~700 characters: new-user trial); the detail names each package left out
    short = found.notice
    assert "\n" not in short and len(short) <= 210, short
    assert re.fullmatch(
        r"venv stands in for curated sklearn-1\.5: installs \d+ of the packages Microsoft"
        r" publishes for it( \(pins loosened\))?; not \d+ others nor the image's OS libraries"
        r" \(VERBOSE=1: in full\); RUNTIME=docker runs the image",
        short,
    ), short
    line = found.detail
    assert "\n" not in line
    assert "Python packages Microsoft publishes for sklearn-1.5 (Azure/azureml-assets" in line
    assert "left out: too large: scikit-learn-intelex" in line
    assert "Azure ML SDK v1 and services: azureml-core" in line
    assert "installed as mlflow-skinny: azureml-mlflow" in line
    assert "not in the venv: Ubuntu 24.04 with OpenMPI 5.0" in line
    assert "the image's system libraries" in line
    if HERE != "3.10":
        assert f"python 3.10 published, the venv has {HERE}: pins kept only for" in line
        assert "pandas~=1.5.3" not in found.requirement_lines
        assert "(pins loosened)" in short
    monkeypatch.setenv("VERBOSE", "1")
    verbose = recipe(
        tmp_path / "v",
        monkeypatch,
        "azureml://registries/azureml/environments/sklearn-1.5/labels/latest",
    )
    assert verbose.notice == verbose.detail == line


def test_published_pins_are_kept_on_the_environments_own_python():
    lines, left, unpinned = _sorted_lines(ENVIRONMENTS["tensorflow-2.16-cuda12"], "3.10")
    assert unpinned == []
    assert "pandas==2.2.2" in lines  # conda's `pandas=2.2.2` as pip reads it
    assert "tensorflow==2.16.2" in lines and left["GPU-only"] == ["tensorflow[and-cuda]"]
    assert "setuptools" in left["the venv's own"]
    # a Python its framework pin has no wheel for: everything unpinned
    lines, _, unpinned = _sorted_lines(ENVIRONMENTS["sklearn-1.0"], "3.12")
    assert "scikit-learn" in lines and "scikit-learn" in unpinned


def test_older_names_and_the_curated_image_find_the_same_list(tmp_path, monkeypatch):
    old = recipe(tmp_path, monkeypatch, "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest")
    assert "publishes for sklearn-1.0 " in old.detail
    image = recipe(
        tmp_path / "b", monkeypatch, "{image: 'mcr.microsoft.com/azureml/curated/lightgbm-3.3:30'}"
    )
    assert "publishes for lightgbm-3.3 " in image.detail
    assert "lightgbm>=4.6.0" in image.requirement_lines


def test_a_dockerfile_from_a_curated_image_adds_its_requirements(tmp_path, monkeypatch):
    monkeypatch.delenv("CURATED_ENVIRONMENTS", raising=False)
    folder = tmp_path / "src" / "exp"
    (folder / "docker").mkdir(parents=True)
    (folder / "docker" / "Dockerfile").write_text(textwrap.dedent("""\
            ARG BASE=mcr.microsoft.com/azureml/curated/sklearn-1.5:latest
            FROM ${BASE}
            COPY requirements.txt .
            RUN pip install -r requirements.txt
            """))
    (folder / "docker" / "requirements.txt").write_text("lightgbm\n")
    path = job(folder, "{build: {path: docker}}")
    found = venv_recipe(Project(tmp_path), load_job(path))
    assert "-r requirements.txt" in found.requirement_lines
    assert "scikit-learn~=1.5.0" in found.requirement_lines
    assert "(FROM curated sklearn-1.5): installs src/exp/docker/requirements.txt and" in (
        found.detail
    )
    assert found.notice.startswith(
        "venv stands in for src/exp/docker/Dockerfile (FROM curated sklearn-1.5): installs"
        " requirements.txt + "
    )
    assert "nor other Dockerfile steps (VERBOSE=1: in full)" in found.notice
    assert dockerfile_base("FROM python:3.11 AS base\nFROM x") == "python:3.11"


def test_a_curated_job_runs_in_a_venv_with_the_listed_packages(baked):
    job(
        baked.path / "src" / "curated",
        "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest",
        "python -c \"import sklearn, numpy; print('sklearn', sklearn.__version__)\"",
    )
    result = baked.make("local", EXP="curated", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    run = baked.latest_run("curated")
    assert "sklearn " in (run / "logs" / "std_log.txt").read_text()
    record = json.loads((run / "run.json").read_text())
    assert "installs the project's list" in record["environment_notice"]
    assert "sklearn-1.0-ubuntu20.04-py38-cpu.txt; not the image" in record["environment_notice"]
    assert "sklearn-1.0-ubuntu20.04-py38-cpu.txt (as written)" in record["environment_detail"]


def test_an_unknown_curated_name_is_one_line_saying_how_to_add_a_list(baked):
    job(baked.path / "src" / "unknown", "azureml:AzureML-no-such-env-9@latest")
    result = baked.make("local", EXP="unknown", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "no package list" in x]
    assert "venv stands in for curated no-such-env-9: no package list known for it" in line
    assert "add one as " in line and "no-such-env-9.txt; RUNTIME=docker runs" in line
    detail = json.loads((baked.latest_run("unknown") / "run.json").read_text())
    assert "no-such-env-9.txt (requirements format" in detail["environment_detail"]
    assert "ran" in (baked.latest_run("unknown") / "logs" / "std_log.txt").read_text()
