"""The environment of AML_SDK=v1: azureml-core pins packages the project's tools cannot
use (an old pathspec breaks black), and Microsoft advises against installing SDK v1
and v2 together, so the v1 SDK lives in a venv of its own, AML_SDK_V1_VENV (default
.runs/.tools/aml-sdk-v1), built by `make setup` (`python -m amlops install-sdk`).

A cloud command run by a Python without azureml-core re-executes itself in that venv
(reexec_for_v1), so `make job` and friends work from the project's .venv, whose
black, isort, flake8 and pre-commit stay as they are. Imports no Azure SDK."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Sequence

from amlops.console import say, verbose
from amlops.errors import UserError
from amlops.project import Project

# Commands that talk to Azure ML (or build what they would send) through the SDK.
V1_COMMANDS = (
    "job",
    "pipeline",
    "step",
    "notebook-job",
    "publish",
    "datastore",
    "data-pull",
    "data-push",
    "validate",
)
REEXEC_MARK = "AMLOPS_V1_REEXEC"  # set in the re-executed process: never loop


def v1_venv(project: Project) -> Path:
    """The v1 venv folder (AML_SDK_V1_VENV, relative to the project root)."""
    chosen = project.settings.get("AML_SDK_V1_VENV") or str(project.runs / ".tools" / "aml-sdk-v1")
    return (project.root / chosen).resolve()


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def has_v1_sdk() -> bool:
    """Whether this Python can import azureml.core (without importing it)."""
    try:
        return importlib.util.find_spec("azureml.core") is not None
    except ModuleNotFoundError:
        return False


def reexec_for_v1(project: Project, command: str, argv: Sequence[str]) -> None:
    """Replace this process by `python -m amlops <argv>` in the v1 venv when AML_SDK=v1,
    `command` needs the SDK, this Python lacks azureml-core and the venv exists; else
    return (a missing SDK is then reported by the command itself, naming make setup)."""
    if command not in V1_COMMANDS or os.environ.get(REEXEC_MARK):
        return  # a local command (make local...) does not import the backend check
    from amlops.cloud.packages import backend

    if backend(project) != "v1":
        return
    python = venv_python(v1_venv(project))
    if has_v1_sdk() or not python.is_file():
        return
    say(f"AML_SDK=v1: running in its own environment, {project.relative(python.parent.parent)}")
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ[REEXEC_MARK] = "1"
    os.chdir(project.root)  # `-m amlops` imports the project's own amlops/
    os.execv(str(python), [str(python), "-m", "amlops", *argv])


def install_v1(project: Project, packages: List[str]) -> int:
    """Create the v1 venv and pip install `packages` and the project's own dependencies
    (what amlops imports) into it; one line naming the log, whose tail is shown when pip
    fails. Returns pip's exit code (0 when done)."""
    venv = v1_venv(project)
    python = venv_python(venv)
    log = venv.parent / f"{venv.name}.log"
    venv.parent.mkdir(parents=True, exist_ok=True)
    shown = project.relative(venv)
    say(f"installing the Azure ML SDK v1 into {shown}, apart from the tools (log: {log})")
    quiet = [] if verbose() else ["--quiet"]
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", *quiet, "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", *quiet, *packages, "-e", str(project.root)],
    ]
    with open(log, "w", encoding="utf-8") as handle:
        for argv in steps:
            if verbose():
                code = subprocess.run(argv).returncode
            else:
                code = subprocess.run(argv, stdout=handle, stderr=subprocess.STDOUT).returncode
            if code:
                handle.flush()
                from amlops.console import log_tail

                print(log_tail(log), file=sys.stderr, flush=True)
                raise UserError(f"installing SDK v1 into {shown} failed (exit {code}); log: {log}")
    return 0
