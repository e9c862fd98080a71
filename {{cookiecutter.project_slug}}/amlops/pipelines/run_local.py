"""`make pipeline-local`: every step in its own environment, as a DAG.

Steps whose inputs are ready run in parallel (at most JOBS at a time). Each
step runs exactly like `make local` (same staging, mounts and runtime) into
`.runs/pipelines/<name>/<run-id>/<step>/`; its outputs are mounted read-only
into the steps that consume them. Unchanged steps are reused (see reuse.py).

A sweep node runs its trials like `make local` on a sweep job file
(amlops/sweeps/run.py), in the step's folder: `<step>/trial-01/`, ...; the step's
outputs, for the steps downstream, are its best trial's (as in Azure ML).

Part of a pipeline can run: STEPS="a b" (only those), FROM=a (a and everything
downstream of it); the steps left out are taken from earlier runs.
FORCE=1 re-runs every step, FORCE="a b" only those; `settings.force_rerun: true`
is FORCE=1. DRY_RUN=1 prints the plan: each step "run" or "reuse", and why."""

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

from amlops.console import plural, say
from amlops.errors import UserError
from amlops.inputs import parse_overrides
from amlops.jsonfile import release_spare, write_json
from amlops.local.procs import INTERRUPTED, stop_all, stopping
from amlops.local.resolve import bind_inputs
from amlops.local.run import execute, prepare_run
from amlops.local.runtime_choice import (
    environment_notice,
    kinds_label,
    pick_runtime_kinds,
    runtime_for,
)
from amlops.pipelines.bindings import check_local_data, parent_values, step_overrides
from amlops.pipelines.history import latest_outputs, pipeline_runs_root
from amlops.pipelines.progress import StepBoard
from amlops.pipelines.reuse import ReuseCache, differences
from amlops.pipelines.scheduler import Outcome, run_dag
from amlops.project import Project
from amlops.runs import PIPELINE_FILE, RUN_FILE, owner, read_record, unique_folder
from amlops.spec.pipeline import FromStep, PipelineSpec
from amlops.spec.pipeline_loader import load_pipeline, resolve_registered

__all__ = ["pipeline_runs_root", "run_pipeline_local", "parse_jobs", "Selection"]
SAVE_EVERY_S = 0.5


def parse_jobs(text: str) -> int:
    """The JOBS setting: a positive integer; empty means the number of cores."""
    if not text:
        return os.cpu_count() or 1
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"JOBS={text!r}: use a positive whole number (steps run at once)")
    return int(text)


@dataclass
class Selection:
    """Which steps run and which are forced (from STEPS, FROM and FORCE)."""

    steps: str = ""
    from_step: str = ""
    force: str = ""

    def _names(self, spec: PipelineSpec, text: str, option: str) -> Set[str]:
        names = set(text.replace(",", " ").split())
        unknown = sorted(names - set(spec.steps))
        if unknown:
            raise UserError(
                f"{option}: {spec.shown_as} has no step {unknown[0]!r}"
                f" (steps: {', '.join(spec.order)})"
            )
        return names

    def chosen(self, spec: PipelineSpec) -> Set[str]:
        """The steps that run (the others' outputs come from earlier runs)."""
        if self.steps and self.from_step:
            raise UserError("give STEPS or FROM, not both")
        if self.steps:
            return self._names(spec, self.steps, f"STEPS={self.steps!r}")
        if self.from_step:
            start = self._names(spec, self.from_step, f"FROM={self.from_step!r}")
            return set().union(*(spec.downstream(s) | {s} for s in start))
        return set(spec.steps)

    def forced(self, spec: PipelineSpec) -> Set[str]:
        """The steps that run even when they could be reused."""
        if spec.force_rerun or self.force.lower() in ("1", "true", "yes", "on", "all"):
            return set(spec.steps)
        return self._names(spec, self.force, f"FORCE={self.force!r}") if self.force else set()


@dataclass
class StepRun:
    """What one step of this pipeline run did (kept in pipeline.json)."""

    label: str
    state: str = "waiting"
    step_dir: Optional[Path] = None
    outputs: Dict[str, Path] = field(default_factory=dict)
    exit_code: Optional[int] = None
    duration_s: Optional[float] = None
    build_s: float = 0.0
    reused_from: Optional[Path] = None
    detail: str = ""
    best: str = ""  # a sweep node's best trial, e.g. "trial-02 loss=0.5 [x=1]"


class PipelineRun:
    """One `make pipeline-local`: the run folder, its record and its steps."""

    def __init__(
        self,
        project: Project,
        spec: PipelineSpec,
        kinds: Dict[str, str],
        selection: Selection,
        parents: Dict[str, str],
        given: Optional[Dict[str, Dict[str, Path]]] = None,
    ) -> None:
        self.project = project
        self.given = dict(given or {})  # steps that run only in Azure ML -> their outputs
        self.spec = spec
        self.kinds = kinds  # step -> "docker" or "venv"
        self.kind = kinds_label(kinds)
        self.chosen = selection.chosen(spec) - set(self.given)
        self.forced = selection.forced(spec)
        self.steps = {n: StepRun(spec.steps[n].label) for n in spec.order}
        self.cache = ReuseCache(project)
        self.parents = parents
        self.started = time.time()
        self._lock = threading.Lock()
        self._env_locks: Dict[str, threading.Lock] = {}
        self.earlier: Dict[str, Dict[str, Path]] = {}
        for name in spec.order:
            if name in self.given:
                self.earlier[name] = self.given[name]
            elif name not in self.chosen:
                self.earlier[name] = self._earlier_outputs(name)
        self.folder: Optional[Path] = None
        self.board: Optional[StepBoard] = None
        self._settled: Dict[str, Dict[str, Any]] = {}
        self._saved_at = float("-inf")

    def _earlier_outputs(self, name: str) -> Dict[str, Path]:
        try:
            return latest_outputs(self.project, self.spec, name)
        except LookupError:
            raise UserError(
                f"step {name!r} is not selected and no earlier local run of"
                f" {self.spec.shown_as} has its outputs; select it too, or run the whole"
                f" pipeline first (make pipeline-local PIPELINE={self.spec.name})"
            ) from None

    def upstream_output(self, _input: str, source: FromStep) -> Path:
        if source.step in self.earlier:
            return self.earlier[source.step][source.output]
        return self.steps[source.step].outputs[source.output]

    def env_lock(self, identity: str) -> threading.Lock:
        """One build at a time per image tag or venv (steps may share them)."""
        with self._lock:
            return self._env_locks.setdefault(identity, threading.Lock())

    def step_parts(self, name: str) -> Any:
        """(job, runtime, overrides, parts) of a step whose upstream outputs exist."""
        step = self.spec.steps[name]
        overrides = step_overrides(
            self.spec, self.project, step, self.parents, self.upstream_output
        )
        job = step.runnable()
        searched = job.sweep.placeholders() if job.sweep is not None else {}
        inputs, literals = bind_inputs(
            job, self.project, {**overrides, **searched}, in_container=False
        )
        runtime = runtime_for(self.kinds[name], self.project, job)
        hosts = {n: b.host for n, b in inputs.items()}
        parts = self.cache.parts(job, runtime.identity(), literals, hosts)
        return job, runtime, overrides, parts

    def work(self, name: str) -> Outcome:
        """Reuse or run one step whose upstream steps have succeeded; a step whose
        build or staging fails because the run is being stopped is "interrupted"."""
        try:
            return self._work(name)
        except UserError as err:
            if stopping():
                return Outcome("interrupted", INTERRUPTED, detail=str(err))
            raise

    def _work(self, name: str) -> Outcome:
        assert self.folder is not None and self.board is not None
        record = self.steps[name]
        if name in self.given:
            record.outputs = self.given[name]
            return Outcome("reused", detail="runs only in Azure ML: outputs given by INPUTS")
        if name in self.earlier:
            record.outputs = self.earlier[name]
            return Outcome("reused", detail="not selected: outputs of an earlier run")
        job, runtime, overrides, parts = self.step_parts(name)
        key = self.cache.key(parts)
        step_dir = self.folder / name
        earlier = None if name in self.forced else self.cache.lookup(key)
        if earlier:
            record.outputs, record.reused_from = earlier.outputs, earlier.step_dir
            step_dir.mkdir()
            reused = {"status": "reused", "reused_from": self.project.relative(earlier.step_dir)}
            write_json(step_dir / RUN_FILE, reused)
            return Outcome("reused", detail=f"from {self.project.relative(earlier.step_dir)}")
        with self.env_lock(runtime.identity()):
            if not runtime.ready():
                self.board.set(name, "building", runtime.describe())
            began = time.monotonic()
            runtime.prepare(echo=False)
            record.build_s = time.monotonic() - began
        if job.sweep is not None:
            return self._sweep(name, job, runtime, overrides, key, parts, step_dir)
        _, resolved = prepare_run(self.project, job, overrides, runtime.in_container, step_dir)
        record.step_dir = step_dir
        self.board.set(name, "running", runtime.describe())
        code, run_record = execute(
            self.project,
            job,
            runtime,
            step_dir,
            resolved,
            echo=False,
            pipeline=self.spec.name,
            step=name,
            reuse_key=key,
        )
        record.duration_s = run_record.data["duration_s"]
        record.exit_code = code
        record.outputs = {n: b.host for n, b in resolved.outputs.items()}  # partial ones too
        if code == 0:
            self.cache.remember(key, step_dir, record.outputs, parts, self.spec.name, name)
            return Outcome("completed", detail=f"in {record.duration_s:.1f}s")
        log = self.project.relative(step_dir / "logs" / "std_log.txt")
        if code == INTERRUPTED:
            return Outcome("interrupted", code, detail=f"log {log}")
        return Outcome("failed", code, detail=f"exit {code}; log {log}")

    def _sweep(
        self,
        name: str,
        job: Any,
        runtime: Any,
        overrides: Dict[str, str],
        key: str,
        parts: Dict[str, Any],
        step_dir: Path,
    ) -> Outcome:
        """Run a sweep node's trials in its step folder; its outputs are the best trial's."""
        assert self.board is not None
        from amlops.sweeps.run import SweepRun, no_metric, sweep_store, sweep_trials

        record = self.steps[name]
        store = sweep_store(self.project, job)
        context = {"pipeline": self.spec.name, "step": name}
        run = SweepRun(self.project, job, runtime, overrides, store, step_dir, context)
        record.step_dir = step_dir
        self.board.set(name, "running", f"sweep, up to {run.total} trials")
        result = sweep_trials(self.project, run)
        record.duration_s = result.record.data["duration_s"]
        record.best = result.best_line()
        if result.status == "interrupted":
            record.exit_code = INTERRUPTED
            return Outcome(
                "interrupted", INTERRUPTED, detail=f"folder {self.project.relative(step_dir)}"
            )
        if result.best is None:
            record.exit_code = 1
            say(no_metric(self.project, result))
            return Outcome("failed", 1, detail=f"no trial logged {run.sweep.objective.metric}")
        record.exit_code = 0
        record.outputs = result.outputs
        self.cache.remember(key, step_dir, record.outputs, parts, self.spec.name, name)
        trials = len(result.run.trials)
        took = f"in {record.duration_s:.1f}s"
        return Outcome("completed", detail=f"{took}; best of {trials} trials: {record.best}")

    def verdict(self, name: str, runs: Set[str]) -> str:
        """Whether one step would run and why (`runs`: the steps before it that run)."""
        step = self.spec.steps[name]
        if name in self.given:
            return "given (runs only in Azure ML: outputs from INPUTS)"
        if name in self.earlier:
            return "keep  (not selected: outputs of an earlier run)"
        if name in self.forced:
            return "run   (forced)"
        if step.upstream() & runs:
            return f"run   (upstream {', '.join(sorted(step.upstream() & runs))} runs)"
        parts = self.step_parts(name)[3]
        reusable = self.cache.lookup(self.cache.key(parts))
        if reusable:
            self.steps[name].outputs = reusable.outputs
            return f"reuse (from {self.project.relative(reusable.step_dir)})"
        why = differences(self.cache.last_parts(self.spec.name, name), parts)
        return f"run   ({'; '.join(why)})"

    def environment_notices(self) -> List[str]:
        """What differs from Azure ML in the environments of the steps that may run
        (e.g. a venv standing in for an image), one line per distinct notice."""
        steps_by_notice: Dict[str, List[str]] = {}
        for name in self.spec.order:
            if name in self.chosen:
                job = self.spec.steps[name].runnable()
                notice = environment_notice(self.kinds[name], self.project, job)
                if notice:
                    steps_by_notice.setdefault(notice, []).append(name)
        return [
            f"step{'s' if len(steps) > 1 else ''} {', '.join(steps)}: {notice}"
            for notice, steps in steps_by_notice.items()
        ]

    def plan(self) -> List[str]:
        """`DRY_RUN=1`: one line per step, run or reuse and why; nothing is run or written."""
        runs: Set[str] = set()
        lines = [f"plan for {self.spec.shown_as} ({self.kind} runtime):"]
        width = max(len(n) for n in self.spec.order)
        for name in self.spec.order:
            verdict = self.verdict(name, runs)
            if verdict.startswith("run"):
                runs.add(name)
            lines.append(f"  {name.ljust(width)}  {verdict}{sweep_plan(self.spec.steps[name])}")
        return lines

    def settle(self, name: str, outcome: Outcome) -> None:
        assert self.board is not None
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
            "experiment": run.label,
            "state": run.state,
            "detail": run.detail,
            "exit_code": run.exit_code,
            "duration_s": run.duration_s,
            "build_s": round(run.build_s, 3),
            "step_dir": rel(run.step_dir) if run.step_dir else None,
            "reused_from": rel(run.reused_from) if run.reused_from else None,
            "outputs": {n: rel(p) for n, p in run.outputs.items()},
            **({"best": run.best} if run.best else {}),
        }

    def save(self, status: str) -> None:
        """Write pipeline.json: while running, after a step settles but at most every
        SAVE_EVERY_S seconds (so a killed run still has a recent one, and a pipeline of
        hundreds of quick steps does not rewrite it hundreds of times); then at the end."""
        assert self.folder is not None
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
            **owner(),
            "steps": steps,
        }
        with self._lock:
            write_json(self.folder / PIPELINE_FILE, data, spare=True)  # room for the end
            if status != "running":
                release_spare(self.folder / PIPELINE_FILE)


def _summary(run: PipelineRun, seconds: float) -> List[str]:
    counts: Dict[str, int] = {}
    for record in run.steps.values():
        counts[record.state] = counts.get(record.state, 0) + 1
    told = ", ".join(f"{count} {state}" for state, count in counts.items())
    rows = [("step", "runs", "state", "time", "outputs")]
    for name, record in run.steps.items():
        took = f"{record.duration_s:.1f}s" if record.duration_s is not None else "-"
        where = outputs_folder(record)
        outputs = run.project.relative(where) if where else "-"
        rows.append((name, record.label, record.state, took, outputs))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    steps = sum(r.duration_s or 0.0 for r in run.steps.values())
    builds = sum(r.build_s for r in run.steps.values())
    lines = [
        f"pipeline {run.spec.name}: {told} in {seconds:.1f}s"
        f" (steps {steps:.1f}s, environment builds {builds:.1f}s)"
    ]
    for row in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[4])
    for name, record in run.steps.items():
        best = record.best or reused_best(record)
        if best:
            lines.append(f"  {name}: best trial {best}")
    assert run.folder is not None
    lines.append(f"run folder {run.project.relative(run.folder)}")
    return lines


def outputs_folder(record: StepRun) -> Optional[Path]:
    """The folder holding a step's outputs: <step>/outputs, or a sweep's best trial's."""
    parents = {p.parent for p in record.outputs.values()}
    if len(parents) == 1:
        return parents.pop()
    where = record.reused_from or record.step_dir
    return where / "outputs" if where else None


def reused_best(record: StepRun) -> str:
    """The best trial of the sweep a reused step's outputs come from (else empty)."""
    if record.reused_from is None:
        return ""
    data = read_record(record.reused_from)
    if data.get("kind") != "sweep" or not data.get("best"):
        return ""
    from amlops.sweeps.run import best_summary

    metric = data.get("primary_metric", "objective")
    values = data.get("best_values") or {}
    return f"{best_summary(data['best'], metric, data['best_objective'], values)} (reused)"


def sweep_plan(step: Any) -> str:
    """`; sweep: ...` for a sweep node's plan line (empty for other steps)."""
    job = step.job
    if job is None or job.sweep is None:
        return ""
    from amlops.spec.sweep import describe

    return f"; sweep of up to {job.sweep.limits.max_total_trials} trials, {describe(job.sweep)}"


def local_steps(spec: PipelineSpec) -> List[str]:
    """The steps that can run here, in order (not those that run only in Azure ML)."""
    return [name for name in spec.order if spec.steps[name].form != "remote"]


def given_outputs(
    spec: PipelineSpec, project: Project, overrides: List[str]
) -> Tuple[Dict[str, Dict[str, Path]], List[str]]:
    """The outputs given for the steps that run only in Azure ML (INPUTS
    `<node>.<output>=path`, a path relative to the project), and the other overrides.

    Says in one line which node cannot run here; UserError, before anything starts, when
    a step needs an output of such a node that is not given or does not exist."""
    given: Dict[str, Dict[str, Path]] = {}
    rest: List[str] = []
    for item in overrides:
        name, _, value = item.partition("=")
        step, dot, output = name.rpartition(".")
        if dot and step in spec.steps and spec.steps[step].form == "remote":
            path = (project.root / value).resolve()
            if not value or not path.exists():
                raise UserError(f"INPUTS {item!r}: no such file or folder ({value or 'empty'})")
            given.setdefault(step, {})[output] = path
        else:
            rest.append(item)
    for name in spec.order:
        step = spec.steps[name]
        if step.form != "remote":
            continue
        needed = sorted(
            {
                source.output
                for other in spec.steps.values()
                for source in other.bindings.values()
                if isinstance(source, FromStep) and source.step == name
            }
            | {s.output for s in spec.outputs.values() if s.step == name}
        )
        missing = [o for o in needed if o not in given.get(name, {})]
        if missing:
            example = " ".join(f"{name}.{o}=<path>" for o in missing)
            raise UserError(
                f"step {name!r} ({step.label}) runs only in Azure ML (make pipeline):"
                f' give its outputs to run the rest here (INPUTS="{example}")'
            )
        say(
            f"step {name!r} ({step.label}) runs only in Azure ML: not run here"
            + (f"; its outputs from INPUTS ({', '.join(needed)})" if needed else "")
        )
        given.setdefault(name, {})
    return given, rest


def spark_steps(spec: PipelineSpec) -> List[str]:
    """The Spark nodes that run here (they run in the venv runtime: pyspark from PyPI)."""
    return [name for name in local_steps(spec) if spec.steps[name].runnable().spark is not None]


def check_spark(spec: PipelineSpec, chosen: Set[str], choice: str) -> None:
    """Fail now, in one line, if a Spark node chosen to run cannot run here: a jar-only
    entry, RUNTIME=docker (Spark runs in the venv runtime) or no Java."""
    from amlops.spec.spark import java_problem

    names = [name for name in spark_steps(spec) if name in chosen]
    for name in names:
        problem = spec.steps[name].runnable().spark.local_problem()
        if problem:
            raise UserError(f"step {name!r}: {problem}")
    if names and choice == "docker":
        raise UserError(
            f"RUNTIME=docker: step {names[0]!r} is a Spark node, and Spark runs in the venv"
            " runtime here (RUNTIME=auto runs it in a venv and the other steps in Docker)"
        )
    missing_java = java_problem() if names else ""
    if missing_java:
        raise UserError(f"step {names[0]!r} ({spec.steps[names[0]].label}): {missing_java}")


def check_sweeps(spec: PipelineSpec, project: Project) -> None:
    """Fail now if a sweep node could not read its trials' metrics (tracking store) or
    sample them (Optuna, for bayesian sampling)."""
    for name in local_steps(spec):
        job = spec.steps[name].runnable()
        if job.parallel is not None and job.parallel.local_problem():
            raise UserError(f"step {name!r}: {job.parallel.local_problem()}")
        if job.sweep is not None:
            from amlops.sweeps.run import sweep_store

            sweep_store(project, job)


def planned_kinds(project: Project, choice: str, spec: PipelineSpec) -> Dict[str, str]:
    """The runtime of each step a plan assumes, as the run would choose it but without
    pulling or building: RUNTIME, or for auto Docker when an engine answers, except for
    a step whose image is absent after a failed pull (the run would put it in a venv)."""
    sparks = {name: "venv" for name in spark_steps(spec)}  # Spark runs in a venv
    others = [name for name in local_steps(spec) if name not in sparks]
    if choice in ("docker", "venv"):
        return {**{name: choice for name in others}, **sparks}
    from amlops.local.images import DockerUnavailable, check_engine, known_unpullable
    from amlops.local.runtimes.docker import DockerRuntime

    try:
        check_engine()
    except DockerUnavailable:
        return {name: "venv" for name in local_steps(spec)}
    kinds = dict(sparks)
    for name in others:
        docker = DockerRuntime(project, spec.steps[name].runnable())
        unpullable = not docker.ready() and known_unpullable(
            docker.needed_images(), docker.build_log
        )
        kinds[name] = "venv" if unpullable else "docker"
    return kinds


def run_pipeline_local(
    project: Project,
    name: str,
    runtime_choice: str,
    jobs: int,
    selection: Selection,
    overrides: List[str],
    dry_run: bool = False,
) -> int:
    """Run (or with `dry_run`, plan) the pipeline; returns 0, the first failed step's
    exit code, or 130. UserError for bad input, before anything runs."""
    spec = load_pipeline(project, name)
    if project.workspace is not None:
        resolve_registered(project, spec, project.workspace.component)
    given, overrides = given_outputs(spec, project, overrides)
    parents = parent_values(spec, project, parse_overrides(overrides, spec))
    check_local_data(spec, project)
    check_sweeps(spec, project)
    check_spark(spec, selection.chosen(spec) - set(given), runtime_choice)
    if dry_run:
        run = PipelineRun(
            project, spec, planned_kinds(project, runtime_choice, spec), selection, parents, given
        )
        print("\n".join(run.plan()))
        return 0
    sparks = spark_steps(spec)
    kinds = pick_runtime_kinds(
        project,
        runtime_choice,
        {n: spec.steps[n].runnable() for n in local_steps(spec) if n not in sparks},
    )
    kinds.update({name: "venv" for name in sparks})
    run = PipelineRun(project, spec, kinds, selection, parents, given)
    run.folder = unique_folder(pipeline_runs_root(project, spec.name))
    run.board = StepBoard(spec.order, {n: f"({s.label})" for n, s in run.steps.items()})
    forced = ""
    if run.forced:
        every = run.forced == set(spec.steps)
        forced = "; FORCE: " + ("every step" if every else ", ".join(sorted(run.forced)))
    picked = ""
    if run.chosen != set(spec.steps):
        picked = f"; running {len(run.chosen)} of {len(spec.order)}"
    say(
        f"pipeline {spec.name}: {plural(len(spec.order), 'step')}, {run.kind} runtime,"
        f" up to {jobs} at once{picked}{forced}; run folder {project.relative(run.folder)}"
    )
    for line in run.environment_notices():
        say(line)
    for name in sparks:
        if name in run.chosen:
            say(f"step {name}: spark: {spec.steps[name].runnable().spark.differs()}")
    run.save("running")
    begun = time.monotonic()
    try:
        with run.board.shown():
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
    except BaseException as err:  # a stop signal outside a step, or a bug: never "running"
        stop_all()
        run.save("interrupted" if isinstance(err, KeyboardInterrupt) else "failed")
        raise
    run.cache.save()
    failed = [n for n in spec.order if outcomes[n].state in ("failed", "interrupted")]
    interrupted = stopping() or any(o.state == "interrupted" for o in outcomes.values())
    run.save("interrupted" if interrupted else "failed" if failed else "completed")
    print("\n".join(_summary(run, time.monotonic() - begun)), flush=True)
    for step in failed[1:]:
        say(f"step {step!r} {outcomes[step].state}: {outcomes[step].detail}")
    resume = f"make pipeline-local PIPELINE={spec.name} (finished steps are reused)"
    if interrupted:
        say(f"interrupted; resume with: {resume}")
        return INTERRUPTED
    if failed:
        first = outcomes[failed[0]]
        raise UserError(
            f"pipeline {spec.name}: step {failed[0]!r} failed ({first.detail});"
            f" resume with: {resume}",
            first.exit_code or 1,
        )
    return 0
