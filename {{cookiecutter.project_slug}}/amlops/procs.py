"""Run a child process, tee its output to a log, and stop it cleanly on Ctrl-C."""

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

INTERRUPTED = 130


def _raise_interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


def run_tee(
    argv: List[str],
    log_path: Path,
    env: Optional[Dict[str, str]] = None,
    cwd: Optional[Path] = None,
    on_interrupt: Optional[Callable[[], None]] = None,
) -> int:
    """Run `argv`, copying stdout+stderr to our stdout and to `log_path`.

    Returns the child's exit code, or 130 after Ctrl-C/SIGTERM (when
    `on_interrupt` is called first to stop whatever the child started)."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    out = sys.stdout.buffer
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )
        try:
            fd = proc.stdout.fileno()
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                out.write(chunk)
                out.flush()
                log.write(chunk)
            return proc.wait()
        except KeyboardInterrupt:
            if on_interrupt:
                on_interrupt()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.write(b"\n[amlops] interrupted\n")
            return INTERRUPTED
        finally:
            signal.signal(signal.SIGTERM, previous)
            proc.stdout.close()
