"""Earlier local runs of a pipeline: where each step's outputs were last produced.

`make step-local` and partial runs (`STEPS=`, `FROM=`) take the outputs of the
steps they do not run from here."""

from pathlib import Path
from typing import Any, Dict, List

from amlops.pipelines.scheduler import OK_STATES
from amlops.project import Project
from amlops.runs import read_pipeline_record, run_folders
from amlops.spec.pipeline import FromStep, PipelineSpec


def pipeline_runs_root(project: Project, name: str) -> Path:
    """.runs/pipelines/<name>/: one folder per local run."""
    return project.runs / "pipelines" / name


def run_records(project: Project, spec: PipelineSpec) -> List[Dict[str, Any]]:
    """pipeline.json of every earlier local run, newest first."""
    records = []
    for folder in run_folders(pipeline_runs_root(project, spec.name)):
        record = read_pipeline_record(folder)  # a damaged one is said and skipped
        if record is not None:
            records.append(record)
    return sorted(records, key=lambda r: r.get("started") or 0, reverse=True)


def latest_output(project: Project, spec: PipelineSpec, source: FromStep) -> Path:
    """The output folder of `source` in the newest run that produced it; LookupError if
    no earlier run did (or its folder is gone)."""
    for record in run_records(project, spec):
        step = (record.get("steps") or {}).get(source.step) or {}
        output = (step.get("outputs") or {}).get(source.output)
        if step.get("state") in OK_STATES and output and (project.root / output).exists():
            return project.root / output
    raise LookupError(source.step)


def latest_outputs(project: Project, spec: PipelineSpec, step: str) -> Dict[str, Path]:
    """Every output of `step` from the newest run where it succeeded; LookupError if none."""
    outputs = spec.steps[step].outputs
    return {name: latest_output(project, spec, FromStep(step, name)) for name in outputs}
