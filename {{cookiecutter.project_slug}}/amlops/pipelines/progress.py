"""One live line per pipeline step: waiting, building, running, reused, done, failed.

On a terminal the lines are redrawn in place; elsewhere (CI logs, pipes) each
change of state is printed once as its own line."""

import sys
import threading
import time
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, TextIO, Tuple

from amlops.live import LiveLines, is_live

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
        self.live = is_live(self.stream)
        self.area = LiveLines(self.stream)
        self._lock = threading.Lock()
        self._state: Dict[str, Tuple[str, str, float]] = {
            s: ("waiting", "", time.monotonic()) for s in steps
        }
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
        with self.area.taking_messages():
            yield

    def set(self, step: str, state: str, detail: str = "") -> None:
        """Move `step` to `state` (with a short detail, e.g. the duration)."""
        with self._lock:
            self._state[step] = (state, detail, time.monotonic())
            if self.live:
                if self.area.drawn:  # else shown() draws them
                    self._draw()
            else:
                self.stream.write(f"amlops: {self._line(step)}\n")
                self.stream.flush()

    def tick(self) -> None:
        """Redraw (live mode only) so running steps show their elapsed time."""
        if self.live and self.area.drawn:
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
        self.area.draw([self._line(step) for step in self.steps])
