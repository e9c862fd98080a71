"""A block of lines redrawn in place at the bottom of a terminal (a pipeline's steps, a
sweep's leaderboard), with amlops's own messages (console.say) written above it."""

import os
import shutil
import threading
from contextlib import contextmanager
from typing import Iterator, List, TextIO

from amlops.console import lines_through


def is_live(stream: TextIO) -> bool:
    """Whether `stream` is a terminal that takes cursor movement (not TERM=dumb)."""
    return stream.isatty() and os.environ.get("TERM", "") != "dumb"


class LiveLines:
    """The block: draw() replaces it; note() writes a line above it. Thread-safe."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.drawn = 0  # lines on screen now
        self._lines: List[str] = []
        self._lock = threading.RLock()

    def draw(self, lines: List[str]) -> None:
        with self._lock:
            if self.drawn:
                self.stream.write(f"\x1b[{self.drawn}F")
            # A wrapped line would break the cursor-up count: cut lines to the width.
            width = max(20, shutil.get_terminal_size().columns - 1)
            for line in lines:
                self.stream.write(f"\x1b[2K{line[:width]}\n")
            self.drawn, self._lines = len(lines), list(lines)
            self.stream.flush()

    def note(self, line: str) -> None:
        """Write `line` above the block, which is redrawn below it."""
        with self._lock:
            if self.drawn:
                self.stream.write(f"\x1b[{self.drawn}F\x1b[J")
            self.stream.write(f"{line}\n")
            self.drawn = 0
            self.draw(self._lines)

    @contextmanager
    def taking_messages(self) -> Iterator[None]:
        """While inside, console.say() writes above the block instead of through it."""
        with lines_through(self.note):
            yield
