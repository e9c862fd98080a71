"""One live line per pipeline step: waiting, building, running, reused, done, failed.

On a terminal the lines are redrawn in place; elsewhere (CI logs, pipes) each
change of state is printed once as its own line."""

import os
import shutil
import sys
import threading
import time
from typing import Dict, List, Optional, TextIO, Tuple

SYMBOLS = {
    "waiting": " ",
    "building": "~",
    "running": ">",
    "reused": "=",
    "completed": "+",
    "failed": "x",
    "skipped": "-",
    "canceled": "-",
    "interrupted": "!",
}


class StepBoard:
    """Thread-safe progress lines for a set of named steps."""

    def __init__(
        self, steps: List[str], labels: Dict[str, str], stream: Optional[TextIO] = None
    ) -> None:
        self.steps = steps
        self.labels = labels
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() and os.environ.get("TERM", "") != "dumb"
        self._lock = threading.Lock()
        self._state: Dict[str, Tuple[str, str, float]] = {
            s: ("waiting", "", time.monotonic()) for s in steps
        }
        self._drawn = 0
        self._width = max(len(s) for s in steps) if steps else 0
        if self.live:
            self._draw()

    def set(self, step: str, state: str, detail: str = "") -> None:
        """Move `step` to `state` (with a short detail, e.g. the duration)."""
        with self._lock:
            self._state[step] = (state, detail, time.monotonic())
            if self.live:
                self._draw()
            else:
                self.stream.write(f"amlops: {self._line(step)}\n")
                self.stream.flush()

    def tick(self) -> None:
        """Redraw (live mode only) so running steps show their elapsed time."""
        if self.live:
            with self._lock:
                self._draw()

    def _line(self, step: str) -> str:
        state, detail, since = self._state[step]
        if state in ("running", "building") and self.live:
            detail = f"{detail} {time.monotonic() - since:.0f}s".strip()
        label = self.labels.get(step, "")
        text = (
            f"[{SYMBOLS.get(state, '?')}] {step.ljust(self._width)}{'  ' + label if label else ''}"
        )
        return f"{text}  {state}{' ' + detail if detail else ''}"

    def _draw(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F")
        # A wrapped line would break the cursor-up count: cut lines to the width.
        width = max(20, shutil.get_terminal_size().columns - 1)
        for step in self.steps:
            self.stream.write(f"\x1b[2K{self._line(step)[:width]}\n")
        self._drawn = len(self.steps)
        self.stream.flush()
