"""Where an experiment's command runs locally: a Docker image or a venv."""

from pathlib import Path
from typing import Dict, List, Optional, Protocol

from amlops.local.resolve import ResolvedJob


class Runtime(Protocol):
    """What local runs need from a runtime."""

    name: str
    in_container: bool
    notice: str  # one line on how the environment differs from the job's (or empty)
    detail: str  # that line in full where it is a summary (or empty), for run.json

    def identity(self) -> str:
        """What the environment is built from (image tag, venv hash): part of step reuse keys."""

    def ready(self) -> bool:
        """Whether the environment is already built (prepare() would do nothing)."""

    def prepare(self, echo: bool = True) -> bool:
        """Make the environment ready (build an image or a venv); True if it built.

        `echo=False` keeps build output in the build log only (pipeline steps)."""

    def describe(self) -> str:
        """One line naming the environment, for progress output."""

    def with_packages(self, suffix: str, packages: List[str]) -> Optional[str]:
        """Add tools (papermill, JupyterLab) once, outside the job's own environment:
        Docker returns a derived image's tag to run instead; a venv installs in place."""

    def run(self, job: ResolvedJob, run_dir: Path, env: Dict[str, str], echo: bool = True) -> int:
        """Run `job.argv` with `run_dir/src` as working directory; return its exit code.

        Output always goes to `run_dir/logs/std_log.txt`, and to stdout if `echo`."""
