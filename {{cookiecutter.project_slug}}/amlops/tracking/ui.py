"""`make ui`: the MLflow UI on the local store (.runs/mlruns), at http://127.0.0.1:<UI_PORT>.

The UI is part of full MLflow (~850 MB with pandas, pyarrow, Flask, SQLAlchemy),
which neither the project's tools nor the experiments' images need. It runs from
the Python running amlops when that has MLflow, else from a venv made once under
UI_VENV (default .runs/.tools/mlflow; `pip install mlflow`, about two minutes the
first time). With MLFLOW_TRACKING_URI set to a server, that server already is the
UI: nothing is started."""

import os
import subprocess
import sys
from pathlib import Path
from typing import List

from amlops.console import say
from amlops.errors import UserError
from amlops.project import Project
from amlops.tracking.local import is_file_uri, shown_uri, tracking_uri

UI_PACKAGE = "mlflow>=2.9"


def _has_mlflow_server(python: str) -> bool:
    probe = [python, "-c", "import mlflow.server"]
    try:
        return subprocess.run(probe, capture_output=True).returncode == 0
    except OSError:
        return False


def ui_python(project: Project) -> str:
    """A Python with full MLflow: the current one, else UI_VENV's (made when missing)."""
    if _has_mlflow_server(sys.executable):
        return sys.executable
    venv = Path(project.settings.get("UI_VENV", str(project.runs / ".tools" / "mlflow")))
    venv = (project.root / venv).resolve()
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if python.is_file() and _has_mlflow_server(str(python)):
        return str(python)
    say(
        f"first use: installing the MLflow UI ({UI_PACKAGE}, ~850 MB) into {project.relative(venv)}"
    )
    steps: List[List[str]] = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "--quiet", UI_PACKAGE],
    ]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"make ui: {' '.join(argv[-3:])} failed: {last}")
    return str(python)


def ui_argv(project: Project, python: str, port: str) -> List[str]:
    return [
        python,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        tracking_uri(project),
        "--host",
        "127.0.0.1",
        "--port",
        port,
    ]


def run_ui(project: Project, port: str) -> int:
    """Serve the MLflow UI on the local store until Ctrl-C; its exit code."""
    if not port.isdigit():
        raise UserError(f"UI_PORT={port!r}: use a port number (e.g. 5000)")
    uri = tracking_uri(project)
    if not is_file_uri(uri):
        say(f"runs are tracked on {shown_uri(uri)} (MLFLOW_TRACKING_URI): open it in a browser")
        return 0
    (project.runs / "mlruns").mkdir(parents=True, exist_ok=True)
    python = ui_python(project)
    say(f"MLflow UI on {project.relative(project.runs / 'mlruns')}: http://127.0.0.1:{port}")
    say("Ctrl-C stops it")
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    try:
        return subprocess.call(ui_argv(project, python, port), env=env, cwd=project.root)
    except KeyboardInterrupt:
        return 0
