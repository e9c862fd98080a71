"""Unit tests of the pipeline scheduler, reuse keys and progress lines (no baking)."""

import io
import sys
import threading
import time

import pytest

from tests.helpers import TEMPLATE_PROJECT

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.console import say  # noqa: E402
from amlops.pipelines.progress import StepBoard  # noqa: E402
from amlops.pipelines.scheduler import Outcome, run_dag  # noqa: E402

DIAMOND = {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}, "e": set()}
ORDER = ["a", "b", "c", "d", "e"]


class Recorder:
    """A work function that records concurrency and fails the nodes it is told to. A
    `slow` node holds its slot until `hold_until` nodes run at once (or 60 s pass), so
    what the scheduler starts meanwhile does not depend on machine load."""

    def __init__(self, fail=(), slow=(), hold_until=1):
        self.fail = set(fail)
        self.slow = set(slow)
        self.hold_until = hold_until
        self.lock = threading.Condition()
        self.running = 0
        self.peak = 0
        self.started = []

    def __call__(self, node):
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.started.append(node)
            self.lock.notify_all()
            if node in self.slow:
                self.lock.wait_for(lambda: self.running >= self.hold_until, timeout=60)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        if node in self.fail:
            return Outcome("failed", 4, "boom")
        return Outcome("completed")


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_never_more_than_jobs_at_once_and_upstream_first(jobs):
    work = Recorder(slow={"e"}, hold_until=jobs)
    outcomes = run_dag(ORDER, DIAMOND, work, jobs, continue_on_failure=True)
    assert {n: o.state for n, o in outcomes.items()} == dict.fromkeys(ORDER, "completed")
    assert work.peak == jobs  # a + e, then b + c while e holds its slot
    assert work.started.index("d") > max(work.started.index("b"), work.started.index("c"))


def test_failure_skips_downstream_and_independent_branches_finish():
    outcomes = run_dag(ORDER, DIAMOND, Recorder(fail={"b"}), 2, continue_on_failure=True)
    states = {n: o.state for n, o in outcomes.items()}
    assert states == {
        "a": "completed",
        "b": "failed",
        "c": "completed",
        "d": "skipped",
        "e": "completed",
    }
    assert outcomes["d"].detail == "upstream b did not succeed"


def test_without_continue_on_failure_nothing_new_starts():
    work = Recorder(fail={"a"})
    outcomes = run_dag(ORDER, DIAMOND, work, 1, continue_on_failure=False)
    assert outcomes["a"].state == "failed"
    assert outcomes["e"].state == "canceled" and "continue_on_step_failure" in outcomes["e"].detail
    assert work.started == ["a"]


def test_an_exception_in_work_fails_that_node_only():
    def work(node):
        if node == "c":
            raise RuntimeError("docker build failed")
        return Outcome("completed")

    outcomes = run_dag(ORDER, DIAMOND, work, 2, continue_on_failure=True)
    assert outcomes["c"].state == "failed" and outcomes["c"].detail == "docker build failed"
    assert outcomes["d"].state == "skipped" and outcomes["b"].state == "completed"


def test_progress_prints_each_change_once_when_not_a_terminal():
    stream = io.StringIO()
    board = StepBoard(["prep", "fit"], {"prep": "(prepare)", "fit": "(train)"}, stream)
    board.set("prep", "running", "image x")
    board.tick()
    board.set("prep", "completed", "in 1.0s")
    assert stream.getvalue().splitlines() == [
        "amlops: [>] prep  (prepare)  running image x",
        "amlops: [+] prep  (prepare)  completed in 1.0s",
    ]


def test_progress_redraws_in_place_on_a_terminal(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    board = StepBoard(["prep", "fit"], {}, stream)
    stream.write("amlops: pipeline p: 2 steps\n")  # the header, said before the board shows
    with board.shown():
        board.set("fit", "running")
        text = stream.getvalue()
        assert text.startswith("amlops: pipeline p: 2 steps\n\x1b[2K"), "header kept"
        assert text.count("\x1b[2F") == 1 and text.count("\x1b[2K") == 4
        assert text.endswith("\x1b[2K[>] fit   running 0s\n")
        say("step fit: a notice")  # written above the board, which is redrawn below it
    text = stream.getvalue()
    assert "\x1b[2F\x1b[Jamlops: step fit: a notice\n\x1b[2K[ ] prep" in text
    assert text.endswith("\x1b[2K[>] fit   running 0s\n")
    assert text.count("amlops: pipeline p: 2 steps") == 1


def test_a_reused_run_must_still_hold_the_outputs_it_finished_with(tmp_path):
    from amlops.pipelines.reuse import ReuseCache
    from amlops.project import Project

    project = Project(tmp_path)
    out = tmp_path / ".runs" / "step" / "outputs" / "model"
    out.mkdir(parents=True)
    (out / "model.pkl").write_text("weights")
    cache = ReuseCache(project)
    cache.remember("k1", out.parent.parent, {"model": out}, {"version": "2"}, "p", "step")
    found = cache.lookup("k1")
    assert found and found.outputs == {"model": out}
    assert cache.lookup("k2") is None
    (out / "model.pkl").write_text("edited by hand")
    assert cache.lookup("k1") is None, "changed outputs are not reused"
    (out / "model.pkl").write_text("weights")
    assert cache.lookup("k1") is not None
    (out / "model.pkl").unlink()
    assert cache.lookup("k1") is None, "deleted outputs are not reused"


def test_differences_name_what_changed():
    from amlops.pipelines.reuse import differences

    old = {
        "version": "2",
        "code": {"a.py": "1", "b.py": "2"},
        "environment": "venv:x",
        "literals": {"n": "5"},
        "inputs": {"data": "d1"},
        "command": "python a.py",
    }
    new = {**old, "code": {"a.py": "9", "b.py": "2", "c.py": "3"}, "literals": {"n": "6"}}
    assert differences(old, new) == ["code changed: a.py, c.py", "literal n: 5 -> 6"]
    assert differences(old, {**old, "inputs": {"data": "d2"}}) == ["input data changed"]
    assert differences(None, old) == ["no earlier run"]
    assert differences(old, old) == ["its earlier outputs changed or are gone"]
