"""Every local run is tracked in MLflow with nothing to start (venv and Docker), read
back with MLflow's own client; make runs / compare / ui; a user's own tracking
server on localhost, reached from a container; every MLFLOW_* setting reaches the run."""

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
import yaml

from tests.helpers import Baked
from tests.tracking_support import (
    CASE_DOCKERFILE,
    free_port,
    local_store,
    mlflow_runs,
    start_mlflow_server,
    tools_python,
    wait_http,
)

# A job that logs with mlflow and reports which tracking variables it was given.
PROBE = """import argparse, json, os
import mlflow
parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--rate")
args = parser.parse_args()
mlflow.log_metric("seen", 1.0)
names = sorted(k for k in os.environ if k.startswith("MLFLOW_"))
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "env.json"), "w") as out:
    json.dump({k: os.environ[k] for k in names}, out)
print("probe done")
"""
PROBE_JOB = {
    "$schema": "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json",
    "type": "command",
    "code": ".",
    "command": "python probe.py ${{outputs.seen}} --rate ${{inputs.rate}}",
    "environment": {"build": {"path": "docker"}},
    "inputs": {"rate": 0.5},
    "outputs": {"seen": {"type": "uri_folder"}},
}


def git_repo(project: Baked) -> str:
    """Make the project a git repository with one commit; its hash."""
    git = ["git", "-C", str(project.path), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "baked"], check=True)
    return subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def add_probe(project: Baked) -> None:
    folder = project.path / "src" / "probe"
    (folder / "docker").mkdir(parents=True)
    (folder / "probe.py").write_text(PROBE)
    (folder / "docker" / "requirements.txt").write_text("mlflow-skinny\n")
    (folder / "docker" / "Dockerfile").write_text(CASE_DOCKERFILE)
    (folder / "job.yaml").write_text(yaml.safe_dump(PROBE_JOB, sort_keys=False))


def by_name(runs, name):
    found = [r for r in runs if r["name"] == name]
    assert len(found) == 1, [r["name"] for r in runs]
    return found[0]


def test_venv_runs_are_tracked_and_listed_and_compared(baked):
    commit = git_repo(baked)
    first = baked.make("local", EXP="train", RUNTIME="venv")
    assert first.returncode == 0, first.stderr
    assert "metrics logged to MLflow run" in first.stdout and "http:/1" not in first.stdout
    assert "tracked: MLflow experiment azure-ml-project-train" in first.stderr
    second = baked.make("local", EXP="train", RUNTIME="venv", INPUTS="n_estimators=7")
    assert second.returncode == 0, second.stderr
    old, new = baked.run_dirs("train")
    latest = baked.path / ".runs" / "train" / "latest"
    assert latest.is_symlink() and latest.resolve() == new.resolve()

    runs = mlflow_runs(local_store(baked), "azure-ml-project-train")
    run = by_name(runs, new.name)
    assert run["status"] == "FINISHED"
    assert run["params"] == {"n_estimators": "7"}
    assert set(run["metrics"]) == {"accuracy", "f1_macro", "n_train", "n_test"}
    tags = run["tags"]
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["amlops.runtime"] == "venv" and tags["amlops.environment"].startswith("venv ")
    assert tags["mlflow.source.name"] == "src/train/job.yaml"
    assert tags["amlops.run_folder"] == f".runs/train/{new.name}"
    assert by_name(runs, old.name)["params"] == {"n_estimators": "100"}
    record = json.loads((new / "run.json").read_text())
    assert record["tracking"]["run_id"] == run["run_id"]

    listed = baked.make("runs", EXP="train")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:6] == ["id", "experiment", "status", "start", "duration", "runtime"]
    assert lines[1].startswith(new.name) and lines[2].startswith(old.name)  # newest first
    assert "n_estimators=7" in lines[1] and "accuracy=" in lines[1] and "completed" in lines[1]
    assert "venv" in lines[1]

    compared = baked.make("compare", RUNS=f"{old.name} {new.name[-6:]}")
    assert compared.returncode == 0, compared.stderr
    rows = {
        line.split()[0] + " " + line.split()[1]: line.split()[2:]
        for line in compared.stdout.splitlines()[1:]
        if line.startswith("param")
    }
    assert rows["param n_estimators"] == ["100", "7"]
    assert "same in all:" in compared.stdout
    refused = baked.make("compare", RUNS=old.name)
    assert refused.returncode == 2 and "two or more runs" in refused.stderr


def test_a_failing_run_is_recorded_failed(baked):
    folder = baked.path / "src" / "boom"
    folder.mkdir()
    (folder / "job.yaml").write_text(
        "type: command\ncommand: echo failing && exit 3\nenvironment:\n  image: python:3.11-slim\n"
    )
    result = baked.make("local", EXP="boom", RUNTIME="venv")
    assert result.returncode != 0
    run = by_name(
        mlflow_runs(local_store(baked), "azure-ml-project-boom"), baked.latest_run("boom").name
    )
    assert run["status"] == "FAILED"


def test_docker_runs_are_tracked_without_container_paths_or_git_warnings(docker_baked):
    result = docker_baked.make("local", EXP="train")
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "/mnt/logs/metrics.json" not in output
    assert "GitPython" not in output and "git executable" not in output.lower()
    run_dir = docker_baked.latest_run("train")
    run = by_name(mlflow_runs(local_store(docker_baked), "azure-ml-project-train"), run_dir.name)
    assert run["status"] == "FINISHED" and run["params"] == {"n_estimators": "100"}
    assert run["metrics"]["n_test"] == 45.0
    assert run["tags"]["amlops.runtime"] == "docker"
    # the container wrote the store as the host user, at the host's path
    store = docker_baked.path / ".runs" / "mlruns"
    assert all(p.stat().st_uid == os.getuid() for p in store.rglob("*"))
    listed = docker_baked.make("runs")
    assert run_dir.name in listed.stdout and "docker" in listed.stdout


@pytest.mark.parametrize("runtime", ["venv", "docker"])
def test_a_tracking_server_on_localhost_gets_the_run_and_every_mlflow_setting(
    request, baked, tmp_path, runtime
):
    if runtime == "docker":
        baked = request.getfixturevalue("docker_baked")
    else:
        baked.env["RUNTIME"] = "venv"
    add_probe(baked)
    server, url = start_mlflow_server(tmp_path)
    try:
        (baked.path / ".env").write_text(
            f"MLFLOW_TRACKING_URI={url}\nMLFLOW_TRACKING_TOKEN=t0ken\n"
            "MLFLOW_HTTP_REQUEST_TIMEOUT=30\n"
        )
        result = baked.make("local", EXP="probe")
        assert result.returncode == 0, result.stderr
        run_dir = baked.latest_run("probe")
        seen = json.loads((run_dir / "outputs" / "seen" / "env.json").read_text())
        assert seen["MLFLOW_TRACKING_URI"] == url  # localhost itself, through --network host
        assert seen["MLFLOW_TRACKING_TOKEN"] == "t0ken"
        assert seen["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "30"
        assert "MLFLOW_ALLOW_FILE_STORE" not in seen
        run = by_name(mlflow_runs(url, "azure-ml-project-probe"), run_dir.name)
        assert run["status"] == "FINISHED"
        assert run["metrics"] == {"seen": 1.0} and run["params"] == {"rate": "0.5"}
        assert run["tags"]["amlops.runtime"] == runtime
        assert not (baked.path / ".runs" / "mlruns").exists()
        listed = baked.make("runs", EXP="probe")
        assert "seen=1" in listed.stdout and "rate=0.5" in listed.stdout
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def test_an_unreachable_tracking_server_is_one_line_before_the_run(baked):
    (baked.path / ".env").write_text(f"MLFLOW_TRACKING_URI=http://127.0.0.1:{free_port()}\n")
    result = baked.make("local", EXP="train", RUNTIME="venv")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot reach the MLflow server" in errors[0]
    assert not baked.run_dirs("train")


def test_make_ui_serves_the_local_store(baked):
    baked.make("local", EXP="train", RUNTIME="venv")
    port = free_port()
    env = {**os.environ, **baked.env, "UI_VENV": str(tools_python().parent.parent)}
    ui = subprocess.Popen(
        [sys.executable, "-m", "amlops", "ui", "--port", str(port)],
        cwd=baked.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        text=True,
    )
    try:
        assert wait_http(f"http://127.0.0.1:{port}/health", 180), "the UI did not start"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search",
            data=json.dumps({"max_results": 100}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            names = [e["name"] for e in json.loads(response.read())["experiments"]]
        assert "azure-ml-project-train" in names
    finally:
        os.killpg(ui.pid, signal.SIGINT)
        _, err = ui.communicate(timeout=60)
    assert f"http://127.0.0.1:{port}" in err
