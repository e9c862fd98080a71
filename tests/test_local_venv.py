"""`make local` without Docker: the venv runtime, and the automatic fallback."""

import json
import sys
from pathlib import Path

from tests.helpers import TEMPLATE_PROJECT, error_lines
from tests.test_bad_input import fake_docker
from tests.test_local_docker import set_command
from tests.tracking_support import logged_metrics

sys.path.insert(0, str(TEMPLATE_PROJECT))


def test_venv_runtime_runs_the_same_command_with_host_paths(baked):
    result = baked.make("local", EXP="train", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    run = baked.latest_run("train")
    record = json.loads((run / "run.json").read_text())
    assert record["runtime"] == "venv" and record["status"] == "completed"
    assert f"--model-dir {run / 'outputs' / 'model'}" in record["command"]
    metrics = json.loads((run / "outputs" / "model" / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.8
    assert logged_metrics(run) == metrics  # logged with mlflow into .runs/mlruns

    again = baked.make("local", EXP="train", RUNTIME="venv")
    assert again.returncode == 0
    assert "building venv" not in again.stderr, "the venv is cached by requirements hash"
    assert baked.latest_run("train") != run


def test_venv_runtime_fails_a_run_that_changes_its_input(baked):
    from amlops.local.readonly import mechanism

    set_command(baked, "python -c \"open('${{inputs.data}}/extra.csv', 'w').write('a')\"")
    result = baked.make("local", EXP="train", RUNTIME="venv")
    assert result.returncode != 0
    run = baked.latest_run("train")
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    log = (run / "logs" / "std_log.txt").read_text()
    if mechanism() == "none":  # nothing can stop the write: it is detected and named
        assert "input(s) changed during the run: data (added extra.csv)" in result.stderr
        assert "changed during the run" in log
    else:  # read-only for the run (see test_hardening_venv.py)
        assert "Read-only file system" in log or "Permission denied" in log
        assert not (baked.path / "data" / "wine" / "extra.csv").exists()


def test_no_engine_falls_back_to_venv_with_a_notice(baked, tmp_path):
    baked.env["PATH"] = fake_docker(tmp_path / "bin")
    result = baked.make("local", EXP="train")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no Docker engine (Cannot connect to the Docker daemon" in result.stderr
    assert "running in a Python venv instead" in result.stderr
    record = json.loads((baked.latest_run("train") / "run.json").read_text())
    assert record["runtime"] == "venv"


def test_local_py_runs_main_on_the_host_with_the_same_arguments(baked):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "src/train/local.py"], cwd=baked.path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "accuracy=" in result.stdout
    run = baked.latest_run("train")
    assert (run / "outputs" / "model" / "model.pkl").is_file()
    assert (run / "logs" / "metrics.json").is_file()


def test_a_requirement_pip_cannot_install_is_one_line_naming_it(baked):
    missing = "amlops-test-no-such-package-7c1f==0.0.1"
    requirements = baked.path / "src/train/docker/requirements.txt"
    requirements.write_text(requirements.read_text() + f"{missing}\n")
    result = baked.make("local", EXP="train", RUNTIME="venv")
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert (
        "venv runtime: uv pip install -r src/train/docker/requirements.txt failed (exit 1)" in line
    )
    assert missing in line
    log = Path(line.split("; log: ")[1])
    assert log.parent == Path(baked.env["VENV_DIR"]) and missing in log.read_text()
    assert "Traceback" not in result.stderr
    assert baked.run_dirs("train") == [], "nothing ran"
    assert not log.with_suffix("").exists(), "a half-built venv is removed, so the next run retries"


def test_a_venv_whose_files_a_tool_changed_is_rebuilt(baked, tmp_path):
    # a venv of its own: another worker using the shared one would notice the edit first
    baked.env["VENV_DIR"] = str(tmp_path / "venvs")
    assert baked.make("local", EXP="train", RUNTIME="venv").returncode == 0
    record = json.loads((baked.latest_run("train") / "run.json").read_text())
    venv = Path(record["environment"].split(" ", 1)[1])
    venv = venv if venv.is_absolute() else baked.path / venv
    edited = next(venv.glob("lib/python3*/site-packages/sklearn/__init__.py"))
    edited.write_text(edited.read_text() + "\n# reformatted by a tool\n")
    again = baked.make("local", EXP="train", RUNTIME="venv")
    assert again.returncode == 0, again.stderr
    assert "changed since it was built (a tool edited its files?): rebuilding" in again.stderr
    assert "# reformatted by a tool" not in edited.read_text()
    third = baked.make("local", EXP="train", RUNTIME="venv")
    assert "rebuilding" not in third.stderr and "building" not in third.stderr
