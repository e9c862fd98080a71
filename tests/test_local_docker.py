"""`make local` in a real Docker engine (offline base image; see conftest.py)."""

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import containers, error_lines
from tests.tracking_support import logged_metrics

pytestmark = pytest.mark.docker

COMMAND_LINES = (
    "python -m train.main\n"
    "  --data ${{inputs.data}}\n"
    "  --n-estimators ${{inputs.n_estimators}}\n"
    "  --model-dir ${{outputs.model}}"
)


def set_command(baked, command):
    baked.edit("src/train/job.yaml", COMMAND_LINES, command)


def image_id(tag):
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else None


def built_tag(output):
    return output.split("image ", 1)[1].split()[0]


def test_local_run_lands_in_a_new_run_folder_and_reuses_the_image(docker_baked):
    build = docker_baked.make("build-exp", EXP="train")
    assert build.returncode == 0, build.stdout + build.stderr
    tag = built_tag(build.stdout)
    first_id = image_id(tag)
    assert first_id

    first = docker_baked.make("local", EXP="train")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "building image" not in first.stderr, "the hash-tagged image must be reused"
    assert "accuracy=" in first.stdout
    run1 = docker_baked.latest_run("train")
    model_dir = run1 / "outputs" / "model"
    assert (model_dir / "model.pkl").stat().st_size > 0
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.8  # a real model on the real wine data
    assert (model_dir / "model.pkl").stat().st_uid == os.getuid()
    assert "accuracy=" in (run1 / "logs" / "std_log.txt").read_text()
    assert logged_metrics(run1) == metrics  # logged with mlflow into .runs/mlruns
    record = json.loads((run1 / "run.json").read_text())
    assert record["status"] == "completed" and record["exit_code"] == 0
    assert record["command"].endswith("--model-dir /mnt/outputs/model")
    assert (run1 / "src" / "common" / "tables.py").is_file()
    assert not (run1 / "src" / "train" / "tests").exists(), ".amlignore trims the snapshot"

    second = docker_baked.make("local", EXP="train", INPUTS="n_estimators=7")
    assert second.returncode == 0, second.stderr
    assert "building image" not in second.stderr
    assert image_id(tag) == first_id
    run2 = docker_baked.latest_run("train")
    assert run2 != run1 and (model_dir / "model.pkl").exists(), "reruns never overwrite"
    assert "--n-estimators 7 " in json.loads((run2 / "run.json").read_text())["command"]

    # A new context (unique, so no earlier test run built it) gets a new tag and a build.
    # Appended, so Docker's cache keeps the layers before it (this test is not about them).
    docker_baked.append("src/train/docker/Dockerfile", f"LABEL test.marker={uuid.uuid4().hex}\n")
    rebuilt = docker_baked.make("build-exp", EXP="train")
    assert rebuilt.returncode == 0 and built_tag(rebuilt.stdout) != tag
    assert f"image {built_tag(rebuilt.stdout)} built" in rebuilt.stdout
    assert "building image" in rebuilt.stderr


def test_writing_to_an_input_fails_and_leaves_it_unchanged(docker_baked):
    set_command(docker_baked, "python -c \"open('${{inputs.data}}/new.csv', 'w')\"")
    before = sorted(os.listdir(docker_baked.path / "data" / "wine"))
    result = docker_baked.make("local", EXP="train")
    assert result.returncode != 0
    assert "Read-only file system" in result.stdout
    assert sorted(os.listdir(docker_baked.path / "data" / "wine")) == before


def test_a_failing_script_fails_make_and_keeps_logs_and_partial_outputs(docker_baked):
    set_command(
        docker_baked,
        "python -c \"import sys; open('${{outputs.model}}/partial.txt', 'w').write('x');"
        " print('half way'); sys.exit(3)\"",
    )
    result = docker_baked.make("local", EXP="train")
    assert result.returncode != 0
    assert "FAILED (exit 3)" in result.stderr
    run = docker_baked.latest_run("train")
    assert (run / "outputs" / "model" / "partial.txt").read_text() == "x"
    assert "half way" in (run / "logs" / "std_log.txt").read_text()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed" and record["exit_code"] == 3


def test_ctrl_c_stops_the_container_and_leaves_none(docker_baked):
    set_command(docker_baked, "echo started; sleep 120")
    proc = docker_baked.start("local", EXP="train")
    started = docker_baked.wait_for(lambda: containers("amlops-train-"))
    assert started, "the container never started"
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert containers("amlops-train-") == []
    record = json.loads((docker_baked.latest_run("train") / "run.json").read_text())
    assert record["status"] == "interrupted"


def test_terminal_has_the_same_read_only_mounts(docker_baked):
    result = docker_baked.make(
        "terminal", EXP="train", CMD="ls /mnt/inputs/data && touch /mnt/inputs/data/x"
    )
    assert "wine.csv" in result.stdout
    assert result.returncode != 0 and "Read-only file system" in result.stdout + result.stderr


# A registry that refuses at once: no network needed to see a failed pull.
UNPULLABLE = "localhost:1/amlops/unpullable:1"


def test_an_unpullable_base_image_falls_back_to_venv_unless_docker_is_asked_for(docker_baked):
    docker_baked.env.update(BASE_IMAGE=UNPULLABLE, RUNTIME="auto")
    result = docker_baked.make("local", EXP="train")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"base image {UNPULLABLE} cannot be pulled (" in result.stderr
    assert "connection refused" in result.stderr
    assert "running in a Python venv instead" in result.stderr
    record = json.loads((docker_baked.latest_run("train") / "run.json").read_text())
    assert record["runtime"] == "venv"

    pipeline = docker_baked.make("pipeline-local")
    assert pipeline.returncode == 0, pipeline.stdout + pipeline.stderr
    assert pipeline.stderr.count("running in a Python venv instead") == 1
    assert "venv runtime" in pipeline.stderr
    plan = docker_baked.make("pipeline-local", DRY_RUN="1")  # the plan foresees the fallback
    assert "(venv runtime)" in plan.stdout and "reuse" in plan.stdout, plan.stdout

    forced = docker_baked.make("local", EXP="train", RUNTIME="docker")
    assert forced.returncode == 2
    (line,) = error_lines(forced.stderr)
    assert f"RUNTIME=docker but base image {UNPULLABLE} cannot be pulled" in line
    built = docker_baked.make("build-exp", EXP="train")
    (line,) = error_lines(built.stderr)
    assert f"make build-exp needs Docker, but base image {UNPULLABLE}" in line


def test_a_failing_image_build_is_one_line_with_the_telling_error(docker_baked):
    missing = f"amlops-test-no-such-package-{uuid.uuid4().hex[:8]}==0.0.1"
    requirements = docker_baked.path / "src/train/docker/requirements.txt"
    requirements.write_text(requirements.read_text() + f"{missing}\n")
    result = docker_baked.make("local", EXP="train")
    assert result.returncode != 0
    (line,) = error_lines(result.stderr)
    assert "docker build of " in line and "src/train/docker failed (exit 1)" in line
    assert f"cause: Because {missing.split('==')[0]} was not found in the package registry" in line
    log = Path(line.split("; log: ")[1])
    assert missing in log.read_text()
    assert "Traceback" not in result.stderr
    assert docker_baked.run_dirs("train") == [], "nothing ran"


def test_prune_removes_the_images_this_project_built_that_are_no_longer_current(docker_baked):
    notes = docker_baked.path / "src/train/docker/notes.txt"
    notes.write_text(uuid.uuid4().hex)  # a tag no earlier test built
    first = docker_baked.make("build-exp", EXP="train")
    assert first.returncode == 0, first.stderr
    old_tag = built_tag(first.stdout)
    notes.write_text(uuid.uuid4().hex)
    second = docker_baked.make("build-exp", EXP="train")
    new_tag = built_tag(second.stdout)
    assert new_tag != old_tag
    listed = docker_baked.make("prune")
    assert f"would remove  image {old_tag}" in listed.stdout, listed.stdout + listed.stderr
    assert new_tag not in listed.stdout
    removed = docker_baked.make("prune", YES="1")
    assert removed.returncode == 0, removed.stderr
    assert image_id(old_tag) is None and image_id(new_tag) is not None
    logs = [p.name for p in (docker_baked.path / ".runs/.builds").glob("*.log")]
    assert logs == [new_tag.replace(":", "-") + ".log"]
