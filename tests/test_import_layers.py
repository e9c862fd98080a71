"""The bundled amlops module keeps its layers (.importlinter, checked by import-linter):
cli > cloud > pipelines > sweeps > local > tracking/staging/inputs > spec > project >
utilities > errors/console, no import circles, and nothing below cloud imports cloud."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO, TEMPLATE_PROJECT

CONFIG = REPO / ".importlinter"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """lint-imports on the amlops package found in `package_parent` (no cache written)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(CONFIG)],
        cwd=package_parent,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(package_parent)},
    )


def test_the_bundled_module_keeps_every_contract():
    result = lint_imports(TEMPLATE_PROJECT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_a_format_reader_importing_cloud_or_a_circle_breaks_the_contracts(tmp_path):
    shutil.copytree(TEMPLATE_PROJECT / "amlops", tmp_path / "amlops")
    checks = tmp_path / "amlops/spec/checks.py"
    checks.write_text(checks.read_text() + "\nfrom amlops.cloud import workspace  # noqa\n")
    job = tmp_path / "amlops/spec/job.py"  # spec/pipeline.py imports spec/job.py
    job.write_text(job.read_text() + "\nfrom amlops.spec import pipeline  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "Contracts: 0 kept, 3 broken." in result.stdout, result.stdout
    assert "amlops.spec.checks -> amlops.cloud.workspace" in result.stdout
