"""Lint (or, with --fix, format) the template's Python through a baked project.

The template folder itself is not a project black can read (its pyproject.toml
holds Jinja), so bake one with defaults, run its own `make lint`/`make format`,
and with --fix copy the formatted amlops/ and src/common/ back. A baked project leaves
its bundled amlops/ out of its own format and lint (vendored code), so amlops/ is
formatted and checked here with the same settings, the project's exclusions aside."""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PROJECT = REPO / "{{cookiecutter.project_slug}}"
COPIED_BACK = ["amlops", "src/common"]


def main(fix: bool) -> int:
    from cookiecutter.main import cookiecutter

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(cookiecutter(str(REPO), no_input=True, output_dir=tmp))
        make = ["make", "-C", str(project), f"PYTHON={sys.executable}"]
        if fix:
            subprocess.run(make + ["format"], check=True, capture_output=True)
            vendored(project, fix=True)
            for rel in COPIED_BACK:
                target = TEMPLATE_PROJECT / rel
                shutil.copytree(
                    project / rel,
                    target,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"),
                )
        code = subprocess.run(make + ["lint"]).returncode
        return code or vendored(project, fix=False)


def vendored(project: Path, fix: bool) -> int:
    """Format (or check) the baked amlops/ with the project's settings: its files are
    named one by one, which black and isort process although the settings exclude them."""
    files = sorted(str(p.relative_to(project)) for p in (project / "amlops").rglob("*.py"))
    black = ["-m", "black", "--quiet"] + ([] if fix else ["--check"])
    isort = ["-m", "isort", "--quiet"] + ([] if fix else ["--check-only"])
    for argv in (isort, black):
        done = subprocess.run([sys.executable, *argv, *files], cwd=project)
        if done.returncode:
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main("--fix" in sys.argv[1:]))
