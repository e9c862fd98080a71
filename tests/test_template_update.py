"""Template updates: a baked project records its template source, commit and answers
(.cruft.json), so `make update-template` (cruft update) pulls later template changes
into it while the project's own code stays as it is."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO, Baked

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
