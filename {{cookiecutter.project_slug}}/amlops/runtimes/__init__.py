"""Where an experiment's command runs locally: a Docker image or a venv."""

from pathlib import Path
from typing import Dict, Protocol

from amlops.resolve import ResolvedJob


class Runtime(Protocol):
    """What local runs need from a runtime."""

    name: str
    in_container: bool

    def prepare(self) -> bool:
        """Make the environment ready (build an image or a venv); True if it built."""

    def describe(self) -> str:
        """One line naming the environment, for progress output."""

    def run(self, job: ResolvedJob, run_dir: Path, env: Dict[str, str]) -> int:
        """Run the job's command in `run_dir/src`; return its exit code."""
