"""Template updates: a baked project records its template source, commit and answers
(.cruft.json), so `make update-template` (cruft update) pulls later template changes
into it while the project's own code stays as it is."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, Baked, error_lines, tree_digest

GIT = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]


def git(folder: Path, *args: str) -> str:
    done = subprocess.run([*GIT, "-C", str(folder), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def template_copy(folder: Path) -> Path:
    """This template as a git repository of its own (what users bake from)."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for rel in listed:
        source = REPO / rel
        if source.is_file():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / rel)
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "template v1")
    return folder


def test_update_pulls_template_changes_and_leaves_user_code_alone(tmp_path):
    from cookiecutter.main import cookiecutter

    template = template_copy(tmp_path / "template")
    project = Baked(Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp_path))))
    record = json.loads((project.path / ".cruft.json").read_text())
    assert record["template"] == str(template.resolve())
    assert record["commit"] == git(template, "rev-parse", "HEAD")
    assert record["context"]["cookiecutter"]["first_experiment"] == "train"
    git(project.path, "init", "-q")
    git(project.path, "add", "-A")
    git(project.path, "commit", "-qm", "baked")
    main = project.path / "src/train/main.py"
    main.write_text(main.read_text() + "\n# the user's own change\n")
    git(project.path, "commit", "-qam", "user work")
    user_code = main.read_text()

    baked_dir = template / "{{cookiecutter.project_slug}}"
    makefile = baked_dir / "Makefile"
    makefile.write_text(makefile.read_text().replace("List the targets", "List every target"))
    (baked_dir / "CHANGELOG.md").write_text("# Changes\n\n- a later template change\n")
    common = baked_dir / "src/common/__init__.py"
    common.write_text(common.read_text() + "\n# template-side edit of shared code\n")
    git(template, "add", "-A")
    git(template, "commit", "-qm", "template v2")

    result = project.make("update-template")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "help: ## List every target" in (project.path / "Makefile").read_text()
    assert (project.path / "CHANGELOG.md").read_text().endswith("a later template change\n")
    assert main.read_text() == user_code  # the user's code is untouched
    assert "template-side edit" not in (project.path / "src/common/__init__.py").read_text()
    updated = json.loads((project.path / ".cruft.json").read_text())
    assert updated["commit"] == git(template, "rev-parse", "HEAD")
    check = subprocess.run(
        [sys.executable, "-m", "cruft", "check"], cwd=project.path, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr  # "up to date"


# Formatted differently from what black makes of it, as another black version (or a
# hand edit) would leave it: the project's own format, lint and pre-commit must not care.
PROBE = "amlops/_vendored_probe.py"
PROBE_V1 = "VALUES = { 'a':1,\n   'b':2 }\n"
PROBE_V2 = "VALUES = { 'a':1,\n   'b':3 }\n"


def test_bundled_module_is_vendored_format_lint_and_update_leave_it_alone(tmp_path):
    """amlops/ is vendored: make format, make lint and the pre-commit hooks neither change
    nor check it, so a later template change to it applies without conflict."""
    from cookiecutter.main import cookiecutter

    template = template_copy(tmp_path / "template")
    baked_dir = template / "{{cookiecutter.project_slug}}"
    (baked_dir / PROBE).write_text(PROBE_V1)
    git(template, "add", "-A")
    git(template, "commit", "-qm", "template with an unformatted vendored file")
    project = Baked(Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp_path))))
    git(project.path, "init", "-q")
    git(project.path, "add", "-A")
    git(project.path, "commit", "-qm", "baked")
    vendored = tree_digest(project.path / "amlops")

    for target in ("format", "lint"):
        done = project.make(target)
        assert done.returncode == 0, target + ": " + done.stdout + done.stderr
    hooks = subprocess.run(  # the hooks' python: the project's .venv, else the one on PATH
        [sys.executable, "-m", "pre_commit", "run", "--all-files"],
        cwd=project.path,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    assert hooks.returncode == 0, hooks.stdout + hooks.stderr
    assert tree_digest(project.path / "amlops") == vendored
    assert (project.path / PROBE).read_text() == PROBE_V1
    assert git(project.path, "status", "--porcelain") == ""

    init = baked_dir / "amlops/__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', '__version__ = "0.1.1"'))
    (baked_dir / PROBE).write_text(PROBE_V2)
    git(template, "add", "-A")
    git(template, "commit", "-qm", "template: amlops 0.1.1")

    result = project.make("update-template")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project.path / PROBE).read_text() == PROBE_V2
    assert not list(project.path.rglob("*.rej"))
    version = subprocess.run(
        [sys.executable, "-m", "amlops", "--version"],
        cwd=project.path,
        capture_output=True,
        text=True,
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "amlops 0.1.1"


@pytest.mark.parametrize("named", ["relative path", "dot"])
def test_a_bake_from_a_relative_path_records_the_absolute_template_and_updates(tmp_path, named):
    """`cookiecutter tpl` and `cookiecutter .` (make demo) record where the template is,
    absolute, and its commit, so make update-template follows it."""
    template = template_copy(tmp_path / "tpl")
    cookiecutter = [sys.executable, "-m", "cookiecutter", "--no-input"]
    if named == "dot":
        argv, cwd = [*cookiecutter, ".", "-o", "../out"], template
    else:
        argv, cwd = [*cookiecutter, "tpl", "-o", "out"], tmp_path
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    project = Baked(tmp_path / "out" / "azure-ml-project")
    record = json.loads((project.path / ".cruft.json").read_text())
    assert record["template"] == str(template.resolve())
    assert record["commit"] == git(template, "rev-parse", "HEAD")
    git(project.path, "init", "-q")
    git(project.path, "add", "-A")
    git(project.path, "commit", "-qm", "baked")

    makefile = template / "{{cookiecutter.project_slug}}/Makefile"
    makefile.write_text(makefile.read_text().replace("List the targets", "List every target"))
    git(template, "commit", "-qam", "template v2")
    result = project.make("update-template")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "help: ## List every target" in (project.path / "Makefile").read_text()


def test_a_template_record_that_cannot_be_followed_is_one_line(tmp_path):
    """What older bakes from a relative path wrote (the project folder, or <project>/tpl,
    with no commit), and other records cruft cannot follow: one line, no traceback."""
    template = template_copy(tmp_path / "tpl")
    project = Baked(bake_from(template, tmp_path))
    git(project.path, "init", "-q")
    git(project.path, "add", "-A")
    git(project.path, "commit", "-qm", "baked")
    cruft = project.path / ".cruft.json"
    good = json.loads(cruft.read_text())
    broken = {
        "the project folder": {"template": str(project.path), "commit": None},
        "a relative path": {"template": "tpl"},
        "no commit": {"commit": None},
        "an unknown commit": {"commit": "0" * 40},
    }
    for why, change in broken.items():
        cruft.write_text(json.dumps({**good, **change}))
        git(project.path, "commit", "-qam", why)
        result = project.make("update-template")
        assert result.returncode != 0, why
        assert "Traceback" not in result.stdout + result.stderr, why
        (line,) = error_lines(result.stderr)
        assert ".cruft.json" in line and "make update-template" in line, (why, line)
    cruft.write_text("{not json")
    git(project.path, "commit", "-qam", "garbled")
    (line,) = error_lines(project.make("update-template").stderr)
    assert "not readable JSON" in line


def bake_from(template: Path, output: Path) -> Path:
    from cookiecutter.main import cookiecutter

    return Path(cookiecutter(str(template), no_input=True, output_dir=str(output)))
