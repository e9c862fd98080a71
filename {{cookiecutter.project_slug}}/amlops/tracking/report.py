"""`make runs` and `make compare`: the local runs, read from their run folders
(.runs/**/run.json) and their MLflow runs (params and the latest metric values).

Run ids are the run folder under its experiment (or pipeline): `20261130-101500-a1b2c3`,
`<sweep id>/trial-03`, `<pipeline run id>/<step>`. `make compare` takes ids or any
unique end of one (`trial-03`, `a1b2c3`)."""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from amlops.console import say
from amlops.errors import UserError
from amlops.project import Project
from amlops.runs import (
    PIPELINE_FILE,
    RUN_FILE,
    read_pipeline_record,
    read_record,
    run_folders,
)
from amlops.tracking.local import mlflow_settings, shown_uri, tracking_uri
from amlops.tracking.store import DamagedRun, RunData, Store, open_store

SKIPPED = {"azure", "mlruns", "pipelines"}  # top-level folders that are not experiments


@dataclass
class LocalRun:
    """One run folder and what its record and MLflow run say."""

    id: str
    folder: Path
    record: Dict[str, Any]
    group: str  # the top-level run this one belongs to (itself, its sweep or pipeline run)
    child: bool = False
    data: RunData = field(default_factory=RunData)

    @property
    def experiment(self) -> str:
        return str(self.record.get("experiment", ""))

    @property
    def started(self) -> float:
        return float(self.record.get("started") or 0)


def find_runs(project: Project) -> List[LocalRun]:
    """Every run folder with a run.json: runs of experiments and notebooks, sweeps and
    their trials, and pipeline steps and a sweep step's trials (a pipeline run's folder
    itself has pipeline.json)."""
    runs: List[LocalRun] = []
    root = project.runs
    if not root.is_dir():
        return runs
    for top in sorted(root.iterdir()):
        if top.name.startswith(".") or top.name in SKIPPED or not top.is_dir():
            continue
        for folder in run_folders(top):
            record = read_record(folder)
            if not record:
                continue
            runs.append(LocalRun(folder.name, folder, record, folder.name))
            for trial in sorted(folder.glob(f"trial-*/{RUN_FILE}")):
                trial_record = read_record(trial.parent)
                if not trial_record:
                    continue  # damaged: said by read_record
                runs.append(
                    LocalRun(
                        f"{folder.name}/{trial.parent.name}",
                        trial.parent,
                        trial_record,
                        folder.name,
                        child=True,
                    )
                )
    for pipeline in sorted((root / "pipelines").glob("*")):
        for folder in run_folders(pipeline):
            if not (folder / PIPELINE_FILE).is_file():
                continue
            for step in sorted(folder.glob(f"*/{RUN_FILE}")):
                record = read_record(step.parent)
                if not record:
                    continue  # damaged: said by read_record
                record.setdefault("pipeline", pipeline.name)
                record.setdefault("step", step.parent.name)
                record.setdefault("started", _started_of(folder))
                runs.append(
                    LocalRun(f"{folder.name}/{step.parent.name}", step.parent, record, folder.name)
                )
                for trial in sorted(step.parent.glob(f"trial-*/{RUN_FILE}")):  # a sweep node's
                    trial_record = read_record(trial.parent)
                    if not trial_record:
                        continue
                    runs.append(
                        LocalRun(
                            f"{folder.name}/{step.parent.name}/{trial.parent.name}",
                            trial.parent,
                            trial_record,
                            folder.name,
                            child=True,
                        )
                    )
    return runs


def _started_of(folder: Path) -> float:
    record = read_pipeline_record(folder)
    return float((record or {}).get("started") or 0)


class Stores:
    """One store object per tracking URI; a store that fails is told once, then skipped."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.env = mlflow_settings(project)
        self.default_uri = tracking_uri(project)
        self.stores: Dict[str, Optional[Store]] = {}

    def data(self, tracking: Dict[str, str]) -> RunData:
        uri = tracking.get("uri") or ""
        if not tracking.get("run_id") or not uri:
            return RunData()
        if uri not in self.stores:
            # a recorded URI has no credentials: the settings' own URI may carry them
            same = shown_uri(self.default_uri) == uri
            self.stores[uri] = open_store(self.default_uri if same else uri, self.env)
        store = self.stores[uri]
        if store is None:
            return RunData()
        try:
            return store.run_data(tracking.get("experiment_id", ""), tracking["run_id"])
        except DamagedRun as err:  # that run only: the store's other runs are read
            say(
                f"skipping damaged MLflow run {self.project.relative(err.folder)} ({err.why});"
                " its params and metrics are left out"
            )
            return RunData()
        except UserError as err:
            say(f"warning: {err}")
            self.stores[uri] = None
            return RunData()
        except (ValueError, OSError, LookupError, TypeError, AttributeError) as err:
            # one damaged run (a garbled or non-UTF-8 meta.yaml or metric file) leaves
            # only its own params and metrics out
            say(
                f"skipping damaged MLflow run {tracking['run_id']} in {uri}"
                f" ({type(err).__name__}); its params and metrics are left out"
            )
            return RunData()


def _number(value: float) -> str:
    return f"{value:.4g}"


def _shown(value: Any) -> str:
    """A number to 4 significant digits; text that is a long float to 6."""
    if isinstance(value, float):
        return _number(value)
    text = str(value)
    if len(text) > 8:
        try:
            return f"{float(text):.6g}"
        except ValueError:
            pass
    return text


def _pairs(values: Dict[str, Any]) -> str:
    return " ".join(f"{k}={_shown(v)}" for k, v in sorted(values.items()))


def _duration(record: Dict[str, Any]) -> str:
    seconds = record.get("duration_s")
    if seconds is None:
        return "-"
    return f"{seconds:.1f}s" if seconds < 600 else f"{seconds / 60:.1f}m"


def _start(record: Dict[str, Any]) -> str:
    started = record.get("started")
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "-"


def _experiment(run: LocalRun) -> str:
    """`<pipeline>:<node>` for a pipeline step (the node's name, as Azure ML's studio
    shows steps, whether it ran or was reused), `<kind>:<exp>` for a notebook set or a
    terminal/jupyter session, else the experiment."""
    if run.record.get("pipeline"):
        return f"{run.record['pipeline']}:{run.record.get('step') or run.folder.name}"
    experiment = run.experiment or run.folder.parent.name
    kind = run.record.get("kind") or ("notebooks" if "notebooks" in run.record else "")
    return f"{kind}:{experiment}" if kind else experiment


def _metrics(run: LocalRun) -> Dict[str, float]:
    """The MLflow run's latest metrics; for an untracked run (TRACKING=0), what the job
    wrote to its logs/metrics.json (the sample's common/tracking.py does), if anything."""
    if run.data.metrics or (run.record.get("tracking") or {}).get("run_id"):
        return run.data.metrics
    try:
        logged = json.loads((run.folder / "logs" / "metrics.json").read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in logged.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _params(run: LocalRun) -> Dict[str, str]:
    if run.data.params:
        return run.data.params
    return {str(k): str(v) for k, v in (run.record.get("literals") or {}).items()}


def select(
    project: Project, experiment: str = "", pipeline: str = "", limit: int = 0
) -> List[LocalRun]:
    """Runs newest first (a sweep's trials and a pipeline run's steps follow it), filtered
    by experiment (src/<exp>) or pipeline; `limit` groups at most (0: all)."""
    runs = find_runs(project)
    if experiment:
        runs = [r for r in runs if r.experiment == experiment]
    if pipeline:
        runs = [r for r in runs if r.record.get("pipeline") == pipeline]
    groups: Dict[str, List[LocalRun]] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    ordered = sorted(groups.values(), key=lambda g: max(r.started for r in g), reverse=True)
    if limit:
        ordered = ordered[:limit]
    chosen = []
    for group in ordered:
        chosen += sorted(group, key=lambda r: (r.child, r.id if r.child else r.started))
    stores = Stores(project)
    for run in chosen:
        run.data = stores.data(run.record.get("tracking") or {})
    return chosen


def runs_table(runs: List[LocalRun]) -> List[str]:
    """The rows `make runs` prints (a header first)."""
    rows = [("id", "experiment", "status", "start", "duration", "runtime", "parameters", "metrics")]
    for run in runs:
        rows.append(
            (
                ("  " if run.child else "") + run.id,
                _experiment(run),
                str(run.record.get("status", "-")),
                _start(run.record),
                _duration(run.record),
                str(run.record.get("runtime", "-")),
                _pairs(_params(run)) or "-",
                _pairs(_metrics(run)) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:6], widths))
        + f"  {row[6]}  |  {row[7]}"
        for row in rows
    ]


def show_runs(project: Project, experiment: str, pipeline: str, limit: str) -> int:
    """`make runs`: print the table; 0."""
    if limit and not limit.isdigit():
        raise UserError(f"LIMIT={limit!r}: use a whole number (0 = all runs)")
    if experiment:
        project.experiment_of_runs(experiment)
    if pipeline:
        project.pipeline_file(pipeline)
    runs = select(project, experiment, pipeline, int(limit or 0))
    if not runs:
        what = f" of {experiment or pipeline}" if experiment or pipeline else ""
        say(f"no local runs{what} yet (make local EXP=<name> makes one)")
        return 0
    print("\n".join(runs_table(runs)))
    return 0


def resolve(project: Project, wanted: List[str]) -> List[LocalRun]:
    """The runs that ids (or unique ends of ids) name; UserError for an unknown or
    ambiguous one."""
    runs = find_runs(project)
    chosen = []
    for text in wanted:
        exact = [r for r in runs if r.id == text]
        found = exact or [r for r in runs if text in r.id]
        if not found:
            raise UserError(f"RUNS: no local run {text!r} (make runs lists them)")
        if len(found) > 1:
            shown = ", ".join(r.id for r in found[:5])
            raise UserError(f"RUNS: {text!r} names {len(found)} runs ({shown}...); give more of it")
        chosen.append(found[0])
    stores = Stores(project)
    for run in chosen:
        run.data = stores.data(run.record.get("tracking") or {})
    return chosen


def _compare_rows(runs: List[LocalRun]) -> Tuple[List[Tuple[str, List[str]]], List[str]]:
    """(rows that differ: label and one cell per run, things the same in all)."""
    differ: List[Tuple[str, List[str]]] = []
    same: List[str] = []
    facts = {
        "experiment": [_experiment(r) for r in runs],
        "status": [str(r.record.get("status", "-")) for r in runs],
        "duration": [_duration(r.record) for r in runs],
        "runtime": [str(r.record.get("runtime", "-")) for r in runs],
    }
    for label, cells in facts.items():
        differ.append((label, cells))
    for kind, values in (
        ("param", [_params(r) for r in runs]),
        ("metric", [{k: _number(v) for k, v in _metrics(r).items()} for r in runs]),
    ):
        for key in sorted(set().union(*values)):
            cells = [_shown(v.get(key, "-")) for v in values]
            if len(set(cells)) > 1:
                differ.append((f"{kind} {key}", cells))
            else:
                same.append(f"{key}={cells[0]}")
    return differ, same


def compare(project: Project, runs_text: str) -> int:
    """`make compare RUNS="a b ..."`: two or more runs side by side; the params and
    metrics that differ, then those the same in all."""
    wanted = runs_text.split()
    if len(wanted) < 2:
        raise UserError(
            'make compare needs two or more runs: RUNS="<id> <id>" (make runs lists ids)'
        )
    runs = resolve(project, wanted)
    differ, same = _compare_rows(runs)
    header = [""] + [r.id for r in runs]
    table = [header] + [[label, *cells] for label, cells in differ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if len(differ) == 4:
        print("params and metrics: no differences")
    if same:
        print("same in all: " + " ".join(same))
    return 0
