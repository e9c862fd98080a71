"""`make local EXP=x` on a sweep job file: its trials run here, at most
max_concurrent_trials at a time, each a normal local run (own folder, own MLflow
run, the sampled values as params) under the sweep's folder:

    .runs/<exp>/<sweep id>/run.json        the sweep: settings, trials, best trial
    .runs/<exp>/<sweep id>/trial-01/       a run folder like any other (src, outputs, logs)
    .runs/<exp>/<sweep id>/best            -> the best trial's folder
    .runs/<exp>/<sweep id>/outputs         -> best/outputs (Azure ML: a sweep's outputs)

The sweep is a parent MLflow run; each trial is its child (mlflow.parentRunId), as
in Azure ML's Studio. The objective is read from what the trials log with MLflow:
a trial's value is the best value it logged of the primary metric (Azure ML ranks
child runs by their best primary metric). Limits: max_total_trials, timeout and
trial_timeout (seconds) stop trials as Azure ML does; early_termination is applied
while trials run (policies.py). A leaderboard is shown live: redrawn on a
terminal, one line per finished trial elsewhere.

A pipeline's sweep node runs the same way (sweep_trials), in its step's folder:
its trials are the trial component with the node's inputs plus the sampled values,
and the step's outputs are the best trial's (spec/sweep_node.py)."""

import concurrent.futures as futures
import os
import shutil
import signal
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ContextManager, Dict, List, Optional, TextIO

from amlops.console import say
from amlops.diskspace import disk_full_error, is_disk_full
from amlops.errors import UserError
from amlops.live import LiveLines, is_live
from amlops.local.procs import (
    INTERRUPTED,
    stop_all,
    stop_thread_child,
    stopping,
    telling_log_line,
)
from amlops.local.resolve import bind_inputs
from amlops.local.run import execute, not_applied_locally, prepare_run
from amlops.local.runtime_choice import prepared_runtime
from amlops.project import Project
from amlops.runs import RunRecord, read_record, unique_folder
from amlops.spec.job import JobSpec
from amlops.spec.sweep import SweepSpec, describe, format_value
from amlops.sweeps.policies import due, stop_reason
from amlops.sweeps.sampling import sampler_for
from amlops.tracking.local import (
    git_tags,
    run_environment,
    run_id_of,
    shown_uri,
    tracking_on,
    where_tracked,
)
from amlops.tracking.store import Store, open_store, user_name

TICK = 0.25  # seconds between checks of the running trials
ENDED = ("completed", "failed", "early_terminated", "timed_out", "canceled", "interrupted")


@dataclass
class Trial:
    """One trial: its values, folder, state and what it logged of the primary metric."""

    number: int
    name: str
    values: Dict[str, Any]
    run_dir: Path
    state: str = "queued"
    detail: str = ""
    thread: int = 0
    started: float = 0.0
    duration: float = 0.0
    exit_code: Optional[int] = None
    experiment_id: str = ""
    run_id: str = ""
    history: List[float] = field(default_factory=list)
    evaluated: int = 0  # intervals the early termination policy has looked at
    stopping: str = ""  # the state the sweep is stopping this trial into
    history_best: Optional[float] = None  # its objective once it has ended
    outputs: Dict[str, Path] = field(default_factory=dict)  # output name -> host folder

    def shown_values(self) -> str:
        return shown_values(self.values)


def shown_values(values: Dict[str, Any]) -> str:
    """Sampled values, floats to 6 significant digits (the command gets them in full)."""
    return " ".join(
        f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={format_value(v)}"
        for k, v in values.items()
    )


def best_summary(trial: str, metric: str, value: float, values: Dict[str, Any]) -> str:
    """`trial-02 loss=0.5 [x=1]`: a best trial, live or read back from run.json."""
    return f"{trial} {metric}={value:.6g} [{shown_values(values)}]"


class Board:
    """The live leaderboard (see the module docstring)."""

    def __init__(self, sweep: SweepSpec, stream: Optional[TextIO] = None, label: str = "") -> None:
        """`label` (a pipeline step's "step x: ") starts each finished-trial line; a
        labelled board never redraws (the pipeline's own board does)."""
        self.sweep = sweep
        self.stream = stream or sys.stderr
        self.label = label
        self.live = not label and is_live(self.stream)
        self.area = LiveLines(self.stream)

    def rows(self, trials: List[Trial], best_of: Any) -> List[str]:
        metric = self.sweep.objective.metric
        ranked = sorted(
            (t for t in trials if best_of(t) is not None),
            key=lambda t: best_of(t),
            reverse=self.sweep.objective.goal == "maximize",
        )
        others = [t for t in trials if best_of(t) is None and t.state != "queued"]
        lines = []
        for rank, trial in enumerate(ranked + others, 1):
            value = best_of(trial)
            shown = f"{metric}={value:.6g}" if value is not None else f"{metric}=-"
            place = f"#{rank}" if value is not None else "  "
            took = f"{trial.duration:.1f}s" if trial.state in ENDED else ""
            detail = f" ({trial.detail})" if trial.detail else ""
            # the values vary in width: the fixed-width columns come first
            lines.append(
                f"{place:>4} {trial.name}  {trial.state:<16} {shown:<22} {took:>7}"
                f"  {trial.shown_values()}{detail}".rstrip()
            )
        return lines

    def draw(self, trials: List[Trial], best_of: Any, header: str) -> None:
        if not self.live:
            return
        rows = self.rows(trials, best_of)[: max(5, shutil.get_terminal_size().lines - 4)]
        self.area.draw([header] + rows)

    def shown(self) -> ContextManager[None]:
        """While inside, amlops's messages go above the live board (console.say)."""
        return self.area.taking_messages() if self.live else nullcontext()

    def ended(self, trial: Trial, rank: str) -> None:
        """A line for a finished trial (non-terminal output only)."""
        if self.live:
            return
        metric = self.sweep.objective.metric
        value = f" {metric}={trial.history_best:.6g}" if trial.history_best is not None else ""
        detail = f" ({trial.detail})" if trial.detail else ""
        self.stream.write(
            f"amlops: {self.label}{trial.name} {trial.state}{value} {rank}"
            f"[{trial.shown_values()}]"
            f" {trial.duration:.1f}s{detail}\n"
        )
        self.stream.flush()


class SweepRun:
    """One local sweep: its folder, parent run, sampler, trials and limits.

    `folder`: where it runs (default: a new .runs/<experiment>/<id>/); `context`: the
    pipeline and step it is a node of ({} alone), recorded with it and its trials."""

    def __init__(
        self,
        project: Project,
        template: JobSpec,
        runtime: Any,
        overrides: Dict[str, str],
        store: Store,
        folder: Optional[Path] = None,
        context: Optional[Dict[str, str]] = None,
    ) -> None:
        self.project = project
        self.template = template
        self.sweep: SweepSpec = template.sweep
        self.runtime = runtime
        self.overrides = overrides
        self.store = store
        self.sampler = sampler_for(self.sweep)
        limits = self.sweep.limits
        self.total = limits.max_total_trials
        self.concurrency = limits.max_concurrent_trials or min(self.total, os.cpu_count() or 1)
        in_pipeline = folder is not None  # beside other steps: no live board of its own
        if folder is None:
            folder = unique_folder(project.runs / template.experiment)
        else:
            folder.mkdir(parents=True)
        self.folder = folder
        self.context = dict(context or {})
        self.id = run_id_of(project, folder)  # <id>, or in a pipeline <run id>/<step>
        self.trials: List[Trial] = []
        self.stopping = ""
        self.started = time.monotonic()
        label = f"step {self.context.get('step', self.id)}: " if in_pipeline else ""
        self.board = Board(self.sweep, label=label)
        self.parent_experiment = ""
        self.parent_run = ""
        self.width = max(2, len(str(self.total)))

    def best_of(self, trial: Trial) -> Optional[float]:
        return self.sweep.objective.best(trial.history) if trial.history else None

    def start_parent(self, literals: Dict[str, str]) -> Dict[str, str]:
        """The sweep's own MLflow run (the trials' parent); its run.json fields."""
        env = run_environment(self.project, self.template)
        self.parent_experiment = self.store.experiment_id(env["MLFLOW_EXPERIMENT_NAME"])
        tags = {str(k): str(v) for k, v in (self.sweep.raw.get("tags") or {}).items()}
        tags.update(git_tags(self.project.root))
        tags.update(
            {
                "mlflow.source.name": self.sweep.shown_as,
                "mlflow.source.type": "LOCAL",
                "mlflow.user": user_name(),
                "amlops.kind": "sweep",
                "amlops.runtime": self.runtime.name,
                "amlops.environment": self.runtime.describe(),
                "amlops.run_folder": self.project.relative(self.folder),
                "amlops.sampling": describe(self.sweep),
                **{f"amlops.{k}": str(v) for k, v in self.context.items()},
            }
        )
        self.parent_run = self.store.create_run(self.parent_experiment, self.id, literals, tags)
        return {
            "uri": shown_uri(self.store.uri),
            "experiment": env["MLFLOW_EXPERIMENT_NAME"],
            "experiment_id": self.parent_experiment,
            "run_id": self.parent_run,
        }

    def new_trial(self) -> Optional[Trial]:
        number = len(self.trials) + 1
        values = self.sampler.next(number)
        if values is None:
            return None
        name = f"trial-{number:0{self.width}d}"
        trial = Trial(number, name, values, self.folder / name)
        self.trials.append(trial)
        return trial

    def work(self, trial: Trial) -> None:
        """Run one trial to its end (a worker thread)."""
        trial.thread = threading.get_ident()
        trial.started = time.monotonic()
        trial.state = "running"
        try:
            spec = self.sweep.trial_spec(trial.values)
            overrides = {**self.overrides, **self.sweep.trial_overrides(trial.values)}
            _, job = prepare_run(
                self.project, spec, overrides, self.runtime.in_container, trial.run_dir
            )
            trial.outputs = {n: b.host for n, b in job.outputs.items()}
            code, record = execute(
                self.project,
                spec,
                self.runtime,
                trial.run_dir,
                job,
                echo=False,
                params={k: format_value(v) for k, v in trial.values.items()},
                tags={
                    "mlflow.parentRunId": self.parent_run,
                    "amlops.sweep": self.id,
                    "amlops.trial": trial.name,
                },
                sweep=self.id,
                trial=trial.name,
                sampled=trial.values,
                **self.context,
            )
        except Exception as err:  # staging or the runtime failed: the trial failed, not the sweep
            if is_disk_full(err):  # one line, and the sweep's error (_no_metric)
                err = self.disk_full = disk_full_error(err, trial.run_dir)  # type: ignore
            trial.state, trial.detail, trial.exit_code = "failed", str(err) or repr(err), 1
            trial.duration = time.monotonic() - trial.started
            return
        trial.exit_code = code
        trial.duration = record.data.get("duration_s", time.monotonic() - trial.started)
        if code == INTERRUPTED and trial.stopping:
            trial.state = trial.stopping
            record.data.update(status=trial.stopping, stopped=trial.detail)
            record.save()
        elif code == INTERRUPTED:
            trial.state = "interrupted"
        else:
            trial.state = "completed" if code == 0 else "failed"
            if code:
                trial.detail = f"exit {code}"

    def refresh(self, trial: Trial) -> None:
        """Read what the trial has logged of the primary metric so far."""
        if not trial.run_id:
            tracking = read_record(trial.run_dir).get("tracking") or {}
            trial.experiment_id = tracking.get("experiment_id", "")
            trial.run_id = tracking.get("run_id", "")
        if trial.run_id:
            trial.history = self.store.metric_history(
                trial.experiment_id, trial.run_id, self.sweep.objective.metric
            )

    def stop(self, trial: Trial, state: str, why: str) -> None:
        if trial.stopping:
            return
        trial.stopping, trial.detail = state, why
        if not stop_thread_child(trial.thread):  # not started yet, or already stopped
            trial.stopping, trial.detail = "", ""

    def check(self, running: List[Trial]) -> None:
        """Early termination, trial_timeout and the sweep's timeout."""
        limits = self.sweep.limits
        histories = {t.name: t.history for t in self.trials if t.history}
        for trial in running:
            self.refresh(trial)
            if trial.history:
                histories[trial.name] = trial.history
        now = time.monotonic()
        if limits.timeout and now - self.started > limits.timeout and not self.stopping:
            self.stopping = f"timeout of {limits.timeout}s reached"
        for trial in running:
            if trial.state != "running":
                continue
            if self.stopping:
                # after a Ctrl-C, a trial whose process has not ended yet is interrupted like
                # the others (it was marked "canceled" when this tick came before its end)
                state = "interrupted" if self.stopping == "interrupted" else "canceled"
                self.stop(trial, state, self.stopping)
                continue
            if limits.trial_timeout and now - trial.started > limits.trial_timeout:
                self.stop(trial, "timed_out", f"trial_timeout {limits.trial_timeout}s")
                continue
            policy = self.sweep.policy
            while policy and trial.evaluated < len(trial.history) and not trial.stopping:
                trial.evaluated += 1
                if due(policy, trial.evaluated):
                    reason = stop_reason(
                        policy, self.sweep.objective, trial.name, trial.evaluated, histories
                    )
                    if reason:
                        self.stop(
                            trial, "early_terminated", f"{reason} at interval {trial.evaluated}"
                        )

    def header(self) -> str:
        done = sum(1 for t in self.trials if t.state in ENDED)
        running = sum(1 for t in self.trials if t.state == "running")
        took = time.monotonic() - self.started
        return (
            f"sweep {self.id}: {done}/{self.total} ended, {running} running,"
            f" {took:.0f}s  ({describe(self.sweep)})"
        )

    def rank_of(self, trial: Trial) -> str:
        value = self.best_of(trial)
        if value is None:
            return ""
        values = [v for v in (self.best_of(t) for t in self.trials) if v is not None]
        better = sum(1 for v in values if self.sweep.objective.better(v, value))
        return f"(#{better + 1} of {len(values)}) "

    def settle(self, trial: Trial) -> None:
        self.refresh(trial)
        trial.history_best = self.best_of(trial)
        self.sampler.tell(trial.number, trial.history_best)
        self.board.ended(trial, self.rank_of(trial))

    def run(self) -> None:
        """Start, watch and collect trials until the limits or the sampler say stop.
        Ctrl-C or SIGTERM stops the running trials and starts no more."""
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if in_main else None
        try:
            with self.board.shown():
                self._run()
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)

    def _run(self) -> None:
        exhausted = False
        running: Dict["futures.Future[None]", Trial] = {}
        with futures.ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            while True:
                try:
                    if stopping() and not self.stopping:  # a pipeline being stopped
                        self.stopping = "interrupted"
                    while (
                        not self.stopping
                        and not exhausted
                        and len(running) < self.concurrency
                        and len(self.trials) < self.total
                    ):
                        trial = self.new_trial()
                        if trial is None:
                            exhausted = True
                            break
                        trial.state = "starting"
                        running[pool.submit(self.work, trial)] = trial
                    if not running:
                        break
                    done, _ = futures.wait(
                        list(running), timeout=TICK, return_when="FIRST_COMPLETED"
                    )
                    for future in done:
                        trial = running.pop(future)
                        future.result()
                        self.settle(trial)
                    self.check(list(running.values()))
                    self.board.draw(self.trials, self.best_of, self.header())
                except KeyboardInterrupt:
                    self.stopping = "interrupted"
                    stop_all()
        self.board.draw(self.trials, self.best_of, self.header())


def _interrupt(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal handler
    raise KeyboardInterrupt


def _finish_parent(run: SweepRun, best: Optional[Trial], status: str) -> None:
    if best is not None:
        value = run.best_of(best)
        run.store.log_metrics(
            run.parent_experiment, run.parent_run, {run.sweep.objective.metric: value}
        )
        tags = {"amlops.best_trial": best.name}
        tags.update({f"amlops.best.{k}": format_value(v) for k, v in best.values.items()})
        run.store.set_tags(run.parent_experiment, run.parent_run, tags)
    run.store.finish_run(run.parent_experiment, run.parent_run, status)


def _trial_entry(project: Project, run: SweepRun, trial: Trial) -> Dict[str, Any]:
    return {
        "state": trial.state,
        "values": trial.values,
        "objective": run.best_of(trial),
        "intervals": len(trial.history),
        "duration_s": round(trial.duration, 3),
        "detail": trial.detail,
        "run_dir": project.relative(trial.run_dir),
    }


def _link_best(run: SweepRun, best: Trial) -> None:
    """`best` -> the best trial's folder, and `outputs` -> its outputs: a sweep job's
    outputs are its best trial's in Azure ML, so `.runs/<exp>/latest/outputs/...` (what
    an endpoint's local model path names) holds a model after a sweep too."""
    for name, target in (("best", best.name), ("outputs", f"{best.name}/outputs")):
        try:
            os.symlink(target, run.folder / name, target_is_directory=True)
        except OSError:
            pass


def _no_metric(project: Project, run: SweepRun) -> str:
    """The missing-metric error, with each trial's telling log line; the disk-full
    line instead when a trial found the disk full."""
    if getattr(run, "disk_full", None) is not None:
        return str(run.disk_full)  # type: ignore[attr-defined]
    metric = run.sweep.objective.metric
    lines = [
        f"{run.sweep.shown_as}: objective.primary_metric {metric!r}: no trial logged it"
        f" (log it with mlflow.log_metric({metric!r}, value)); the trials' logs:"
    ]
    for trial in run.trials:
        log = trial.run_dir / "logs" / "std_log.txt"
        said = telling_log_line(log) if log.is_file() else trial.detail or "no log"
        lines.append(f"  {trial.name} {trial.state}: {said[:200]} ({project.relative(log)})")
    return "\n".join(lines)


def sweep_store(project: Project, template: JobSpec) -> Store:
    """The tracking store a local sweep reads its trials' metrics from, reached now;
    UserError when it cannot be (TRACKING=0, or Optuna, for bayesian sampling, is
    missing)."""
    if not tracking_on(project):
        raise UserError(
            f"{template.sweep.shown_as}: a local sweep ranks its trials by the metrics they log"
            " to MLflow, so it needs tracking: run it without TRACKING=0"
        )
    env = run_environment(project, template)
    store = open_store(env["MLFLOW_TRACKING_URI"], env)
    if store is None:
        raise UserError(
            f"MLFLOW_TRACKING_URI={shown_uri(env['MLFLOW_TRACKING_URI'])}: a local sweep reads"
            " its trials' metrics from the tracking store, which must be a file store or an"
            " http(s) MLflow server (unset it to use .runs/mlruns)"
        )
    store.experiment_id(env["MLFLOW_EXPERIMENT_NAME"])  # an unreachable server: now
    sampler_for(template.sweep)  # a missing Optuna is told before anything is built
    return store


@dataclass
class SweepResult:
    """A finished local sweep: its run, best trial (None when no trial logged the
    primary metric), status (completed, failed or interrupted) and record."""

    run: SweepRun
    best: Optional[Trial]
    status: str
    record: RunRecord
    tracking: Dict[str, str]

    @property
    def outputs(self) -> Dict[str, Path]:
        """The best trial's outputs: the sweep's own (Azure ML's rule, spec/sweep_node.py)."""
        return dict(self.best.outputs) if self.best else {}

    def best_line(self) -> str:
        """`trial-02 loss=0.5 [x=1]`, or empty without a best trial."""
        if self.best is None:
            return ""
        metric = self.run.sweep.objective.metric
        return best_summary(self.best.name, metric, self.run.best_of(self.best), self.best.values)


def sweep_trials(project: Project, run: SweepRun) -> SweepResult:
    """Run a sweep's trials (in its prepared runtime); the sweep's run.json, its MLflow
    parent run and the `best` link are written. Returns whatever the trials did
    (never raises for a trial's failure)."""
    sweep, template, runtime = run.sweep, run.template, run.runtime
    searched = sweep.placeholders()
    literals = bind_inputs(template, project, {**run.overrides, **searched}, in_container=False)[1]
    params = {k: v for k, v in literals.items() if k not in searched}
    tracking = run.start_parent(params)
    record = RunRecord(
        run.folder,
        kind="sweep",
        experiment=template.experiment,
        job_file=project.relative(template.file),
        runtime=runtime.name,
        environment=runtime.describe(),
        sampling=describe(sweep),
        primary_metric=sweep.objective.metric,
        max_total_trials=run.total,
        max_concurrent_trials=run.concurrency,
        tracking=tracking,
        **run.context,
    )
    run.run()
    best = None
    for trial in run.trials:
        value = run.best_of(trial)
        if value is not None and (best is None or sweep.objective.better(value, run.best_of(best))):
            best = trial
    interrupted = run.stopping == "interrupted"
    status = "interrupted" if interrupted else "completed" if best else "failed"
    record.data.update(
        trials={t.name: _trial_entry(project, run, t) for t in run.trials},
        best=best.name if best else None,
        best_values=best.values if best else None,
        best_objective=run.best_of(best) if best else None,
        best_outputs={n: project.relative(p) for n, p in best.outputs.items()} if best else {},
        stopped=run.stopping,
    )
    record.finish(INTERRUPTED if interrupted else 0 if best else 1, status)
    _finish_parent(
        run, best, "FINISHED" if best and not interrupted else "KILLED" if interrupted else "FAILED"
    )
    if best is not None and not interrupted:
        _link_best(run, best)
    return SweepResult(run, best, status, record, tracking)


def no_metric(project: Project, result: SweepResult) -> str:
    """Why a sweep has no best trial: the missing-metric error with the trials' logs."""
    return _no_metric(project, result.run)


def run_sweep(
    project: Project,
    template: JobSpec,
    runtime_choice: str,
    overrides: Dict[str, str],
    **context: str,
) -> int:
    """Run a sweep job file's (or, with `context` pipeline and step, a sweep node's)
    trials locally; 0 when a best trial was found, 130 after Ctrl-C, else UserError
    (e.g. no trial logged the primary metric)."""
    sweep: SweepSpec = template.sweep
    searched = sweep.placeholders()
    bind_inputs(template, project, {**overrides, **searched}, in_container=False)  # now
    store = sweep_store(project, template)
    runtime = prepared_runtime(project, template, runtime_choice)
    run = SweepRun(project, template, runtime, overrides, store, context=context)
    rel = project.relative(run.folder)
    unset = (
        ""
        if sweep.limits.max_concurrent_trials
        else " (max_concurrent_trials unset: one per core here)"
    )
    say(f"sweep {rel}: up to {run.total} trials, {run.concurrency} at a time{unset}")
    say(describe(sweep))
    say(f"trials run in {runtime.describe()}")
    for notice in (runtime.notice, run.sampler.notice, not_applied_locally(template)):
        if notice:
            say(notice)
    if sweep.raw.get("compute"):
        say(f"compute {sweep.raw['compute']}: not used locally (make job sends it)")
    result = sweep_trials(project, run)
    _summary(project, result.run, result.best, result.record.data["duration_s"], result.tracking)
    if result.status == "interrupted":
        return INTERRUPTED
    if result.best is None:
        raise UserError(no_metric(project, result))
    return 0


def _summary(
    project: Project, run: SweepRun, best: Optional[Trial], seconds: float, tracking: Dict[str, str]
) -> None:
    counts: Dict[str, int] = {}
    for trial in run.trials:
        counts[trial.state] = counts.get(trial.state, 0) + 1
    told = ", ".join(f"{n} {state}" for state, n in counts.items()) or "no trials"
    stopped = f" ({run.stopping})" if run.stopping else ""
    print(f"sweep {run.id}: {told} in {seconds:.1f}s{stopped}", flush=True)
    for line in run.board.rows(run.trials, run.best_of):
        print(line, flush=True)
    failed = [t for t in run.trials if t.state == "failed"]
    for trial in failed:
        log = project.relative(trial.run_dir / "logs" / "std_log.txt")
        say(f"{trial.name} failed: {trial.detail}; log {log}")
    if best is not None:
        metric = run.sweep.objective.metric
        print(
            f"best: {best.name} {metric}={run.best_of(best):.6g} with {best.shown_values()}",
            flush=True,
        )
        print(f"best outputs: {project.relative(best.run_dir / 'outputs')}", flush=True)
    where = where_tracked(project, tracking["uri"])
    say(
        f"tracked: MLflow experiment {tracking['experiment']}, run {run.id} and its trials in"
        f" {where} (make runs EXP={run.template.experiment}, make ui)"
    )
