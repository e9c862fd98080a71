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


def test_every_error_line_starts_with_lowercase_error():
    """One form for the errors users read: `error: <file>: <what>; <fix>`, as the amlops
    command line prints every UserError (and tests/helpers.error_lines reads them), the
    bake hook included; no `Error:` or `ERROR:` of our own beside it."""
    import re

    printed = re.compile(r"""(?<![\w.])f?["'](?:Error|ERROR): """)
    found = []
    folders = [REPO / "hooks", REPO / "{{cookiecutter.project_slug}}" / "amlops"]
    for path in sorted(p for folder in folders for p in folder.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = printed.search(line)
            if match and "#" not in line[: match.start()]:
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, found
