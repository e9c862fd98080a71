"""Turn a pipeline step's bindings into the input overrides of a local run.

A step then runs exactly like `make local` with INPUTS set: pipeline inputs
and local paths become host paths, upstream outputs become the producer's
output folder, literals become their text."""

from pathlib import Path
from typing import Callable, Dict, Optional, Set

from amlops.inputs import literal_text, locate_input
from amlops.project import Project
from amlops.spec.job import InputSpec
from amlops.spec.pipeline import FromParent, FromPath, FromStep, Literal, PipelineSpec, Step

UpstreamOutput = Callable[[str, FromStep], Path]


def parent_values(
    spec: PipelineSpec,
    project: Project,
    overrides: Dict[str, str],
    only: Optional[Set[str]] = None,
) -> Dict[str, str]:
    """Pipeline inputs (all, or `only` these) as host paths or literal text.

    Fails on missing data, before anything runs."""
    values: Dict[str, str] = {}
    for name, item in spec.inputs.items():
        if only is not None and name not in only:
            continue
        if item.is_path:
            where = spec.where(item.line)
            path = locate_input(item, spec.file.parent, where, project, overrides.get(name))
            values[name] = str(path)
            continue
        text = literal_text(item, overrides.get(name), spec.where(item.line))
        if text is not None:
            values[name] = text
    return values


def check_local_data(spec: PipelineSpec, project: Project) -> None:
    """Fail now if a step's local data is missing: a `path:` bound in the pipeline
    file, or the job.yaml default of an input the pipeline leaves unbound."""
    for step in spec.steps.values():
        if step.form == "remote":  # runs only in Azure ML: its data is not read here
            continue
        job = step.runnable()
        for name, item in job.inputs.items():
            source = step.bindings.get(name)
            if isinstance(source, FromPath):
                path_of(spec, project, step, name, source)
            elif source is None and item.is_path:
                if item.optional and not item.path:
                    continue
                where = f"{spec.shown_as}: step {step.name!r}: {job.where(item.line)}"
                fix = f"create it, or bind the input under jobs.{step.name}.inputs"
                locate_input(item, job.folder, where, project, None, fix)


def path_of(spec: PipelineSpec, project: Project, step: Step, name: str, source: FromPath) -> Path:
    """The host path of a `{type: ..., path: ...}` binding (relative to the pipeline file)."""
    item = step.runnable().inputs[name]
    bound = InputSpec(name, source.typed(item.type), path=source.path)
    where = f"{spec.shown_as}: step {step.name!r}"
    fix = f"create it, or change its path: under jobs.{step.name}.inputs"
    return locate_input(bound, source.base or spec.file.parent, where, project, None, fix)


def step_overrides(
    spec: PipelineSpec,
    project: Project,
    step: Step,
    parents: Dict[str, str],
    upstream: UpstreamOutput,
) -> Dict[str, str]:
    """name=value overrides for every bound input of `step`."""
    overrides: Dict[str, str] = {}
    for name, source in step.bindings.items():
        if isinstance(source, FromParent):
            overrides[name] = parents[source.name]
        elif isinstance(source, FromStep):
            overrides[name] = str(upstream(name, source))
        elif isinstance(source, FromPath):
            overrides[name] = str(path_of(spec, project, step, name, source))
        elif isinstance(source, Literal):
            overrides[name] = str(source.value)
    return overrides
