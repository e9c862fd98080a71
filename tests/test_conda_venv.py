"""What the venv runtime installs for a conda-file environment beyond its pip section:
what conda's Python brings (pip, and setuptools and wheel below Python 3.13), at the
versions the conda file pins; the fix named when a server stops on pkg_resources; and the
closest known name for a misspelt curated environment. Unit tests: nothing installs."""

import sys
from pathlib import Path

from tests.helpers import TEMPLATE_PROJECT

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.local.curated import closest_known, did_you_mean  # noqa: E402
from amlops.local.environments import conda_seed_lines, venv_recipe  # noqa: E402
from amlops.local.images import BaseImageUnavailable  # noqa: E402
from amlops.local.venvs import Requirements  # noqa: E402
from amlops.project import Project  # noqa: E402
from amlops.serving.servers import failure_line  # noqa: E402
from amlops.spec.job import load_job  # noqa: E402

DOCS_CONDA = """\
name: model-env
channels:
  - conda-forge
dependencies:
  - python=3.9
  - numpy=1.23.5
  - pip=23.0.1
  - scikit-learn=1.2.2
  - pip:
    - azureml-defaults==1.53.0
    - joblib==1.2.0
"""


def conda_job(folder: Path, conda: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "conda.yaml").write_text(conda)
    image = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
    path = folder / "job.yaml"
    path.write_text(
        "type: command\ncommand: python -V\n"
        f"environment: {{image: '{image}', conda_file: conda.yaml}}\n"
    )
    return path


def test_a_docs_conda_file_gets_what_condas_python_brings(tmp_path, monkeypatch):
    monkeypatch.delenv("VENV_PYTHON", raising=False)
    path = conda_job(tmp_path / "src" / "exp", DOCS_CONDA)
    recipe = venv_recipe(Project(tmp_path), load_job(path))
    assert recipe.requirement_lines == [
        "azureml-defaults==1.53.0",
        "joblib==1.2.0",
        "pip==23.0.1.*",  # conda's `pip=23.0.1`, as pip reads it
        "setuptools",
        "wheel",
    ]
    assert "and pip==23.0.1.*, setuptools, wheel as conda's Python brings them" in recipe.notice
    # the venv's key changes with them: one built before (pip section only) is not reused
    before = Requirements(recipe.requirement_lines[:2], recipe.base_dir).digest("3.11")
    after = Requirements(recipe.requirement_lines, recipe.base_dir).digest("3.11")
    assert before != after


def test_conda_pins_the_pip_section_and_python_313_decide_the_seed():
    pinned = {"dependencies": ["python=3.10", "conda-forge::setuptools<82", "wheel 0.41.2 py_0"]}
    assert conda_seed_lines(pinned, "3.12") == ["pip", "setuptools<82", "wheel==0.41.2.*"]
    # a package the pip section names is left to it (pip installs it last in Azure too)
    in_pip = {"dependencies": ["python=3.11", "pip==24.0=py_0", {"pip": ["setuptools==70.0"]}]}
    assert conda_seed_lines(in_pip, "3.11") == ["pip==24.0", "wheel"]
    # conda-forge's pip brings neither setuptools nor wheel from Python 3.13 on
    assert conda_seed_lines({"dependencies": ["python=3.13", "pip"]}, "3.11") == ["pip"]
    assert conda_seed_lines({"dependencies": ["pip"]}, "3.13") == ["pip"]
    assert conda_seed_lines({"dependencies": ["pip"]}, "3.12") == ["pip", "setuptools", "wheel"]


def test_a_server_stopping_on_pkg_resources_is_told_the_fix(tmp_path):
    log = tmp_path / "blue.log"
    log.write_text(
        'File "gunicorn/util.py", line 25, in <module>\n    import pkg_resources\n'
        "ModuleNotFoundError: No module named 'pkg_resources'\n"
    )
    line = failure_line(log)
    assert line.startswith("ModuleNotFoundError: No module named 'pkg_resources' (")
    assert "pin `setuptools<82` among the conda file's packages" in line
    assert "\n" not in line


def test_a_misspelt_curated_name_gets_the_closest_known_one(tmp_path, monkeypatch):
    monkeypatch.delenv("CURATED_ENVIRONMENTS", raising=False)
    written = "azureml:AzureML-sklearn-1.5-ubuntu22.04-py39-cpux@latest"
    path = tmp_path / "src" / "exp" / "job.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(f"type: command\ncommand: python -V\nenvironment: {written}\n")
    notice = venv_recipe(Project(tmp_path), load_job(path)).notice
    assert "(did you mean 'azureml:AzureML-sklearn-1.5@latest'?)" in notice
    image = "mcr.microsoft.com/azureml/curated/lightgbm-3.4:latest"
    assert "(did you mean 'mcr.microsoft.com/azureml/curated/lightgbm-3.3:latest'?)" in str(
        BaseImageUnavailable(image, "manifest unknown")
    )
    # a misspelt head keeps the OS tail as written (it was cut: the name suggested did not
    # exist; new-user trial)
    written = "azureml:AzureML-sklean-1.0-ubuntu20.04-py38-cpu@latest"
    name = "sklean-1.0-ubuntu20.04-py38-cpu"
    assert did_you_mean(written, name, ["sklearn-1.0"]) == (
        " (did you mean 'azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest'?)"
    )
    # the tail shared with another environment's name does not win over the head
    shipped = ["sklearn-1.5", "minimal-ubuntu22.04-py311-cpu-inference"]
    assert closest_known("minimal-ubuntu22.04-py311-cpu-inferenc", shipped) == shipped[1]
    # known names (and older names of known ones) and names close to nothing get no hint
    assert did_you_mean("azureml:AzureML-sklearn-1.5@latest", "sklearn-1.5", shipped) == ""
    assert closest_known("sklearn-1.5-ubuntu22.04-py39-cpu", shipped) == ""
    assert closest_known("tritonserver-24", shipped) == ""
    assert "did you mean" not in str(BaseImageUnavailable("python:3.11", "offline"))
