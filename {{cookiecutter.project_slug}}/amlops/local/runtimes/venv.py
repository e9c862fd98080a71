"""Run a job's command in a Python virtual environment (no Docker engine needed).

Inputs cannot be mounted read-only here, so their content is fingerprinted
before and after the run, and any change fails the run."""

import os
import shutil
import sys
from pathlib import Path
from typing import Dict, List

from amlops.fingerprint import fingerprint
from amlops.local.procs import run_tee
from amlops.local.resolve import ResolvedJob
from amlops.local.venvs import venv_for
from amlops.project import Project


class VenvRuntime:
    """The shared venv (amlops.local.venvs) of src/<exp>/docker/requirements.txt.

    VENV_PYTHON picks the interpreter (default: the one running amlops); VENV_DIR
    the cache folder (default .runs/.venvs), which projects may share."""

    name = "venv"
    in_container = False

    def __init__(self, project: Project, experiment: str) -> None:
        self.project = project
        self.requirements = project.src / experiment / "docker" / "requirements.txt"
        lines = []
        if self.requirements.is_file():
            lines = self.requirements.read_text(encoding="utf-8").splitlines()
        self.venv = venv_for(
            project, lines, self.requirements.parent, source=project.relative(self.requirements)
        )
        self.python = self.venv.python

    @property
    def path(self) -> Path:
        return self.venv.path

    @property
    def bin_dir(self) -> Path:
        return self.venv.bin_dir

    def unavailable(self) -> str:
        """Empty when venvs can be built with VENV_PYTHON, else why not."""
        return self.venv.unavailable()

    def describe(self) -> str:
        return self.venv.describe()

    def identity(self) -> str:
        return self.venv.identity()

    def ready(self) -> bool:
        return self.venv.ready()

    def prepare(self, echo: bool = True) -> bool:
        """Build the venv unless a complete one exists (or another process is building
        it: then wait for that one); True when this call built it."""
        return self.venv.prepare(echo)

    def with_packages(self, suffix: str, packages: List[str]) -> None:
        """Install `packages` into this venv once (a marker file remembers them)."""
        self.venv.install(packages, suffix)

    def run(self, job: ResolvedJob, run_dir: Path, env: Dict[str, str], echo: bool = True) -> int:
        before = {name: fingerprint(b.host) for name, b in job.inputs.items()}
        child_env = {
            **os.environ,
            **env,
            "VIRTUAL_ENV": str(self.path),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "AMLOPS_LOG_DIR": str(run_dir / "logs"),
        }
        child_env.pop("PYTHONHOME", None)
        shell = shutil.which("bash") or shutil.which("sh") or "sh"
        log = run_dir / "logs" / "std_log.txt"
        argv = [shell, "-c", job.command]
        code = run_tee(argv, log, env=child_env, cwd=run_dir / "src", echo=echo)
        changed = [n for n, b in job.inputs.items() if fingerprint(b.host) != before[n]]
        if changed:
            message = (
                f"amlops: input(s) {', '.join(changed)} changed during the run;"
                " inputs are read-only (write to an output instead)\n"
            )
            if echo:
                sys.stderr.write(message)
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(message)
            return code or 1
        return code
