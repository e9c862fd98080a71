"""Run a child process, tee its output to a log, and stop it cleanly on Ctrl-C,
SIGTERM (`timeout`, a CI cancel, `docker stop`) or SIGHUP (the terminal closed).

`handle_stop_signals()` (called by the CLI) makes all three raise KeyboardInterrupt in
the main thread, once: the code that catches it stops what it started, records
"interrupted" and exits 130. Pipeline steps run children from worker threads; only
the main thread gets signals, so it calls `stop_all()`, which stops every child
still running and refuses to start new ones.

Each child runs in its own session (process group), so stopping it reaches every
process it started (a venv job's `bash -c "a; b"` and its grandchildren), not only
the first one."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from amlops.console import strip_ansi

INTERRUPTED = 130
TIMED_OUT = 124  # like `timeout`: a job stopped at its limits.timeout
STOP_GRACE_S = 10  # SIGTERM, then SIGKILL after this many seconds
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

_live: Dict[int, Tuple["subprocess.Popen[bytes]", Optional[Callable[[], None]]]] = {}
_stopped: set = set()
_threads: Dict[int, int] = {}  # child pid -> ident of the thread that started it
_lock = threading.Lock()
_stopping = threading.Event()  # set by stop_all(): no new child may start


class _Flag:
    """A flag a signal handler may set: threading.Event.set() takes a lock, and a second
    signal arriving while the first handler holds it deadlocked the process (a TERM to
    make's process group reaches amlops more than once). A bool is atomic under the GIL."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set


_signalled = _Flag()  # a stop signal arrived: later ones are ignored


def _detach_terminal() -> None:
    """After SIGHUP the terminal is gone: point stdout/stderr that were on it at
    /dev/null, so the clean-up's progress lines cannot fail with EIO."""
    for fd in (1, 2):
        try:
            if os.isatty(fd):
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
        except OSError:
            pass


def _on_stop_signal(signum: int, frame) -> None:  # noqa: ARG001 - signal handler signature
    if signum == getattr(signal, "SIGHUP", None):
        _detach_terminal()
    if _signalled.is_set():
        return  # already stopping: let the clean-up finish (containers, records)
    _signalled.set()
    raise KeyboardInterrupt


def handle_stop_signals() -> None:
    """Make SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt (the first one only).

    Call it from the main thread at start-up; elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return
    _signalled.clear()
    _stopping.clear()
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_stop_signal)


def _signal_group(proc: "subprocess.Popen[bytes]", signum: int) -> None:
    """Send `signum` to the child's whole process group (the child alone on Windows)."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signum)
        elif signum == signal.SIGTERM:
            proc.terminate()
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def _stop(proc: "subprocess.Popen[bytes]", on_interrupt: Optional[Callable[[], None]]) -> None:
    """Stop the child and everything it started; `on_interrupt` runs before and after
    (a container being created while the first call ran is removed by the second)."""
    if on_interrupt:
        on_interrupt()
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(proc, getattr(signal, "SIGKILL", signal.SIGTERM))
        proc.wait()
    if os.name == "posix":  # grandchildren that ignored SIGTERM
        _signal_group(proc, signal.SIGKILL)
    if on_interrupt:
        on_interrupt()


def stopping() -> bool:
    """Whether a stop signal arrived or stop_all() ran: work failing now was stopped."""
    return _stopping.is_set() or _signalled.is_set()


def stop_all() -> None:
    """Stop every child started by run_tee that is still running (any thread), and
    make later run_tee calls return INTERRUPTED without starting anything."""
    with _lock:
        _stopping.set()
        running = list(_live.items())
        _stopped.update(pid for pid, _ in running)
    for _, (proc, on_interrupt) in running:
        _stop(proc, on_interrupt)


class _Echo:
    """Our stdout, until writing fails (the reader went away, the terminal closed):
    then the output still goes to the log, and the run is not disturbed."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def write(self, chunk: bytes) -> None:
        if not self.enabled:
            return
        try:
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        except (OSError, ValueError):
            self.enabled = False


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
    timeout: Optional[float] = None,
) -> int:
    """Run `argv`, copying stdout+stderr to `log_path` (and to our stdout if `echo`).

    The child gets no stdin (as in Azure ML). Returns the child's exit code,
    INTERRUPTED (130) after a stop signal or stop_all(), or TIMED_OUT (124) when it
    ran longer than `timeout` seconds (a job's limits.timeout) and was stopped;
    `on_interrupt` is called then to stop whatever the child started (a container)."""
    out = _Echo(echo)
    expired = threading.Event()
    with open(log_path, "ab", buffering=0) as log:  # unbuffered: a full disk fails the write
        with _lock:
            if _stopping.is_set():
                log.write(b"[amlops] interrupted before it started\n")
                return INTERRUPTED
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=os.name == "posix",
            )
            _live[proc.pid] = (proc, on_interrupt)
            _threads[proc.pid] = threading.get_ident()
        timer = None
        if timeout:

            def expire() -> None:
                expired.set()
                _stop(proc, on_interrupt)

            timer = threading.Timer(timeout, expire)
            timer.daemon = True
            timer.start()
        try:
            fd = proc.stdout.fileno()
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                out.write(chunk)
                log.write(chunk)
                log.flush()  # live: `tail -f` a pipeline step's log while it runs
            code = proc.wait()
            with _lock:
                stopped = proc.pid in _stopped
            if stopped:
                log.write(b"\n[amlops] interrupted\n")
                return INTERRUPTED
            if expired.is_set():
                note = f"\n[amlops] stopped: limits.timeout of {timeout:g} s reached\n"
                out.write(note.encode())
                log.write(note.encode())
                return TIMED_OUT
            return code
        except KeyboardInterrupt:
            _stop(proc, on_interrupt)
            log.write(b"\n[amlops] interrupted\n")
            return INTERRUPTED
        except OSError:  # the log cannot be written (a full disk): stop the child too
            _stop(proc, on_interrupt)
            raise
        finally:
            if timer:
                timer.cancel()
            with _lock:
                _live.pop(proc.pid, None)
                _threads.pop(proc.pid, None)
                _stopped.discard(proc.pid)
            proc.stdout.close()


# Lines that name what failed, best first: pip's "ERROR: No matching distribution found
# for x", uv's "cause: Because x was not found in the package registry ...", uv's "error:".
TELLING_PREFIXES = ("ERROR:", "cause:", "error:")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _statements(text: str) -> List[str]:
    """The non-blank lines of `text`; a line starting with one of TELLING_PREFIXES is
    joined with the more-indented lines under it (uv, through miette, wraps a long
    `cause:` at 80 columns)."""
    joined: List[str] = []
    head_indent = -1
    for raw in strip_ansi(text).splitlines():
        line = raw.strip()
        if not line:
            head_indent = -1
            continue
        if joined and head_indent >= 0 and _indent(raw) > head_indent:
            if not line.startswith(TELLING_PREFIXES):
                joined[-1] += " " + line
                continue
        joined.append(line)
        head_indent = _indent(raw) if line.startswith(TELLING_PREFIXES) else -1
    return joined


def telling_line(text: str, default: str = "no output") -> str:
    """The line of a failed tool's output that says most: its last line that starts with
    one of TELLING_PREFIXES (the first prefix found wins; wrapped lines joined), else
    its last line."""
    lines = _statements(text)
    for prefix in TELLING_PREFIXES:
        errors = [line for line in lines if line.startswith(prefix)]
        if errors:
            return errors[-1]
    return (lines or [default])[-1]


def telling_log_line(log_path: Path) -> str:
    """telling_line() of a log file."""
    return telling_line(log_path.read_text(encoding="utf-8", errors="replace"))
