"""`make ui`: the MLflow UI on the local store (.runs/mlruns), at http://127.0.0.1:<UI_PORT>.

The UI is part of full MLflow (~850 MB with pandas, pyarrow, Flask, SQLAlchemy),
which neither the project's tools (they have mlflow-skinny, which writes the store)
nor the experiments' images need. It runs from the Python running amlops when that
has full MLflow, else from a venv made once under UI_VENV (default
.runs/.tools/mlflow): `pip install mlflow==<the tools' mlflow-skinny version>`, so
the UI reads the store with the same MLflow that wrote it (about two minutes the
first time). With MLFLOW_TRACKING_URI set to a server, that server already is the
UI: nothing is started.

A port already taken is one line and a non-zero exit before anything starts, and so
is a UI that stops by itself with an error."""

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import List

from amlops.console import say
from amlops.errors import UserError
from amlops.project import Project
from amlops.tracking.local import is_file_uri, shown_uri, tracking_uri

UI_PACKAGE = "mlflow>=3"
UI_HOST = "127.0.0.1"


def ui_package() -> str:
    """Full MLflow at the version of the tools' mlflow-skinny (else `mlflow>=3`)."""
    from importlib import metadata

    try:
        return f"mlflow=={metadata.version('mlflow-skinny')}"
    except metadata.PackageNotFoundError:
        return UI_PACKAGE


def port_taken(port: int, host: str = UI_HOST) -> bool:
    """Whether a server could not listen on host:port now (someone listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def require_port(port: str, setting: str, what: str) -> int:
    """The port number of `setting`; UserError (one line naming the port and the
    setting) when it is not a number or is taken."""
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"{setting}={port!r}: use a port number (e.g. 5000)")
    if port_taken(int(port)):
        raise UserError(
            f"{what} cannot start: port {port} on {UI_HOST} is in use (another program,"
            f" or a {what} already running); choose another with {setting}=<port>"
        )
    return int(port)


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
    package = ui_package()
    say(f"first use: installing the MLflow UI ({package}, ~850 MB) into {project.relative(venv)}")
    steps: List[List[str]] = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "--quiet", package],
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
        UI_HOST,
        "--port",
        port,
    ]


def run_ui(project: Project, port: str) -> int:
    """Serve the MLflow UI on the local store until Ctrl-C; 0 after Ctrl-C, else
    UserError: the port is taken (checked before and, when the UI stops by itself,
    after), or the UI stopped with an error (its exit code)."""
    if not port.isdigit():
        raise UserError(f"UI_PORT={port!r}: use a port number (e.g. 5000)")
    uri = tracking_uri(project)
    if not is_file_uri(uri):
        say(f"runs are tracked on {shown_uri(uri)} (MLFLOW_TRACKING_URI): open it in a browser")
        return 0
    require_port(port, "UI_PORT", "make ui")
    (project.runs / "mlruns").mkdir(parents=True, exist_ok=True)
    python = ui_python(project)
    require_port(port, "UI_PORT", "make ui")  # taken during a first-use install
    say(f"MLflow UI on {project.relative(project.runs / 'mlruns')}: http://{UI_HOST}:{port}")
    say("Ctrl-C stops it")
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    try:
        code = subprocess.call(ui_argv(project, python, port), env=env, cwd=project.root)
    except KeyboardInterrupt:
        return 0
    require_port(port, "UI_PORT", "make ui")  # it stopped by itself: was the port taken?
    if code in (0, -2, 130):  # stopped cleanly, or by a Ctrl-C
        return 0
    raise UserError(f"make ui: the MLflow UI stopped with exit {code} (its output is above)")
