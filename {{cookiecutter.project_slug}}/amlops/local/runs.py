"""Run folders: one new folder per run, never reused, kept on failure."""

import json
import re
import secrets
import time
from pathlib import Path
from typing import Any, Dict

from amlops.jsonfile import write_json

RUN_FILE = "run.json"
PIPELINE_FILE = "pipeline.json"  # a pipeline run folder's record
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")  # the names unique_folder() makes


def new_run_dir(runs_root: Path, experiment: str) -> Path:
    """Create `.runs/<experiment>/<timestamp>-<random>/` with outputs/ and logs/."""
    return make_run_dir(unique_folder(runs_root / experiment), exist_ok=True)


def unique_folder(parent: Path) -> Path:
    """Create and return `parent/<timestamp>-<random>/` (a RUN_ID); names sort by start
    second."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    while True:
        folder = parent / f"{stamp}-{secrets.token_hex(3)}"
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue


def make_run_dir(run_dir: Path, exist_ok: bool = False) -> Path:
    """Create `run_dir` with outputs/ and logs/."""
    run_dir.mkdir(parents=True, exist_ok=exist_ok)
    (run_dir / "outputs").mkdir()
    (run_dir / "logs").mkdir()
    return run_dir


def read_record(run_dir: Path) -> Dict[str, Any]:
    """The run.json of a run folder, or {} when missing or unreadable."""
    try:
        return json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


class RunRecord:
    """run.json: what ran, with what, and how it ended (rewritten at each stage)."""

    def __init__(self, run_dir: Path, **fields: Any) -> None:
        self.path = run_dir / RUN_FILE
        self.data: Dict[str, Any] = {"status": "running", "started": time.time()}
        self.data.update(fields)
        self._started = time.monotonic()
        self.save()

    def finish(self, exit_code: int, status: str = "") -> float:
        """Record the end; returns the duration in seconds."""
        duration = time.monotonic() - self._started
        self.data.update(
            exit_code=exit_code,
            status=status or ("completed" if exit_code == 0 else "failed"),
            ended=time.time(),
            duration_s=round(duration, 3),
        )
        self.save()
        return duration

    def save(self) -> None:
        write_json(self.path, self.data)
