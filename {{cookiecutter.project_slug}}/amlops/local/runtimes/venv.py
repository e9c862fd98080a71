"""Run a job's command in a Python virtual environment (no Docker engine needed).

The venv stands in for the job's environment with what pip can install (see
local/environments.py: a build context's requirements files, a conda file's pip
section) and is shared by content (amlops.local.venvs). Inputs are read-only for
the run where the OS allows it, and checked unchanged after it.

A job that installs packages itself (`pip install ...` in its command, as Microsoft's
sweep examples do) gets them in an overlay of its own run folder: Azure ML gives each
job its own container, so one run's installs must change neither the venv other runs
share nor another run's packages. pip reads PIP_TARGET (its --target option: every
requirement installed there, none taken from the venv) and the overlay comes first on
PYTHONPATH and PATH. Not covered: `uv pip install` and `pip install --user` in a
command (they write the venv, which the next run then finds changed and rebuilds)."""

import os
import shlex
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional

from amlops.errors import UserError
from amlops.local.environments import VenvRecipe, venv_recipe
from amlops.local.procs import run_tee
from amlops.local.resolve import ResolvedJob
from amlops.local.venvs import venv_for
from amlops.project import Project
from amlops.spec.job import JobSpec

# Words a shell runs itself (POSIX special built-ins, common built-ins, keywords): a
# command starting with one of them names no program to look for.
SHELL_WORDS = frozenset(
    "! . : [ [[ { alias break builtin cd command continue declare echo eval exec exit export"
    " for function if printf pwd read return set shift source test time trap true false"
    " type ulimit umask unset until wait while case select".split()
)


# The overlay of a run's own installs, in its run folder (module docstring).
OVERLAY = ".packages"


def overlay_env(overlay: Path, env: Mapping[str, str]) -> Dict[str, str]:
    """The variables that send a run's `pip install` into `overlay` and put what it
    installs first (a PIP_TARGET the job sets itself is kept)."""
    python_path = [str(overlay)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    return {
        "PIP_TARGET": env.get("PIP_TARGET") or str(overlay),
        "PYTHONPATH": os.pathsep.join(python_path),
        "PATH": f"{overlay / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    }


def tell(message: str, log: Path, echo: bool) -> None:
    """One amlops line (ending in a newline) on stderr when `echo`, and in the run's log."""
    if echo:
        sys.stderr.write(message)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(message)


def missing_program(command: str, path: str, cwd: Path) -> str:
    """The program a command starts with when neither `path` (a PATH value) nor `cwd`
    has it - e.g. `Rscript` of an R job whose environment a Python venv stands in for;
    "" when it is found, or when the command does not start with a plain program name
    (a variable assignment, a shell built-in or keyword, text shlex cannot split)."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return ""
    if not words or "=" in words[0] or words[0] in SHELL_WORDS:
        return ""
    program = words[0]
    if "/" in program:
        return "" if (cwd / program).exists() or Path(program).exists() else program
    return "" if shutil.which(program, path=path) else program


class VenvRuntime:
    """The shared venv (amlops.local.venvs) standing in for a job's environment.

    VENV_PYTHON picks the interpreter (default: the one running amlops); VENV_DIR
    the cache folder (default .runs/.venvs), which projects may share."""

    name = "venv"
    in_container = False

    def __init__(self, project: Project, spec: Optional[JobSpec]) -> None:
        self.project = project
        recipe = venv_recipe(project, spec) if spec else VenvRecipe([], project.root)
        self.notice = recipe.notice
        self.detail = recipe.detail
        self.venv = venv_for(
            project, recipe.requirement_lines, recipe.base_dir, source=recipe.source
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

    @contextmanager
    def _in_use(self, echo: bool) -> Iterator[None]:
        """The venv held as in use for the run (Venv.in_use), found complete under the
        hold; one deleted meanwhile (e.g. by an older amlops) is built again first."""
        for _ in range(3):
            with self.venv.in_use():
                if self.venv.ready():
                    yield
                    return
            self.venv.prepare(echo)  # outside the hold: a rebuild waits for the holders
        raise UserError(f"{self.venv.describe()} keeps disappearing as runs start; run again")

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
        overlay = run_dir / OVERLAY
        child_env.update(overlay_env(overlay, child_env))
        shell = shutil.which("bash") or shutil.which("sh") or "sh"
        log = run_dir / "logs" / "std_log.txt"
        program = missing_program(job.command, child_env["PATH"], run_dir / "src")
        if program:
            message = (
                f"amlops: the command runs {program!r}, which neither the venv nor this machine"
                " has: a venv stands in only for a Python environment; run it in the job's"
                f" own environment (RUNTIME=docker) or install {program} here\n"
            )
            tell(message, log, echo)
            return 127  # the shell's "command not found"
        argv = guard.wrap([shell, *job.argv[1:]] if job.argv[0] == "bash" else job.argv)
        with guard.protected(), self._in_use(echo):
            code = run_tee(
                argv, log, env=child_env, cwd=run_dir / "src", echo=echo, timeout=job.timeout
            )
        if overlay.is_dir() and any(overlay.iterdir()):
            message = (
                f"amlops: the job installed packages: they are in its own"
                f" {self.project.relative(overlay)}, the shared venv is unchanged (Azure ML"
                " gives each job its own container; list them in the environment to build"
                " them in)\n"
            )
            tell(message, log, echo)
        changed = guard.changed()
        if changed:
            message = (
                f"amlops: input(s) changed during the run: {describe_changes(changed)};"
                " inputs are read-only (write to an output instead)\n"
            )
            tell(message, log, echo)
            return code or 1
        return code
