"""The local command paths never import an Azure SDK (azure-ai-ml alone costs ~1 s)."""

import json
import os
import subprocess
import sys

PROBE = """
import atexit, json, runpy, sys
REPORT = sys.argv[1]
def report():
    with open(REPORT, "w") as handle:
        json.dump(sorted(m for m in sys.modules if m == "azure" or m.startswith("azure.")), handle)
atexit.register(report)
sys.argv = ["amlops", *sys.argv[2:]]
runpy.run_module("amlops", run_name="__main__")
"""


def azure_modules_loaded(baked, tmp_path, *args):
    report = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args],
        cwd=baked.path,
        capture_output=True,
        text=True,
        env={**os.environ, **baked.env},
    )
    return result, json.loads(report.read_text())


def test_help_and_local_venv_run_import_no_azure_module(baked, tmp_path):
    import azure.ai.ml  # noqa: F401 - installed here, so an import would succeed

    result, loaded = azure_modules_loaded(baked, tmp_path, "--help")
    assert result.returncode == 0 and loaded == []
    result, loaded = azure_modules_loaded(
        baked, tmp_path, "local", "--exp", "train", "--runtime", "venv"
    )
    assert result.returncode == 0, result.stderr
    assert loaded == []
    result, loaded = azure_modules_loaded(baked, tmp_path, "new-exp", "--exp", "other")
    assert result.returncode == 0 and loaded == []


def test_endpoint_commands_import_no_azure_module(baked, tmp_path):
    import azure.ai.ml  # noqa: F401 - installed here, so an import would succeed

    for args in (
        ("serve", "--endpoint", "train-online", "--runtime", "venv"),
        ("invoke", "--endpoint", "train-online"),
        ("endpoints",),
    ):
        result, loaded = azure_modules_loaded(baked, tmp_path, *args)
        assert loaded == [], (args, loaded)
        assert "Traceback" not in result.stderr, result.stderr
