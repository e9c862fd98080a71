"""A new user's first day: lint and format leave run folders and venvs alone, the commit
hooks use the project's .venv, hooks go only into the project's own repository, make help
shows no make variables, make datastore has DRY_RUN, and the docs say what happens."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO, bake
from tests.test_local_docker import set_command
from tests.test_no_azure_imports import azure_modules_loaded

UGLY = "import sys,os\nx=[1,\n2]\ndef f( a ):\n  return a\n"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


def test_lint_and_format_leave_run_folders_and_venvs_alone(baked):
    ugly = [
        ".runs/.venvs/0123456789ab/lib/python3.11/site-packages/scipy/thing.py",
        ".runs/train/20260101-000000-abcdef/src/train/copied.py",
        ".venv/lib/python3.11/site-packages/pkg/mod.py",
    ]
    for rel in ugly:
        (baked.path / rel).parent.mkdir(parents=True, exist_ok=True)
        (baked.path / rel).write_text(UGLY)
    lint = baked.make("lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    formatted = baked.make("format")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    assert all((baked.path / rel).read_text() == UGLY for rel in ugly)


def test_commit_hooks_run_from_the_projects_venv_without_activating_it(baked):
    (baked.path / ".venv").symlink_to(sys.prefix)  # what make setup creates
    subprocess.run(["git", "init", "-q"], cwd=baked.path, check=True)
    hooks = baked.make("hooks")
    assert hooks.returncode == 0, hooks.stdout + hooks.stderr
    assert (baked.path / ".git" / "hooks" / "pre-commit").is_file()
    subprocess.run(["git", "add", "-A"], cwd=baked.path, check=True)
    bare = {**os.environ, "PATH": "/usr/bin:/bin"}  # no activated venv, no black on PATH
    bare.pop("VIRTUAL_ENV", None)
    commit = subprocess.run(
        [*GIT, "commit", "-qm", "first"], cwd=baked.path, env=bare, capture_output=True, text=True
    )
    assert commit.returncode == 0, commit.stdout + commit.stderr
    assert re.search(r"black\.+Passed", commit.stdout + commit.stderr)


def test_hooks_go_only_into_the_projects_own_repository(tmp_path):
    outer = tmp_path / "template-repo"
    outer.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=outer, check=True)
    project = bake(outer / "build" / "demo")
    make = ["make", "--no-print-directory", "-C", str(project), f"PYTHON={sys.executable}"]
    inside = subprocess.run([*make, "hooks"], capture_output=True, text=True)
    assert inside.returncode == 0, inside.stderr
    assert "pre-commit hooks not installed" in inside.stdout
    assert not (outer / ".git" / "hooks" / "pre-commit").exists()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    own = subprocess.run([*make, "hooks"], capture_output=True, text=True)
    assert own.returncode == 0, own.stderr
    assert (project / ".git" / "hooks" / "pre-commit").is_file()
    assert not (outer / ".git" / "hooks" / "pre-commit").exists()


def test_make_help_shows_no_unexpanded_make_variables(baked):
    helped = baked.make("help")
    assert helped.returncode == 0
    assert "$(" not in helped.stdout
    assert "src/<EXP>/" in helped.stdout


def test_datastore_dry_run_says_what_it_would_register_and_calls_nothing(baked, tmp_path):
    baked.env.update(
        DATASTORE="sales", ACCOUNT="acct", CONTAINER="raw", AZURE_STORAGE_KEY="sekret-key=="
    )
    result, loaded = azure_modules_loaded(baked, tmp_path, "datastore", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert loaded == [], "DRY_RUN imports no Azure SDK (and so cannot call Azure)"
    assert (
        "DRY_RUN: would register datastore sales: blob container raw of storage account acct,"
        " key from AZURE_STORAGE_KEY" in result.stderr
    )
    assert result.stdout.strip() == "azureml://datastores/sales/paths/"
    assert "sekret" not in result.stdout + result.stderr
    made = baked.make("datastore", DRY_RUN="1")
    assert made.returncode == 0 and "nothing registered" in made.stderr


def test_template_readme_names_the_python_a_default_bake_needs():
    default = json.loads((REPO / "cookiecutter.json").read_text())["python_version"][0]
    readme = (REPO / "README.md").read_text()
    assert f"Python {default}+" in readme


def test_make_exits_2_for_any_failure_and_the_readme_points_to_the_module(baked):
    set_command(baked, "exit 3")
    made = baked.make("local", EXP="train", RUNTIME="venv")
    direct = subprocess.run(
        [sys.executable, "-m", "amlops", "local", "--exp", "train", "--runtime", "venv"],
        cwd=baked.path,
        env={**os.environ, **baked.env},
        capture_output=True,
        text=True,
    )
    assert (made.returncode, direct.returncode) == (2, 3)
    readme = Path(baked.path / "README.md").read_text()
    assert "`make` itself exits 2 whenever a recipe fails" in readme
    assert "python -m amlops job --exp train" in readme
