"""Run folders: one new folder per run, never reused, kept on failure.

A record (run.json, pipeline.json) says "running" while its process works; it also
names that process (`pid`, `host`), so a reader can tell a run whose process is gone
(killed with SIGKILL, the machine rebooted) from a live one: current_status()."""

import json
import os
import re
import secrets
import socket
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from amlops import __version__
from amlops.jsonfile import write_json

RUN_FILE = "run.json"
PIPELINE_FILE = "pipeline.json"  # a pipeline run folder's record
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")  # the names unique_folder() makes
LATEST = "latest"  # beside the run folders, a link to the newest


def new_run_dir(runs_root: Path, experiment: str) -> Path:
    """Create `.runs/<experiment>/<timestamp>-<random>/` with outputs/ and logs/."""
    return make_run_dir(unique_folder(runs_root / experiment), exist_ok=True)


def unique_folder(parent: Path) -> Path:
    """Create and return `parent/<timestamp>-<random>/` (a RUN_ID), and point
    `parent/latest` at it; names sort by start second."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    while True:
        folder = parent / f"{stamp}-{secrets.token_hex(3)}"
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            continue
        link_latest(folder)
        return folder


def link_latest(run_dir: Path) -> None:
    """Point `run_dir.parent/latest` at `run_dir`, replacing the link in one step (a
    reader never finds it missing). Where links cannot be made (Windows without
    developer mode) nothing happens. Readers of run folders skip it: run_folders()."""
    link = run_dir.parent / LATEST
    temporary = run_dir.parent / f".{LATEST}.{os.getpid()}"
    try:
        temporary.unlink(missing_ok=True)
        os.symlink(run_dir.name, temporary, target_is_directory=True)
        os.replace(temporary, link)
    except OSError:
        temporary.unlink(missing_ok=True)


def run_folders(parent: Path) -> List[Path]:
    """The run folders directly in `parent` (RUN_ID names, not the `latest` link),
    oldest first by name; [] when `parent` does not exist."""
    if not parent.is_dir():
        return []
    return sorted(
        p for p in parent.iterdir() if RUN_ID.match(p.name) and p.is_dir() and not p.is_symlink()
    )


def make_run_dir(run_dir: Path, exist_ok: bool = False) -> Path:
    """Create `run_dir` with outputs/ and logs/."""
    run_dir.mkdir(parents=True, exist_ok=exist_ok)
    (run_dir / "outputs").mkdir()
    (run_dir / "logs").mkdir()
    return run_dir


def owner() -> Dict[str, Any]:
    """The `pid` and `host` fields that name this process in a record, and the
    `amlops_version` (amlops.__version__) of the bundled module that wrote it."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "amlops_version": __version__}


def _process_start(pid: int) -> Optional[float]:
    """When process `pid` started (epoch seconds), from /proc; None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: starttime
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_gone(record: Dict[str, Any]) -> bool:
    """Whether the process that wrote `record` has certainly ended: its pid is on this
    host and no longer exists, or now belongs to a process started after the record.
    False when unsure (another host, no pid recorded, Windows)."""
    pid, host = record.get("pid"), record.get("host")
    if not isinstance(pid, int) or host != socket.gethostname() or os.name != "posix":
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    started = _process_start(pid)
    recorded = record.get("started")
    return bool(started and isinstance(recorded, (int, float)) and started > recorded + 2)


def current_status(record: Dict[str, Any]) -> str:
    """The record's status, "interrupted" for a "running" one whose process is gone."""
    status = str(record.get("status", ""))
    if status == "running" and process_gone(record):
        return "interrupted"
    return status


def read_record(run_dir: Path) -> Dict[str, Any]:
    """The run.json of a run folder, or {} when missing or unreadable; a stale
    "running" record (its process gone) reads as "interrupted" (current_status())."""
    try:
        record = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if isinstance(record, dict) and record.get("status") == "running":
        record["status"] = current_status(record)
    return record if isinstance(record, dict) else {}


class RunRecord:
    """run.json: what ran, with what, and how it ended (rewritten at each stage)."""

    def __init__(self, run_dir: Path, **fields: Any) -> None:
        self.path = run_dir / RUN_FILE
        self.data: Dict[str, Any] = {"status": "running", "started": time.time(), **owner()}
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
