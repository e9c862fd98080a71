"""Bake every valid choice (round-robin) and check what comes out."""

import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.helpers import bake, default_project, tree_digest

REPO = Path(__file__).resolve().parents[1]
CHOICES = {
    key: value
    for key, value in json.loads((REPO / "cookiecutter.json").read_text()).items()
    if isinstance(value, list) and not key.startswith("_")
}
WIDTH = max(len(values) for values in CHOICES.values())
# Round-robin: combination i takes the i-th value of every choice (wrapping), so each
# value of each option is baked at least once and the matrix stays linear.
COMBINATIONS = [
    {key: values[i % len(values)] for key, values in CHOICES.items()} for i in range(WIDTH)
]

COMMON_FILES = {
    ".amlignore",
    ".cruft.json",
    ".env.example",
    ".flake8",
    ".gitattributes",
    ".gitignore",
    ".pre-commit-config.yaml",
    "Makefile",
    "README.md",
    "config.env",
    "pyproject.toml",
    "data/README.md",
    "data/wine/wine.csv",
    "notebooks/README.md",
    "notebooks/explore.ipynb",
    "src/common/__init__.py",
    "src/common/tables.py",
    "src/common/tracking.py",
    "src/common/tests/__init__.py",
    "src/common/tests/test_tables.py",
    "src/common/tests/test_tracking.py",
    "templates/experiment/README.md",
    "templates/experiment/cookiecutter.json",
    "pipelines/training.yaml",
}
EXPERIMENT_FILES = {
    "__init__.py",
    "main.py",
    "local.py",
    "job.yaml",
    "docker/Dockerfile",
    "docker/requirements.txt",
    "tests/__init__.py",
    "tests/test_main.py",
}
# The `prepare` kind overrides these files of the base experiment template.
PREPARE_FILES = {"main.py", "job.yaml", "tests/test_main.py"}
# The `train` kind (the default, and the first experiment) adds these to it.
TRAIN_FILES = {"sweep.yaml"}
# templates/endpoint/ (make new-endpoint), and the sample endpoint baked from it.
ENDPOINT_FILES = {
    "endpoint.yml",
    "blue.yml",
    "score.py",
    "environment/conda.yaml",
    "requests/sample.json",
}
AMLOPS_FILES = {
    p.relative_to(REPO / "{{cookiecutter.project_slug}}").as_posix()
    for p in (REPO / "{{cookiecutter.project_slug}}" / "amlops").rglob("*")
    if p.is_file() and "__pycache__" not in p.parts
}  # its code and the data files it reads (e.g. local/spark_conf/log4j2.properties)
CI_FILES = {
    "github": {".github/workflows/ci.yml"},
    "azure-devops": {"azure-pipelines.yml"},
    "none": set(),
}
UNRENDERED = re.compile(r"\{\{-?\s*cookiecutter\.|\{%-?\s")


def expected_files(answers: dict) -> set:
    exp = answers.get("first_experiment", "train")
    sub = {f"templates/experiment/{{{{cookiecutter.exp_name}}}}/{f}" for f in EXPERIMENT_FILES}
    kind = {f"templates/kinds/prepare/{{{{cookiecutter.exp_name}}}}/{f}" for f in PREPARE_FILES}
    kind |= {f"templates/kinds/train/{{{{cookiecutter.exp_name}}}}/{f}" for f in TRAIN_FILES}
    return (
        COMMON_FILES
        | AMLOPS_FILES
        | sub
        | kind
        | {f"src/{exp}/{f}" for f in EXPERIMENT_FILES | TRAIN_FILES}
        | {f"src/prepare/{f}" for f in EXPERIMENT_FILES}
        | {f"templates/endpoint/{f}" for f in ENDPOINT_FILES | {"README.md"}}
        | {f"endpoints/{exp.replace('_', '-')}-online/{f}" for f in ENDPOINT_FILES}
        | CI_FILES[answers["ci_provider"]]
    )


def project_files(project: Path) -> set:
    """Every file of a fresh bake: no __pycache__ even when the template folder has some
    (the post-gen hook drops them)."""
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


def test_a_template_folder_used_as_a_project_bakes_clean(tmp_path):
    """A template checkout where amlops ran or was imported holds .runs/ and __pycache__/
    (git-ignored); a bake from it holds neither (the post-gen hook drops them)."""
    from cookiecutter.main import cookiecutter

    template = tmp_path / "template"
    shutil.copytree(
        REPO, template, ignore=shutil.ignore_patterns(".git", ".venv", "build", "__pycache__")
    )
    planted = template / "{{cookiecutter.project_slug}}"
    (planted / ".runs" / ".cache" / "parsed").mkdir(parents=True)
    (planted / ".runs" / ".cache" / "parsed" / "env-x").write_text("kept state")
    (planted / "amlops" / "__pycache__").mkdir()
    (planted / "amlops" / "__pycache__" / "x.pyc").write_bytes(b"")
    project = Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp_path / "out")))
    assert project_files(project) == project_files(bake(tmp_path / "fresh"))
    assert not (project / ".runs").exists()


@pytest.mark.parametrize("answers", COMBINATIONS, ids=lambda a: "-".join(a.values()))
def test_bake_matrix_exact_files_and_valid_configs(tmp_path, answers):
    answers = {**answers, "first_experiment": "fit_model"}
    project = bake(tmp_path, **answers)
    assert project_files(project) == expected_files(answers)

    for path in project.rglob("*"):
        if path.is_file() and "templates" not in path.parts and path.suffix != ".csv":
            text = path.read_text(encoding="utf-8")
            assert not UNRENDERED.search(text), f"unrendered template text in {path}"
            if path.suffix in (".yaml", ".yml"):
                yaml.safe_load(text)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={answers['python_version']}"
    azure_deps = " ".join(pyproject["project"]["optional-dependencies"]["azure"])
    if answers["aml_sdk"] == "v2":
        assert "azure-ai-ml" in azure_deps and "azureml-core" not in azure_deps
    else:
        assert "azureml-core" in azure_deps and "azure-ai-ml" not in azure_deps
    config = (project / "config.env").read_text()
    assert f"AML_SDK={answers['aml_sdk']}\n" in config
    pipeline = yaml.safe_load((project / "pipelines/training.yaml").read_text())
    assert pipeline["jobs"]["train"]["experiment"] == "fit_model"
    assert pipeline["jobs"]["prepare"]["inputs"]["data"] == "${{parent.inputs.raw_data}}"


def test_azure_expressions_survive_baking_verbatim(tmp_path):
    project = bake(tmp_path)
    job = yaml.safe_load((project / "src/train/job.yaml").read_text())
    assert "--data ${{inputs.data}}" in job["command"]
    assert "--n-estimators ${{inputs.n_estimators}}" in job["command"]
    assert "--model-dir ${{outputs.model}}" in job["command"]
    template_job = project / "templates/experiment/{{cookiecutter.exp_name}}/job.yaml"
    assert "{% raw %}" in template_job.read_text(), "sub-template must stay unrendered"


def test_baked_job_yaml_loads_with_the_azure_ml_sdk_offline(tmp_path):
    from azure.ai.ml import load_job

    project = bake(tmp_path, default_compute="gpu-a100")
    job = load_job(project / "src/train/job.yaml")
    assert job.type == "command"
    assert job.compute == "gpu-a100"
    assert set(job.inputs) == {"data", "n_estimators"}
    assert set(job.outputs) == {"model"}
    assert job.inputs["data"].type == "uri_folder"
    assert job.environment.build.path.endswith("docker")
    job_dir = project / "src/train"
    assert (job_dir / job.code).resolve() == (project / "src").resolve()


def test_lint_format_and_the_black_hook_cover_notebooks():
    """black needs its `jupyter` extra to read .ipynb; without it `make lint` skipped the
    notebooks ("Jupyter dependencies are not installed": new-user trial). The baked dev
    tools, the template's own dev requirements (its tests lint baked projects), make
    help, the README and the pre-commit hook agree that notebooks are covered."""
    template = REPO / "{{cookiecutter.project_slug}}"
    dev = re.search(r"^dev = \[(.*?)^\]", (template / "pyproject.toml").read_text(), re.M | re.S)
    assert dev and '"black[jupyter]>=24"' in dev.group(1)
    assert "black[jupyter]>=24" in (REPO / "requirements-dev.txt").read_text().splitlines()
    makefile = (template / "Makefile").read_text()
    for target in ("lint", "format"):
        (line,) = [x for x in makefile.splitlines() if x.startswith(f"{target}: ##")]
        assert "notebooks" in line, line
    readme = (template / "README.md").read_text()
    for target in ("lint", "format"):
        (row,) = [x for x in readme.splitlines() if x.startswith(f"| `make {target}` |")]
        assert "notebooks" in row, row
    hooks = yaml.safe_load((template / ".pre-commit-config.yaml").read_text())
    (black,) = [h for repo in hooks["repos"] for h in repo["hooks"] if h["id"] == "black"]
    assert set(black["types_or"]) == {"python", "jupyter"}


@pytest.mark.slow
def test_fresh_project_passes_its_own_lint_test_and_pre_commit(baked):
    lint = baked.make("lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Skipping .ipynb" not in lint.stderr, (
        "black checked no notebook: install black[jupyter] (requirements-dev.txt; make test"
        " reinstalls it)"
    )
    test = baked.make("test")
    assert test.returncode == 0, test.stdout + test.stderr
    assert " passed" in test.stdout

    import os
    import subprocess
    import sys
    from pathlib import Path

    # The hooks call `python -m black` etc.: the test environment's python.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=baked.path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=baked.path, check=True)
    hooks = subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files"],
        cwd=baked.path,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
    )
    assert hooks.returncode == 0, hooks.stdout + hooks.stderr
    assert "black" in hooks.stdout and "flake8" in hooks.stdout


def test_a_default_bake_does_not_depend_on_its_folder(tmp_path):
    """Tests share one default bake per process and copy it (tests/helpers.py
    default_project): that is only the same as baking if nothing baked depends on where
    the project is, its modes included."""
    first, second = bake(tmp_path / "one"), bake(tmp_path / "two" / "deeper")
    copied = default_project(tmp_path / "three")
    assert first.name == second.name == copied.name
    for project in (second, copied):
        assert tree_digest(project) == tree_digest(first)
        assert modes(project) == modes(first)


def modes(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.stat().st_mode for p in root.rglob("*")}
