"""Real MLflow for the tracking and sweep tests: a venv with full MLflow (its client
reads the stores amlops writes; `mlflow server` is a user's own tracking server;
Optuna runs bayesian sweeps), installed once from PyPI into the test cache
($AMLOPS_TEST_CACHE, default /tmp/amlops-test-cache), and the sweep case's
environment with mlflow-skinny, as the experiments' images have it."""

import json
import os
import socket
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any, Dict, List, Tuple

from tests.helpers import REPO, Baked, cached_venv
from tests.native_support import add_case


def amlops_dependencies() -> List[str]:
    """The baked project's [project] dependencies (the template's pyproject.toml holds
    Jinja further down, so only its dependencies table is parsed)."""
    text = (REPO / "{{cookiecutter.project_slug}}" / "pyproject.toml").read_text()
    start = text.index("dependencies = [")
    table = text[start : text.index("]", start) + 1]
    return tomllib.loads(table)["dependencies"]


# with what amlops itself needs, so it can run amlops too
TOOLS = ["mlflow>=3", "optuna>=3.4", *amlops_dependencies()]
# The experiments' own MLflow: mlflow-skinny, in a venv inside the image.
CASE_DOCKERFILE = """ARG BASE_IMAGE=mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
FROM ${BASE_IMAGE}
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \\
    && /opt/venv/bin/python -m pip install --no-cache-dir -r /tmp/requirements.txt
ENV PATH=/opt/venv/bin:$PATH
"""

READ_RUNS = """
import json, sys
from mlflow.tracking import MlflowClient
uri, name = sys.argv[1:3]
client = MlflowClient(tracking_uri=uri)
experiment = client.get_experiment_by_name(name)
runs = client.search_runs([experiment.experiment_id], max_results=1000) if experiment else []
print(json.dumps([
    {
        "run_id": r.info.run_id,
        "name": r.info.run_name,
        "status": r.info.status,
        "params": r.data.params,
        "metrics": r.data.metrics,
        "tags": r.data.tags,
        "history": {
            k: [m.value for m in client.get_metric_history(r.info.run_id, k)]
            for k in r.data.metrics
        },
    }
    for r in runs
]))
"""


def tools_python() -> Path:
    """A Python with full MLflow, Optuna and PyYAML, in its own venv (cached by list)."""
    return cached_venv("mlflow", TOOLS)


def mlflow_runs(uri: str, experiment: str) -> List[Dict[str, Any]]:
    """Every run of `experiment` in the store at `uri`, read by MLflow's own client."""
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "GIT_PYTHON_REFRESH": "quiet"}
    done = subprocess.run(
        [str(tools_python()), "-c", READ_RUNS, uri, experiment],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def local_store(project: Baked) -> str:
    return (project.path / ".runs" / "mlruns").resolve().as_uri()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, seconds: float = 120) -> bool:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def start_mlflow_server(folder: Path) -> Tuple["subprocess.Popen[bytes]", str]:
    """A real `mlflow server` on 127.0.0.1 (SQLite backend in `folder`); (process, URL)."""
    port = free_port()
    argv = [str(tools_python()), "-m", "mlflow", "server", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    argv += ["--default-artifact-root", (folder / "artifacts").as_uri(), "--workers", "1"]
    log = open(folder / "server.log", "wb")
    # Without MLflow's job runner (huey worker processes, ~8 s CPU per start from MLflow
    # 3.x on a SQLite backend): a tracking server here only receives and serves runs.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=folder, env=env)
    url = f"http://127.0.0.1:{port}"
    if not wait_http(f"{url}/health", 180):
        proc.terminate()
        raise AssertionError(f"mlflow server did not start: {(folder / 'server.log').read_text()}")
    return proc, url


def add_sweep_case(project: Baked, name: str = "sweep") -> Path:
    """The sweep case in src/<name>/, its environment given mlflow-skinny (the case's
    objective.py imports mlflow; the image it names has none)."""
    folder = add_case(project, "sweep", name)
    (folder / "docker" / "requirements.txt").write_text("mlflow-skinny\n")
    (folder / "docker" / "Dockerfile").write_text(CASE_DOCKERFILE)
    return folder


def logged_metrics(run_dir: Path) -> Dict[str, float]:
    """The latest value of each metric a local run logged, read from the file store
    (.runs/mlruns) where its run.json says its MLflow run is."""
    tracking = json.loads((run_dir / "run.json").read_text())["tracking"]
    root = Path(tracking["uri"].replace("file://", ""))
    folder = root / tracking["experiment_id"] / tracking["run_id"] / "metrics"
    return {
        path.name: float(path.read_text().splitlines()[-1].split()[1]) for path in folder.iterdir()
    }
