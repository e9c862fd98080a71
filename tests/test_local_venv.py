"""`make local` without Docker: the venv runtime, and the automatic fallback."""

import json
from pathlib import Path

from tests.helpers import error_lines
from tests.test_bad_input import fake_docker
from tests.test_local_docker import set_command
from tests.tracking_support import logged_metrics


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
    set_command(baked, "python -c \"open('${{inputs.data}}/extra.csv', 'w').write('a')\"")
    result = baked.make("local", EXP="train", RUNTIME="venv")
    assert result.returncode != 0
    assert "input(s) data changed during the run" in result.stderr
    run = baked.latest_run("train")
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    assert "changed during the run" in (run / "logs" / "std_log.txt").read_text()


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
    assert "venv runtime: pip install -r src/train/docker/requirements.txt failed (exit 1)" in line
    assert missing in line
    log = Path(line.split("; log: ")[1])
    assert log.parent == Path(baked.env["VENV_DIR"]) and missing in log.read_text()
    assert "Traceback" not in result.stderr
    assert baked.run_dirs("train") == [], "nothing ran"
    assert not log.with_suffix("").exists(), "a half-built venv is removed, so the next run retries"
