"""Terminal output: progress lines on stderr (so a job's own stdout stays clean)."""

import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_writer: Optional[Callable[[str], None]] = None  # set while a live display owns the terminal


def say(message: str) -> None:
    """Print one `amlops: ...` progress line now (above a live display, if one is shown)."""
    line = f"amlops: {message}"
    if _writer is not None:
        _writer(line)
    else:
        print(line, file=sys.stderr, flush=True)


@contextmanager
def lines_through(writer: Callable[[str], None]) -> Iterator[None]:
    """Send say()'s lines to `writer` meanwhile (a live display that redraws below them)."""
    global _writer
    before, _writer = _writer, writer
    try:
        yield
    finally:
        _writer = before


def verbose() -> bool:
    """VERBOSE=1 (make VERBOSE=1 or the environment): stream whole tool output (docker
    build, pip, papermill) instead of one line and the path of its log."""
    return os.environ.get("VERBOSE", "").strip() not in ("", "0")


def log_tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file, colour codes stripped and each indented by
    two spaces (quoted, so none reads as amlops's own `error:` line); "" when unreadable."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(f"  {line}" for line in strip_ansi(text).rstrip().splitlines()[-lines:])


def strip_ansi(text: str) -> str:
    """`text` without terminal colour codes (docker build's red stderr, IPython tracebacks)."""
    return ANSI.sub("", text)


# azure-ai-ml warns once per experimental class or field it touches (noise for users, and
# it came before our one-line errors). Importing azure.ai.ml sets its own top logger to
# INFO with a stderr handler (_utils/_logger_utils.py), so the levels that matter are set
# on the warning modules' loggers, which it leaves alone.
SDK_NOISY_LOGGERS = (
    "azure",
    "azure.identity",
    "azure.ai.ml._utils._experimental",
    "azure.ai.ml._schema.core.fields",
)


def quiet_sdk_loggers() -> None:
    """Keep azure-ai-ml's warnings off the terminal: errors only (before importing it)."""
    import logging  # here: console is imported by every command, logging only by these

    for name in SDK_NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line (whitespace runs made one space) of at most `limit` characters
    plus "...": a longer text is cut at the last space before the limit (mid-word only
    when its first half has no space, e.g. a long URL) and marked with "...". For
    messages quoted from Azure, which can run to pages."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit + 1)
    return (flat[:cut] if cut > limit // 2 else flat[:limit]).rstrip(" ,;:") + "..."


def plural(count: int, noun: str) -> str:
    """`count` and `noun`, plural unless count is 1 ("1 step", "3 steps")."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
