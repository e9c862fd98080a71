"""Lint (or, with --fix, format) the template's Python through a baked project.

The template folder itself is not a project black can read (its pyproject.toml
holds Jinja), so bake one with defaults, run its own `make lint`/`make format`,
and with --fix copy the formatted amlops/ and src/common/ back."""

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
            for rel in COPIED_BACK:
                target = TEMPLATE_PROJECT / rel
                shutil.copytree(
                    project / rel,
                    target,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"),
                )
        return subprocess.run(make + ["lint"]).returncode


if __name__ == "__main__":
    sys.exit(main("--fix" in sys.argv[1:]))
