"""Run the nodes of a DAG on a bounded thread pool, as soon as their upstream succeed.

A failed node stops everything downstream of it. With `continue_on_failure`
(Azure ML's continue_on_step_failure) independent branches run to the end;
without it, nodes not yet started are canceled and running ones finish."""

import concurrent.futures as futures
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Set

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
    outcomes: Dict[str, Outcome] = {}
    running: Dict["futures.Future[Outcome]", str] = {}
    stopping = ""  # why no new node may start

    def settle(node: str, outcome: Outcome) -> None:
        outcomes[node] = outcome
        if on_outcome:
            on_outcome(node, outcome)

    def blocked(node: str) -> Optional[str]:
        failed = sorted(u for u in upstream[node] if u in outcomes and not outcomes[u].ok)
        return failed[0] if failed else None

    with futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        while len(outcomes) < len(order):
            for node in order:
                if node in outcomes or node in running.values():
                    continue
                cause = blocked(node)
                if cause:
                    settle(node, Outcome("skipped", detail=f"upstream {cause} did not succeed"))
                elif stopping:
                    settle(node, Outcome("canceled", detail=stopping))
                elif all(u in outcomes for u in upstream[node]) and len(running) < max(1, jobs):
                    running[pool.submit(work, node)] = node
            if not running:
                continue
            try:
                done, _ = futures.wait(list(running), timeout=0.2, return_when="FIRST_COMPLETED")
            except KeyboardInterrupt:
                stopping = "interrupted"
                if on_interrupt:
                    on_interrupt()
                done, _ = futures.wait(list(running))
            if on_wait:
                on_wait()
            for future in done:
                node = running.pop(future)
                try:
                    outcome = future.result()
                except Exception as err:  # a bug or an environment failure in work()
                    outcome = Outcome("failed", exit_code=1, detail=str(err))
                settle(node, outcome)
                if outcome.state == "interrupted":
                    stopping = "interrupted"
                elif not outcome.ok and not continue_on_failure:
                    stopping = stopping or f"{node} failed (continue_on_step_failure: false)"
    return outcomes
