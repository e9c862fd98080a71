"""The template repository's own code passes the same linters the baked project ships."""

import subprocess
import sys

from tests.helpers import REPO

REPO_CODE = ["hooks", "tests", "benchmarks", "local_extensions.py"]


def test_repo_code_passes_black_isort_and_flake8():
    for tool in (["black", "--check", "--quiet"], ["isort", "--check-only", "--quiet"]):
        result = subprocess.run(
            [sys.executable, "-m", *tool, *REPO_CODE], cwd=REPO, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{tool[0]}: {result.stdout}{result.stderr}"
    template_code = ["{{cookiecutter.project_slug}}/amlops", "{{cookiecutter.project_slug}}/src"]
    result = subprocess.run(
        [sys.executable, "-m", "flake8", *REPO_CODE, *template_code],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout
