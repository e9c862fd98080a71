"""Following a submitted job's logs until it ends, for both SDKs (cloud/submit.py,
cloud/v1/submit.py): Ctrl-C stops the stream, not the job."""

import sys

from amlops.cloud.submission import Submission
from amlops.console import say
from amlops.local.procs import INTERRUPTED

COMPLETED = "Completed"


def stream_interrupted(err: BaseException) -> bool:
    """Whether `err` is a Ctrl-C while streaming: KeyboardInterrupt itself, or the
    exception both SDKs turn it into ("the run is still executing")."""
    return any(isinstance(e, KeyboardInterrupt) for e in (err, err.__cause__, err.__context__))


def stopped_streaming(sub: Submission, name: str, follow: str) -> int:
    """Ctrl-C ends the stream, not the job: say so and how to follow it again; 130."""
    sub.save(status="submitted; streaming stopped")
    say(f"stopped streaming; {name} keeps running in Azure ML (follow it: {follow})")
    return INTERRUPTED


def final_status(sub: Submission, name: str, status: str, failure: str = "") -> int:
    """Record a streamed job's end; 0 when it completed, 1 (with one error line) otherwise."""
    sub.save(status=status)
    if status == COMPLETED:
        say(f"{name} completed")
        return 0
    print(
        f"error: job {name} ended {status}" + (f": {failure}" if failure else ""), file=sys.stderr
    )
    return 1
