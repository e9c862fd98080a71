"""Progress lines, on stderr so a job's own stdout stays clean."""

import sys


def say(message: str) -> None:
    """Print one `amlops: ...` progress line now."""
    print(f"amlops: {message}", file=sys.stderr, flush=True)
