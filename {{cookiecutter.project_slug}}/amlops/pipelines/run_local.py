"""`make pipeline-local`: every step in its own experiment environment, as a DAG.

Steps whose inputs are ready run in parallel (at most JOBS at a time). Each
step runs exactly like `make local` (same staging, mounts and runtime) into
`.runs/pipelines/<name>/<run-id>/<step>/`; its outputs are mounted read-only
into the steps that consume them. Unchanged steps are reused (see reuse.py)."""

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from amlops.console import say
from amlops.errors import UserError
from amlops.jsonfile import write_json
from amlops.local.procs import INTERRUPTED, stop_all
from amlops.local.resolve import bind_inputs, parse_overrides
from amlops.local.run import execute, prepare_run
from amlops.local.runs import PIPELINE_FILE, RUN_FILE, unique_folder
from amlops.local.runtime_choice import pick_runtime_kind, runtime_for
from amlops.pipelines.bindings import check_local_data, parent_values, step_overrides
from amlops.pipelines.progress import StepBoard
from amlops.pipelines.reuse import ReuseCache
from amlops.pipelines.scheduler import Outcome, run_dag
from amlops.pipelines.spec import FromStep, PipelineSpec, load_pipeline
from amlops.project import Project

SAVE_EVERY_S = 0.5


def pipeline_runs_root(project: Project, name: str) -> Path:
    return project.runs / "pipelines" / name


def parse_jobs(text: str) -> int:
    """The JOBS setting: a positive integer; empty means the number of cores."""
    if not text:
        return os.cpu_count() or 1
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"JOBS={text!r}: use a positive whole number (steps run at once)")
    return int(text)


@dataclass
class StepRun:
    """What one step of this pipeline run did (kept in pipeline.json)."""

    experiment: str
    state: str = "waiting"
    step_dir: Optional[Path] = None
    outputs: Dict[str, Path] = field(default_factory=dict)
    exit_code: Optional[int] = None
    duration_s: Optional[float] = None
    reused_from: Optional[Path] = None
    detail: str = ""


class PipelineRun:
    """One `make pipeline-local`: the run folder, its record and its steps."""

    def __init__(
        self,
        project: Project,
        spec: PipelineSpec,
        kind: str,
        force: bool,
        parents: Dict[str, str],
    ) -> None:
        self.project = project
        self.spec = spec
        self.kind = kind
        self.force = force
        self.folder = unique_folder(pipeline_runs_root(project, spec.name))
        self.steps = {n: StepRun(spec.steps[n].experiment) for n in spec.order}
        self.cache = ReuseCache(project)
        self.parents = parents
        self.board = StepBoard(spec.order, {n: f"({s.experiment})" for n, s in self.steps.items()})
        self.started = time.time()
        self._lock = threading.Lock()
        self._env_locks: Dict[str, threading.Lock] = {}
        self._settled: Dict[str, Dict[str, Any]] = {}
        self._saved_at = float("-inf")

    def upstream_output(self, _input: str, source: FromStep) -> Path:
        return self.steps[source.step].outputs[source.output]

    def env_lock(self, identity: str) -> threading.Lock:
        """One build at a time per image tag or venv (steps may share them)."""
        with self._lock:
            return self._env_locks.setdefault(identity, threading.Lock())

    def work(self, name: str) -> Outcome:
        """Reuse or run one step whose upstream steps have succeeded."""
        step = self.spec.steps[name]
        record = self.steps[name]
        overrides = step_overrides(
            self.spec, self.project, step, self.parents, self.upstream_output
        )
        inputs, literals = bind_inputs(step.job, self.project, overrides, in_container=False)
        runtime = runtime_for(self.kind, self.project, step.experiment)
        key = self.cache.key(
            step.job, runtime.identity(), literals, {n: b.host for n, b in inputs.items()}
        )
        step_dir = self.folder / name
        earlier = None if self.force else self.cache.lookup(key)
        if earlier:
            record.outputs, record.reused_from = earlier.outputs, earlier.step_dir
            step_dir.mkdir()
            reused = {"status": "reused", "reused_from": self.project.relative(earlier.step_dir)}
            write_json(step_dir / RUN_FILE, reused)
            return Outcome("reused", detail=f"from {self.project.relative(earlier.step_dir)}")
        with self.env_lock(runtime.identity()):
            if not runtime.ready():
                self.board.set(name, "building", runtime.describe())
            runtime.prepare(echo=False)
        _, job = prepare_run(
            self.project, step.job, step.experiment, overrides, runtime.in_container, step_dir
        )
        record.step_dir = step_dir
        self.board.set(name, "running", runtime.describe())
        code, run_record = execute(
            self.project,
            step.job,
            runtime,
            step_dir,
            job,
            echo=False,
            pipeline=self.spec.name,
            step=name,
            reuse_key=key,
        )
        record.duration_s = run_record.data["duration_s"]
        record.exit_code = code
        record.outputs = {n: b.host for n, b in job.outputs.items()}  # partial ones too
        if code == 0:
            self.cache.remember(key, step_dir, record.outputs)
            return Outcome("completed", detail=f"in {record.duration_s:.1f}s")
        log = self.project.relative(step_dir / "logs" / "std_log.txt")
        if code == INTERRUPTED:
            return Outcome("interrupted", code, detail=f"log {log}")
        return Outcome("failed", code, detail=f"exit {code}; log {log}")

    def settle(self, name: str, outcome: Outcome) -> None:
        record = self.steps[name]
        record.state, record.detail = outcome.state, outcome.detail
        if outcome.exit_code:
            record.exit_code = outcome.exit_code
        with self._lock:
            self._settled[name] = self._step_entry(record)  # a settled step no longer changes
        self.board.set(name, outcome.state, outcome.detail)
        self.save("running")

    def _step_entry(self, run: StepRun) -> Dict[str, Any]:
        rel = self.project.relative
        return {
            "experiment": run.experiment,
            "state": run.state,
            "detail": run.detail,
            "exit_code": run.exit_code,
            "duration_s": run.duration_s,
            "step_dir": rel(run.step_dir) if run.step_dir else None,
            "reused_from": rel(run.reused_from) if run.reused_from else None,
            "outputs": {n: rel(p) for n, p in run.outputs.items()},
        }

    def save(self, status: str) -> None:
        """Write pipeline.json: while running, after a step settles but at most every
        SAVE_EVERY_S seconds (so a killed run still has a recent one, and a pipeline of
        hundreds of quick steps does not rewrite it hundreds of times); then at the end."""
        now = time.monotonic()
        if status == "running" and now - self._saved_at < SAVE_EVERY_S:
            return
        self._saved_at = now
        with self._lock:
            steps = {n: self._settled.get(n) or self._step_entry(r) for n, r in self.steps.items()}
        data = {
            "pipeline": self.spec.name,
            "file": self.spec.shown_as,
            "runtime": self.kind,
            "status": status,
            "started": self.started,
            "ended": time.time() if status != "running" else None,
            "steps": steps,
        }
        with self._lock:
            write_json(self.folder / PIPELINE_FILE, data)


def _summary(run: PipelineRun, seconds: float) -> List[str]:
    counts: Dict[str, int] = {}
    for record in run.steps.values():
        counts[record.state] = counts.get(record.state, 0) + 1
    told = ", ".join(f"{count} {state}" for state, count in counts.items())
    rows = [("step", "experiment", "state", "time", "outputs")]
    for name, record in run.steps.items():
        took = f"{record.duration_s:.1f}s" if record.duration_s is not None else "-"
        where = record.reused_from or record.step_dir
        outputs = f"{run.project.relative(where)}/outputs" if where else "-"
        rows.append((name, record.experiment, record.state, took, outputs))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"pipeline {run.spec.name}: {told} in {seconds:.1f}s"]
    for row in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[4])
    lines.append(f"run folder {run.project.relative(run.folder)}")
    return lines


def run_pipeline_local(
    project: Project, name: str, runtime_choice: str, jobs: int, force: bool, overrides: List[str]
) -> int:
    """Run the pipeline; returns 0, the first failed step's exit code, or 130."""
    spec = load_pipeline(project, name)
    parents = parent_values(spec, project, parse_overrides(overrides, spec))
    check_local_data(spec, project)
    kind = pick_runtime_kind(
        project, runtime_choice, (spec.steps[n].experiment for n in spec.order)
    )
    run = PipelineRun(project, spec, kind, force, parents)
    say(
        f"pipeline {spec.name}: {len(spec.order)} steps, {kind} runtime, up to {jobs} at once"
        f"{', FORCE: no reuse' if force else ''}; run folder {project.relative(run.folder)}"
    )
    run.save("running")
    begun = time.monotonic()
    outcomes = run_dag(
        spec.order,
        {n: spec.steps[n].upstream() for n in spec.order},
        run.work,
        jobs,
        spec.continue_on_step_failure,
        on_wait=run.board.tick,
        on_interrupt=stop_all,
        on_outcome=run.settle,
    )
    run.cache.save()
    failed = [n for n in spec.order if outcomes[n].state in ("failed", "interrupted")]
    interrupted = any(o.state == "interrupted" for o in outcomes.values())
    run.save("interrupted" if interrupted else "failed" if failed else "completed")
    print("\n".join(_summary(run, time.monotonic() - begun)), flush=True)
    for name in failed[1:]:
        say(f"step {name!r} {outcomes[name].state}: {outcomes[name].detail}")
    if interrupted:
        return INTERRUPTED
    if failed:
        first = outcomes[failed[0]]
        raise UserError(
            f"pipeline {spec.name}: step {failed[0]!r} failed ({first.detail})",
            first.exit_code or 1,
        )
    return 0
