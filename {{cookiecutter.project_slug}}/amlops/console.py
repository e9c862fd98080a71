"""Terminal output: progress lines on stderr (so a job's own stdout stays clean)."""

import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def say(message: str) -> None:
    """Print one `amlops: ...` progress line now."""
    print(f"amlops: {message}", file=sys.stderr, flush=True)


def strip_ansi(text: str) -> str:
    """`text` without terminal colour codes (docker build's red stderr, IPython tracebacks)."""
    return ANSI.sub("", text)
