"""Run folders: one new folder per run, never reused, kept on failure.

A record (run.json, pipeline.json) says "running" while its process works; it also
names that process (`pid`, `host`), so a reader can tell a run whose process is gone
(killed with SIGKILL, the machine rebooted) from a live one: current_status()."""

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from amlops import __version__
from amlops.jsonfile import release_spare, write_json

RUN_FILE = "run.json"
PIPELINE_FILE = "pipeline.json"  # a pipeline run folder's record
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")  # the names unique_folder() makes
LATEST = "latest"  # beside the run folders, a link to the newest


def hostname() -> str:
    """This machine's name (socket.gethostname(); on POSIX the same from os.uname(),
    without importing socket for every run)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def new_run_dir(runs_root: Path, experiment: str) -> Path:
    """Create `.runs/<experiment>/<timestamp>-<random>/` with outputs/ and logs/."""
    return make_run_dir(unique_folder(runs_root / experiment), exist_ok=True)


def unique_folder(parent: Path) -> Path:
    """Create and return `parent/<timestamp>-<random>/` (a RUN_ID), and point
    `parent/latest` at it; names sort by start second."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    while True:
        folder = parent / f"{stamp}-{os.urandom(3).hex()}"
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
    return {"pid": os.getpid(), "host": hostname(), "amlops_version": __version__}


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
    if not isinstance(pid, int) or host != hostname() or os.name != "posix":
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


NUMBER = (int, float)
# The fields of a record that readers use, with their types (None is always allowed).
RUN_FIELDS: Dict[str, Any] = {
    "status": str,
    "started": NUMBER,
    "ended": NUMBER,
    "duration_s": NUMBER,
    "exit_code": int,
    "pid": int,
    "host": str,
    "experiment": str,
    "kind": str,
    "step": str,
    "pipeline": str,
    "tracking": dict,
    "inputs": dict,
    "literals": dict,
    "outputs": dict,
    "best_values": dict,
}
PIPELINE_FIELDS: Dict[str, Any] = {
    "status": str,
    "started": NUMBER,
    "ended": NUMBER,
    "pid": int,
    "host": str,
    "steps": dict,
}
STEP_FIELDS: Dict[str, Any] = {
    "state": str,
    "exit_code": int,
    "duration_s": NUMBER,
    "step_dir": str,
    "reused_from": str,
    "outputs": dict,
}
# The numbers readers pass on to the OS (a pid to kill(2), times to localtime(3)) or
# print, with the range they must lie in: JSON also holds NaN, Infinity and integers of
# any size, which would end those calls in ValueError or OverflowError.
LIMITS: Dict[str, Any] = {
    "started": (0, 32503680000),  # up to the year 3000
    "ended": (0, 32503680000),
    "duration_s": (0, 1e9),
    "pid": (1, 2**31 - 1),
    "exit_code": (-(2**31), 2**31 - 1),
}
_told: set = set()  # damaged records already reported by this process


def record_problem(record: Any, fields: Dict[str, Any]) -> str:
    """Why `record` is not a record with `fields` of their types, numbers within LIMITS
    (empty when it is)."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    for key, kind in fields.items():
        value = record.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, kind):
            return f"{key!r} is {json.dumps(value)[:40]}"
        low, high = LIMITS.get(key, (None, None))
        if low is not None and not low <= value <= high:  # False for NaN too
            return f"{key!r} is {str(value)[:40]}, not between {low} and {high}"
        if key in ("tracking", "outputs"):
            if not all(isinstance(v, str) for v in value.values()):
                return f"{key!r} holds a value that is not text"
    return ""


def pipeline_problem(record: Any) -> str:
    """record_problem() of a pipeline.json, its steps included."""
    problem = record_problem(record, PIPELINE_FIELDS)
    for name, step in (record.get("steps") or {}).items() if not problem else ():
        problem = record_problem(step, STEP_FIELDS)
        if problem:
            return f"step {name!r}: {problem}"
    return problem


def reuse_problem(record: Any) -> str:
    """Why a reuse record (.runs/.reuse/<key>.json: step_dir, outputs, digests) is
    damaged; empty when it is whole."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    if not isinstance(record.get("step_dir"), str):
        return "no step_dir"
    for key in ("outputs", "digests"):
        value = record.get(key)
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            return f"{key!r} is not a mapping of text"
    return ""


def tell_damaged(path: Path, why: str) -> None:
    """Say once per process that the record at `path` is damaged and skipped."""
    if path in _told:
        return
    _told.add(path)
    try:
        shown = os.path.relpath(path)
    except ValueError:
        shown = str(path)
    from amlops.console import say

    say(f"skipping damaged record {shown} ({why})")


def load_record(path: Path, check: Any = None) -> Optional[Dict[str, Any]]:
    """The JSON object at `path`; None when it is missing, or damaged (not UTF-8, not
    JSON, or `check(record)` - by default record_problem() with RUN_FIELDS - names a
    problem), which is said once in one line naming the file (tell_damaged)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        why = "not UTF-8" if isinstance(err, UnicodeDecodeError) else "not valid JSON"
        tell_damaged(path, why)
        return None
    problem = (check or (lambda r: record_problem(r, RUN_FIELDS)))(record)
    if problem:
        tell_damaged(path, problem)
        return None
    return record


def read_pipeline_record(run_dir: Path) -> Optional[Dict[str, Any]]:
    """The pipeline.json of a pipeline run folder; None when missing or damaged."""
    return load_record(run_dir / PIPELINE_FILE, pipeline_problem)


def read_record(run_dir: Path) -> Dict[str, Any]:
    """The run.json of a run folder, or {} when missing or damaged (said in one line:
    load_record); a stale "running" record (its process gone) reads as "interrupted"
    (current_status())."""
    record = load_record(run_dir / RUN_FILE)
    if record is None:
        return {}
    if record.get("status") == "running":
        record["status"] = current_status(record)
    return record


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
        release_spare(self.path)
        return duration

    def save(self) -> None:
        """Write run.json atomically, keeping a spare so that even a full disk lets the
        last write (the run failed) through (amlops.jsonfile)."""
        write_json(self.path, self.data, spare=True)
