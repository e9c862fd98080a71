"""Python's cyclic garbage collector while a command starts (issue 23.2).

Importing amlops' modules and reading the project's files makes many objects and no
garbage worth collecting, yet the collector runs dozens of times meanwhile and once
more over everything at exit: ~30 ms of CPU of a do-nothing `make local` (measured in
benchmarks/local_overhead.py). So `python -m amlops` starts with it paused (`pause`)
and resumes it (`resume`) before a command does its long work: at once for every
command but `local`, whose run resumes it when the job's process starts
(amlops.local.procs.run_tee); what exists by then is frozen (gc.freeze: kept out of
later collections, as it lives as long as the process). At exit (`at_exit`) the
objects are frozen again, so the collection at interpreter shutdown skips them.
Garbage cycles are still collected in a long command (a pipeline, a sweep, make
serve); only the few made during the start stay until the process ends."""

import gc


def pause() -> None:
    """Pause the collector for the command's start (python -m amlops only)."""
    gc.disable()


def resume() -> None:
    """Freeze what exists and resume the collector, if paused; idempotent."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def at_exit() -> None:
    """Freeze what exists: the collection at interpreter shutdown skips it."""
    gc.freeze()
