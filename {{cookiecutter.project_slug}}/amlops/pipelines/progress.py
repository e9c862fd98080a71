"""One live line per pipeline step: waiting, building, running, reused, done, failed.

On a terminal the lines are redrawn in place; elsewhere (CI logs, pipes) each
change of state is printed once as its own line."""

import os
import shutil
import sys
import threading
import time
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, TextIO, Tuple

from amlops.console import lines_through

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

    @contextmanager
    def shown(self) -> Iterator[None]:
        """While inside, on a terminal: the lines are drawn, and amlops's own messages
        (console.say) are written above them instead of through them."""
        if not self.live:
            yield
            return
        with self._lock:
            self._draw()
        with lines_through(self.note):
            yield

    def note(self, line: str) -> None:
        """Write `line` above the live lines, which are redrawn below it."""
        with self._lock:
            if self._drawn:
                self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self.stream.write(f"{line}\n")
            self._drawn = 0
            self._draw()

    def set(self, step: str, state: str, detail: str = "") -> None:
        """Move `step` to `state` (with a short detail, e.g. the duration)."""
        with self._lock:
            self._state[step] = (state, detail, time.monotonic())
            if self.live:
                if self._drawn:  # else shown() draws them
                    self._draw()
            else:
                self.stream.write(f"amlops: {self._line(step)}\n")
                self.stream.flush()

    def tick(self) -> None:
        """Redraw (live mode only) so running steps show their elapsed time."""
        if self.live and self._drawn:
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
