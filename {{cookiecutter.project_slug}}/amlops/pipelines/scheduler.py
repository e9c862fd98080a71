"""Run the nodes of a DAG on a bounded thread pool, as soon as their upstream succeed.

A failed node stops everything downstream of it. With `continue_on_failure`
(Azure ML's continue_on_step_failure) independent branches run to the end;
without it, nodes not yet started are canceled and running ones finish.
Ctrl-C stops the running nodes (through `on_interrupt`) and cancels the rest."""

import concurrent.futures as futures
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Set

from amlops.diskspace import disk_full_error, is_disk_full

OK_STATES = ("completed", "reused")


@dataclass
class Outcome:
    """How one node ended: completed, reused, failed, skipped, canceled or interrupted."""

    state: str
    exit_code: int = 0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state in OK_STATES


class _Dag:
    """The bookkeeping of one run_dag call."""

    def __init__(self, order: List[str], upstream: Dict[str, Set[str]], jobs: int) -> None:
        self.order = order
        self.upstream = upstream
        self.jobs = max(1, jobs)
        self.outcomes: Dict[str, Outcome] = {}
        self.running: Dict["futures.Future[Outcome]", str] = {}
        self.stopping = ""  # why no new node may start

    def blocked_by(self, node: str) -> Optional[str]:
        """The first upstream node that ended without success, if any."""
        failed = sorted(
            u for u in self.upstream[node] if u in self.outcomes and not self.outcomes[u].ok
        )
        return failed[0] if failed else None

    def ready(self, node: str) -> bool:
        return all(u in self.outcomes for u in self.upstream[node])

    def pending(self) -> List[str]:
        busy = set(self.running.values())
        return [n for n in self.order if n not in self.outcomes and n not in busy]


def run_dag(
    order: List[str],
    upstream: Dict[str, Set[str]],
    work: Callable[[str], Outcome],
    jobs: int,
    continue_on_failure: bool,
    on_wait: Optional[Callable[[], None]] = None,
    on_interrupt: Optional[Callable[[], None]] = None,
    on_outcome: Optional[Callable[[str, Outcome], None]] = None,
) -> Dict[str, Outcome]:
    """Run `work(node)` for every node of `order` (a topological order).

    `on_wait` is called about 5 times a second while nodes run (progress);
    on Ctrl-C, `on_interrupt` stops the running work, which then returns."""
    dag = _Dag(order, upstream, jobs)

    def settle(node: str, outcome: Outcome) -> None:
        dag.outcomes[node] = outcome
        if on_outcome:
            on_outcome(node, outcome)
        if outcome.state == "interrupted":
            dag.stopping = "interrupted"
        elif outcome.state == "failed" and not continue_on_failure:
            dag.stopping = dag.stopping or f"{node} failed (continue_on_step_failure: false)"

    def start_what_can_start(pool: futures.ThreadPoolExecutor) -> None:
        for node in dag.pending():
            cause = dag.blocked_by(node)
            if cause:
                settle(node, Outcome("skipped", detail=f"upstream {cause} did not succeed"))
            elif dag.stopping:
                settle(node, Outcome("canceled", detail=dag.stopping))
            elif dag.ready(node) and len(dag.running) < dag.jobs:
                dag.running[pool.submit(work, node)] = node

    def collect_finished() -> None:
        done, _ = futures.wait(list(dag.running), timeout=0.2, return_when="FIRST_COMPLETED")
        if on_wait:
            on_wait()
        for future in done:
            node = dag.running.pop(future)
            try:
                outcome = future.result()
            except Exception as err:  # an environment failure (e.g. a build) or a bug
                detail = str(err)
                if is_disk_full(err):  # staging or a record on a full disk: one line
                    detail = str(disk_full_error(err, Path.cwd()))  # type: ignore[arg-type]
                outcome = Outcome("failed", exit_code=1, detail=detail)
            settle(node, outcome)

    with futures.ThreadPoolExecutor(max_workers=dag.jobs) as pool:
        while len(dag.outcomes) < len(order):
            try:
                start_what_can_start(pool)
                if dag.running:
                    collect_finished()
            except KeyboardInterrupt:
                dag.stopping = "interrupted"
                if on_interrupt:
                    on_interrupt()
    return dag.outcomes
