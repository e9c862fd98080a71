"""Run a job's command in a Python virtual environment (no Docker engine needed).

Inputs are made read-only for the run where the OS allows it (a private read-only
bind mount on Linux, else their write bits are removed for the run), and their
content is compared before and after the run: any change fails the run, naming
the changed files."""

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

from amlops.console import say
from amlops.errors import UserError
from amlops.jobspec import JobSpec
from amlops.local.environments import REQUIREMENT_FILE, VenvRecipe, venv_recipe
from amlops.local.procs import run_tee, telling_log_line
from amlops.local.resolve import ResolvedJob
from amlops.project import Project

READY = ".amlops-ready"


class VenvRuntime:
    """A venv standing in for the job's environment (see local/environments.py for what
    it installs), cached by the hash of what it installs.

    VENV_PYTHON picks the interpreter (default: the one running amlops); VENV_DIR
    the cache folder (default .runs/.venvs), which projects may share."""

    name = "venv"
    in_container = False

    def __init__(self, project: Project, spec: Optional[JobSpec]) -> None:
        self.project = project
        recipe = venv_recipe(project, spec) if spec else VenvRecipe([], project.root)
        self.requirement_lines = recipe.requirement_lines
        self.notice = recipe.notice
        self.python = project.settings.get("VENV_PYTHON", sys.executable)
        digest = hashlib.sha256(self.python.encode() + b"\0")
        for line in self.requirement_lines:
            digest.update(line.encode() + b"\0")
            for included in REQUIREMENT_FILE.findall(line):
                path = Path(shlex.split(included)[0])
                if path.is_file():
                    digest.update(path.read_bytes())
        # Keyed by content only: experiments with the same requirements share one venv.
        cache = Path(project.settings.get("VENV_DIR", str(project.runs / ".venvs")))
        self.path = (project.root / cache).resolve() / digest.hexdigest()[:12]

    def unavailable(self) -> str:
        """Empty when VENV_PYTHON can create venvs, else why not."""
        probe = [self.python, "-c", "import venv, ensurepip"]
        try:
            failed = subprocess.run(probe, capture_output=True).returncode != 0
        except OSError as err:
            return f"cannot run VENV_PYTHON={self.python} ({err.strerror})"
        if failed:
            return f"{self.python} lacks the venv/ensurepip modules (apt install python3-venv)"
        return ""

    def describe(self) -> str:
        return f"venv {self.project.relative(self.path)}"

    @property
    def bin_dir(self) -> Path:
        return self.path / ("Scripts" if os.name == "nt" else "bin")

    def identity(self) -> str:
        return f"venv:{self.path.name}"

    def ready(self) -> bool:
        return (self.path / READY).is_file()

    def prepare(self, echo: bool = True) -> bool:
        """Create the venv unless a complete one exists; True when built."""
        if self.ready():
            return False
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        log = self.path.with_suffix(".log")
        if echo:
            say(f"building {self.describe()} (log: {log})")
        pip = [str(self.bin_dir / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
        steps = {
            f"{self.python} -m venv": [self.python, "-m", "venv", str(self.path)],
            "pip install --upgrade pip": pip + ["--upgrade", "pip"],
        }
        if self.requirement_lines:
            listed = self.path.with_suffix(".requirements.txt")
            listed.write_text("\n".join(self.requirement_lines) + "\n", encoding="utf-8")
            shown = "pip install " + " ".join(self._shown_requirements())
            steps[shown] = pip + ["-r", str(listed)]
        with open(log, "w", encoding="utf-8") as handle:
            for shown, argv in steps.items():
                code = subprocess.run(argv, stdout=handle, stderr=subprocess.STDOUT).returncode
                if code:
                    shutil.rmtree(self.path, ignore_errors=True)
                    raise UserError(
                        f"venv runtime: {shown} failed (exit {code}): {telling_log_line(log)};"
                        f" log: {self.project.relative(log)}"
                    )
        (self.path / READY).write_text("ok\n", encoding="utf-8")
        return True

    def _shown_requirements(self) -> List[str]:
        """The requirement lines with `-r` files relative to the project, for messages."""
        shown = []
        for line in self.requirement_lines:
            included = REQUIREMENT_FILE.findall(line)
            if included:
                path = Path(shlex.split(included[0])[0])
                shown.append(f"-r {self.project.relative(path)}")
            else:
                shown.append(line)
        return shown

    def with_packages(self, suffix: str, packages: List[str]) -> None:
        """pip install `packages` into this venv once (a marker file remembers them)."""
        marker = self.path / f".amlops-{suffix}"
        if marker.is_file() and marker.read_text(encoding="utf-8") == " ".join(packages):
            return
        say(f"installing {' '.join(packages)} into {self.describe()}")
        pip = [str(self.bin_dir / "python"), "-m", "pip", "install", "--quiet", *packages]
        done = subprocess.run(pip, capture_output=True, text=True)
        if done.returncode:
            raise UserError(
                f"venv runtime: pip install {' '.join(packages)} failed: {done.stderr[-300:]}"
            )
        marker.write_text(" ".join(packages), encoding="utf-8")

    def run(self, job: ResolvedJob, run_dir: Path, env: Dict[str, str], echo: bool = True) -> int:
        """Run the job's command with the venv first on PATH, its inputs read-only
        where this OS allows it (amlops.local.readonly), and checked after the run:
        a changed input fails the run (exit 1 unless the command failed) with the
        changed files named. Returns the command's exit code, or 130 when stopped."""
        from amlops.local.readonly import ReadOnlyInputs, describe_changes

        guard = ReadOnlyInputs(
            # a `mode: download` input is the run's own copy: it may change
            {name: binding.host for name, binding in job.inputs.items() if binding.read_only},
            keep_writable=[run_dir, self.project.runs, self.path],
            state_dir=self.project.runs / ".readonly",
        )
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
        argv = guard.wrap([shell, *job.argv[1:]] if job.argv[0] == "bash" else job.argv)
        with guard.protected():
            code = run_tee(argv, log, env=child_env, cwd=run_dir / "src", echo=echo)
        changed = guard.changed()
        if changed:
            message = (
                f"amlops: input(s) changed during the run: {describe_changes(changed)};"
                " inputs are read-only (write to an output instead)\n"
            )
            if echo:
                sys.stderr.write(message)
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(message)
            return code or 1
        return code
