"""Which local run, and which of its outputs, is the model `make register-model` takes.

A run is `.runs/<exp>/<run id>/` with its run.json (amlops/runs.py); its outputs
are the job's `outputs:` as run.json records them (name -> host folder). The model is:
OUTPUT= when given; else the only output declared `type: mlflow_model`,
`custom_model` or `triton_model` (Azure ML's model output types,
azure/ai/ml/constants/_common.py AssetTypes); else the output named `model`; else the
only output. Its Azure ML model type is the declared model type, else `mlflow_model`
when the folder holds an MLmodel file (MLflow's model format), else `custom_model`."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from amlops.errors import UserError
from amlops.project import Project
from amlops.runs import read_record, run_folders
from amlops.yamlfile import load_yaml

MODEL_TYPES = ("mlflow_model", "custom_model", "triton_model")
MLMODEL_FILE = "MLmodel"


@dataclass(frozen=True)
class RunModel:
    """A run's model output: `path` the host folder (or file), `model_type` its Azure
    ML model type, `run_id` the run folder's name, `mlflow_run_id` its MLflow run ('' if
    it was not tracked)."""

    experiment: str
    run_dir: Path
    run_id: str
    output: str
    path: Path
    model_type: str
    mlflow_run_id: str


def _declared_types(project: Project, record: Dict[str, Any]) -> Dict[str, str]:
    """Output name -> declared `type` in the run's job file (as it is now; {} if gone)."""
    job_file = record.get("job_file")
    if not isinstance(job_file, str):
        return {}
    try:
        raw = load_yaml(project.root / job_file, job_file)
    except (UserError, OSError):
        return {}
    outputs = raw.get("outputs") if isinstance(raw, dict) else None
    if not isinstance(outputs, dict):
        return {}
    return {
        str(name): str(value.get("type", "uri_folder"))
        for name, value in outputs.items()
        if isinstance(value, dict)
    }


def _has_files(path: Path) -> bool:
    if path.is_file():
        return True
    return path.is_dir() and any(p.is_file() for p in path.rglob("*"))


def pick_output(outputs: Dict[str, str], types: Dict[str, str], wanted: str, shown: str) -> str:
    """The name of the model output among `outputs` (see the module docstring);
    UserError (one line) when OUTPUT= names none of them or the choice is ambiguous."""
    names = sorted(outputs)
    if wanted:
        if wanted not in outputs:
            raise UserError(
                f"{shown} has no output {wanted!r} (its outputs: {', '.join(names) or 'none'});"
                " set OUTPUT= to one of them"
            )
        return wanted
    typed = [n for n in names if types.get(n) in MODEL_TYPES]
    if len(typed) == 1:
        return typed[0]
    if "model" in outputs:
        return "model"
    if len(names) == 1:
        return names[0]
    raise UserError(
        f"{shown} has outputs {', '.join(names) or 'none'}: say which is the model with"
        " OUTPUT=<name>"
    )


def model_type(path: Path, declared: str) -> str:
    """The Azure ML model type of a model folder (see the module docstring)."""
    if declared in MODEL_TYPES:
        return declared
    return "mlflow_model" if path.is_dir() and (path / MLMODEL_FILE).is_file() else "custom_model"


def _candidates(project: Project, experiment: str, run: str) -> List[Path]:
    """Run folders to look at, newest first: the one RUN names (its folder name, its
    MLflow run id, or a path), else every run of the experiment."""
    folder = project.runs / experiment
    runs = list(reversed(run_folders(folder)))
    if not run:
        return runs
    given = Path(run)
    for candidate in (folder / run, project.root / given, given):
        if (candidate / "run.json").is_file():
            return [candidate]
    for run_dir in runs:
        tracking = read_record(run_dir).get("tracking") or {}
        if isinstance(tracking, dict) and tracking.get("run_id") == run:
            return [run_dir]
    known = ", ".join(p.name for p in runs[:3]) or "none yet: make local EXP=" + experiment
    raise UserError(
        f"RUN={run!r}: no run of {experiment} with that id under"
        f" {project.relative(folder)} (newest: {known})"
    )


def find_run_model(project: Project, experiment: str, run: str = "", output: str = "") -> RunModel:
    """The model output of run RUN of `experiment`, else of its newest completed run
    whose model output holds files. UserError (one line) when there is none."""
    candidates = _candidates(project, experiment, run)
    problems: List[str] = []
    for run_dir in candidates:
        record = read_record(run_dir)
        shown = project.relative(run_dir)
        if not run and record.get("status") != "completed":
            continue
        outputs = record.get("outputs") or {}
        if not isinstance(outputs, dict) or not outputs:
            problems.append(f"{shown} has no outputs")
            continue
        types = _declared_types(project, record)
        name = pick_output(outputs, types, output, shown)
        path = Path(str(outputs[name]))
        if not path.is_absolute():
            path = project.root / path
        if not _has_files(path):
            problems.append(f"{shown}: output {name} is empty")
            continue
        tracking = record.get("tracking") or {}
        return RunModel(
            experiment=experiment,
            run_dir=run_dir,
            run_id=run_dir.name,
            output=name,
            path=path,
            model_type=model_type(path, types.get(name, "")),
            mlflow_run_id=str(tracking.get("run_id", "")) if isinstance(tracking, dict) else "",
        )
    if run and problems:
        raise UserError(f"{problems[0]}: no model to register (OUTPUT= names another output)")
    raise UserError(
        f"no completed run of {experiment} with a model output under"
        f" {project.relative(project.runs / experiment)}: run make local EXP={experiment}"
        " first (or name a run with RUN=<id>)"
    )


def registered_tags(found: RunModel) -> Dict[str, str]:
    """Tags a registration records about the run (locally and in Azure ML)."""
    return {
        "amlops.experiment": found.experiment,
        "amlops.run": found.run_id,
        "amlops.output": found.output,
        **({"amlops.mlflow_run_id": found.mlflow_run_id} if found.mlflow_run_id else {}),
    }


def description_of(found: RunModel) -> str:
    return f"output {found.output} of local run {found.experiment}/{found.run_id}"


def mlmodel_flavors(path: Path) -> Optional[List[str]]:
    """The flavors an MLmodel file names (None when the folder has none)."""
    mlmodel = path / MLMODEL_FILE
    if not mlmodel.is_file():
        return None
    try:
        raw = load_yaml(mlmodel, str(mlmodel))
    except UserError:
        return []
    flavors = raw.get("flavors") if isinstance(raw, dict) else None
    return sorted(flavors) if isinstance(flavors, dict) else []
