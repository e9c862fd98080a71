"""The store a local run writes is MLflow's own: read by MLflow's client (get_run,
search_runs) and served by a real `mlflow server`; TRACKING=0 runs are untracked but
listed; `make ui` on a taken port fails in one line."""

import json
import os
import signal
import socket
import subprocess
import urllib.parse
import urllib.request

from tests.tracking_support import free_port, local_store, tools_python, wait_http

READ_RUN = """
import json, sys
from mlflow.tracking import MlflowClient
uri, run_id, name = sys.argv[1:4]
client = MlflowClient(tracking_uri=uri)
run = client.get_run(run_id)
experiment = client.get_experiment_by_name(name)
found = client.search_runs([experiment.experiment_id], "params.n_estimators = '100'")
print(json.dumps({
    "status": run.info.status,
    "name": run.info.run_name,
    "params": run.data.params,
    "metrics": run.data.metrics,
    "tags": run.data.tags,
    "searched": [r.info.run_id for r in found],
}))
"""


def tracking_of(run_dir):
    return json.loads((run_dir / "run.json").read_text())["tracking"]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_a_local_run_is_read_by_mlflows_client_and_served_by_mlflow_server(baked, tmp_path):
    result = baked.make("local", EXP="train", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    run_dir = baked.latest_run("train")
    tracking = tracking_of(run_dir)
    uri = local_store(baked)
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "GIT_PYTHON_REFRESH": "quiet"}
    done = subprocess.run(
        [str(tools_python()), "-c", READ_RUN, uri, tracking["run_id"], "azure-ml-project-train"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads(done.stdout.strip().splitlines()[-1])
    assert run["status"] == "FINISHED" and run["name"] == run_dir.name
    assert run["params"] == {"n_estimators": "100"}
    # the sample handed its metrics to amlops (no MLflow import in the job): all arrived
    assert set(run["metrics"]) == {"accuracy", "f1_macro", "n_train", "n_test"}
    assert run["tags"]["amlops.runtime"] == "venv"
    assert run["searched"] == [tracking["run_id"]]

    port = free_port()
    argv = [str(tools_python()), "-m", "mlflow", "server", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--backend-store-uri", uri, "--workers", "1"]
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    try:
        assert wait_http(f"http://127.0.0.1:{port}/health", 180), (
            tmp_path / "server.log"
        ).read_text()[-3000:]
        query = urllib.parse.urlencode({"experiment_name": "azure-ml-project-train"})
        experiment = get_json(f"{base}/experiments/get-by-name?{query}")["experiment"]
        assert experiment["experiment_id"] == tracking["experiment_id"]
        served = get_json(f"{base}/runs/get?run_id={tracking['run_id']}")["run"]
        assert served["info"]["status"] == "FINISHED"
        assert {m["key"] for m in served["data"]["metrics"]} == set(run["metrics"])
        assert {"key": "n_estimators", "value": "100"} in served["data"]["params"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


def test_tracking_off_keeps_the_run_folder_and_its_listing(baked):
    result = baked.make("local", EXP="train", RUNTIME="venv", TRACKING="0")
    assert result.returncode == 0, result.stderr
    assert "not tracked in MLflow (TRACKING=0)" in result.stderr
    assert "metrics logged to" in result.stdout and "MLflow run" not in result.stdout
    run_dir = baked.latest_run("train")
    assert tracking_of(run_dir) == {}
    assert not (baked.path / ".runs" / "mlruns").exists()
    assert (run_dir / "outputs" / "model" / "model.pkl").is_file()
    listed = baked.make("runs", EXP="train")
    assert listed.returncode == 0, listed.stderr
    row = listed.stdout.splitlines()[1]
    assert row.startswith(run_dir.name) and "completed" in row and "n_estimators=100" in row
    assert "accuracy=" in row  # from the job's own logs/metrics.json

    sweep = baked.make("local", EXP="train", JOB="sweep.yaml", RUNTIME="venv", TRACKING="0")
    assert sweep.returncode == 2
    errors = [line for line in sweep.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "needs tracking" in errors[0] and "TRACKING=0" in errors[0]

    bad = baked.make("local", EXP="train", RUNTIME="venv", TRACKING="perhaps")
    assert bad.returncode == 2 and "TRACKING='perhaps'" in bad.stderr


def test_make_ui_on_a_taken_port_fails_in_one_line(baked):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = baked.make("ui", UI_PORT=str(port), timeout=120)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert f"port {port}" in errors[0] and "UI_PORT=" in errors[0]
    assert "Traceback" not in result.stderr
    assert not (baked.path / ".runs" / ".tools").exists()  # nothing installed first


def test_make_jupyter_on_a_taken_port_fails_in_one_line_before_any_build(baked):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = baked.make("jupyter", EXP="train", PORT=str(port), timeout=120)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert f"port {port}" in errors[0] and "PORT=" in errors[0]
    assert not (baked.path / ".runs" / "train").exists()  # nothing staged or built
