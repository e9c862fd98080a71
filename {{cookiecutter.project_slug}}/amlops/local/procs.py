"""Run a child process, tee its output to a log, and stop it cleanly on Ctrl-C.

Pipeline steps run children from worker threads; only the main thread gets
signals, so it calls `stop_all()` to stop every child still running."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from amlops.console import strip_ansi

INTERRUPTED = 130

_live: Dict[int, Tuple["subprocess.Popen[bytes]", Optional[Callable[[], None]]]] = {}
_stopped: set = set()
_threads: Dict[int, int] = {}  # child pid -> ident of the thread that started it
_lock = threading.Lock()


def _raise_interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


def _stop(proc: "subprocess.Popen[bytes]", on_interrupt: Optional[Callable[[], None]]) -> None:
    if on_interrupt:
        on_interrupt()
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stop_all() -> None:
    """Stop every child started by run_tee that is still running (any thread)."""
    with _lock:
        running = list(_live.items())
        _stopped.update(pid for pid, _ in running)
    for _, (proc, on_interrupt) in running:
        _stop(proc, on_interrupt)


def stop_thread_child(thread: int) -> bool:
    """Stop the child that thread `thread` runs through run_tee (it then returns 130,
    as after Ctrl-C); False when that thread runs none. Sweeps stop one trial so."""
    with _lock:
        found = [(pid, _live[pid]) for pid, ident in _threads.items() if ident == thread]
        _stopped.update(pid for pid, _ in found)
    for _, (proc, on_interrupt) in found:
        _stop(proc, on_interrupt)
    return bool(found)


def run_tee(
    argv: List[str],
    log_path: Path,
    env: Optional[Dict[str, str]] = None,
    cwd: Optional[Path] = None,
    on_interrupt: Optional[Callable[[], None]] = None,
    echo: bool = True,
) -> int:
    """Run `argv`, copying stdout+stderr to `log_path` (and to our stdout if `echo`).

    Returns the child's exit code, or 130 after Ctrl-C/SIGTERM or stop_all()
    (`on_interrupt` is called first to stop whatever the child started)."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if in_main else None
    out = sys.stdout.buffer
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )
        with _lock:
            _live[proc.pid] = (proc, on_interrupt)
            _threads[proc.pid] = threading.get_ident()
        try:
            fd = proc.stdout.fileno()
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                if echo:
                    out.write(chunk)
                    out.flush()
                log.write(chunk)
            code = proc.wait()
            with _lock:
                stopped = proc.pid in _stopped
            if stopped:
                log.write(b"\n[amlops] interrupted\n")
                return INTERRUPTED
            return code
        except KeyboardInterrupt:
            _stop(proc, on_interrupt)
            log.write(b"\n[amlops] interrupted\n")
            return INTERRUPTED
        finally:
            with _lock:
                _live.pop(proc.pid, None)
                _threads.pop(proc.pid, None)
                _stopped.discard(proc.pid)
            if in_main:
                signal.signal(signal.SIGTERM, previous)
            proc.stdout.close()


def telling_line(text: str, default: str = "no output") -> str:
    """The line of a failed tool's output that says most: its last `ERROR:` line (pip's
    "No matching distribution found for ..."), else its last line."""
    lines = [line.strip() for line in strip_ansi(text).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    return (errors or lines or [default])[-1]


def telling_log_line(log_path: Path) -> str:
    """telling_line() of a log file."""
    return telling_line(log_path.read_text(encoding="utf-8", errors="replace"))
