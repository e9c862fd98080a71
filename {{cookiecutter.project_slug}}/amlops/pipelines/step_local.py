"""`make step-local STEP=x`: run one pipeline step alone, like `make local`.

Its upstream inputs come from the latest pipeline-local run in which the
producing step succeeded (or was reused), unless INPUTS gives a path. A sweep
node runs its trials, as `make local` runs a sweep job file."""

from pathlib import Path
from typing import List

from amlops.console import say
from amlops.errors import UserError
from amlops.inputs import parse_overrides
from amlops.local.run import run_experiment
from amlops.pipelines.bindings import parent_values, step_overrides
from amlops.pipelines.history import latest_output
from amlops.project import Project
from amlops.spec.pipeline import FromParent, FromStep, find_step
from amlops.spec.pipeline_loader import load_pipeline_of_step, resolve_registered


def run_step_local(
    project: Project,
    pipeline: str,
    step_name: str,
    runtime_choice: str,
    inputs: List[str],
) -> int:
    """Run one step with the previous run's upstream outputs; returns its exit code."""
    spec = load_pipeline_of_step(project, pipeline, step_name)
    if project.workspace is not None:
        resolve_registered(project, spec, project.workspace.component)
    step = find_step(spec, step_name)
    explicit = parse_overrides(inputs, step.runnable())

    def upstream(name: str, source: FromStep) -> Path:
        if name in explicit:
            return Path(explicit[name])
        try:
            found = latest_output(project, spec, source)
            say(f"input {name}: {project.relative(found)} (step {source.step}, latest local run)")
            return found
        except LookupError:
            raise UserError(
                f"step {step.name!r} input {name!r} is output {source.output!r} of step"
                f" {source.step!r}, and no pipeline-local run of {spec.shown_as} has it yet;"
                f" run make pipeline-local PIPELINE={spec.name} first,"
                f' or pass INPUTS="{name}=<path>"'
            ) from None

    used = {s.name for s in step.bindings.values() if isinstance(s, FromParent)}
    parents = parent_values(spec, project, {}, only=used)
    overrides = step_overrides(spec, project, step, parents, upstream)
    overrides.update(explicit)
    job = step.runnable()
    if job.sweep is not None:
        from amlops.sweeps.run import run_sweep

        return run_sweep(
            project, job, runtime_choice, overrides, pipeline=spec.name, step=step.name
        )
    return run_experiment(
        project, job, runtime_choice, overrides, pipeline=spec.name, step=step.name
    )
