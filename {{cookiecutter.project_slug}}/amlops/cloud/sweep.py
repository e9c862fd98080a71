"""A sweep job file as the native sweep job `make job` sends (DRY_RUN writes it).

Field for field as the file says, with the same documented rewrites as a command
job (cloud/native.py): in `trial:`, `code` points to the staged snapshot and a local
environment's files are copied into the submission folder; local input paths are
made relative to the submission folder (INPUTS=... replaces a value or path);
added when absent: `$schema` and `experiment_name` (`<project>-<experiment>`);
added to `tags`: git_commit, git_dirty, user and the experiment; `compute` as for
a command job (COMPUTE, the file's, AML_COMPUTE, else none: serverless).

`make step STEP=x` on a pipeline's sweep node sends a sweep job too: the trial
component's command fields as `trial:` (each searched `${{inputs.<name>}}` becoming
`${{search_space.<name>}}`, as a sweep job file writes it), the node's other inputs
and outputs, and its sweep settings as written."""

from typing import Any, Dict

from amlops.cloud import native
from amlops.cloud.submission import Submission
from amlops.project import Project
from amlops.spec.expressions import substitute
from amlops.spec.job import JobSpec
from amlops.spec.sweep import SETTINGS, TRIAL_FIELDS
from amlops.yamlfile import plain

# A sweep node's fields that a sweep job sent for it keeps, besides SETTINGS.
NODE_KEPT = ("display_name", "description", "identity", "queue_settings")


def sweep_job(
    project: Project,
    spec: JobSpec,
    sub: Submission,
    overrides: Dict[str, str],
    tags: Dict[str, str],
) -> Dict[str, Any]:
    """`make job` on a sweep job file (`spec` is its trial, spec.sweep the sweep)."""
    raw = spec.sweep.raw
    body: Dict[str, Any] = {"$schema": native.SCHEMA.format("sweepJob")}
    for key, value in raw.items():
        body[key] = native.fields_as_sent(spec, sub, value) if key == "trial" else plain(value)
    body.setdefault("experiment_name", f"{project.slug}-{spec.experiment}")
    compute = native.chosen_compute(project, raw.get("compute"))
    if compute:
        body["compute"] = compute
    body["tags"] = native._tags(raw.get("tags"), {**tags, "experiment": spec.experiment})
    if spec.inputs or "inputs" in raw:
        body["inputs"] = native._job_inputs(project, spec, sub, overrides)
    if spec.outputs or "outputs" in raw:
        body["outputs"] = native._outputs(spec, {})
    return body


def native_job(
    project: Project,
    spec: JobSpec,
    sub: Submission,
    overrides: Dict[str, str],
    tags: Dict[str, str],
) -> Dict[str, Any]:
    """The native job of an experiment's job file: a sweep job or a command job."""
    if spec.sweep is not None:
        return sweep_job(project, spec, sub, overrides, tags)
    return native.command_job(project, spec, sub, overrides, tags)


def source_raw(spec: JobSpec) -> Any:
    """The job file as load_yaml read it (line numbers for the SDK's problems)."""
    return spec.sweep.raw if spec.sweep is not None else spec.raw


def node_sweep_job(command_job: Dict[str, Any], trial: JobSpec) -> Dict[str, Any]:
    """A sweep node's step job (`command_job`: its trial component as a step's command
    job, built by native.step_job) as the sweep job it is."""
    sweep = trial.sweep
    searched = set(sweep.parameters)

    def space(expression: str) -> Any:
        kind, _, name = expression.partition(".")
        return "${{search_space.%s}}" % name if kind == "inputs" and name in searched else None

    body: Dict[str, Any] = {"$schema": native.SCHEMA.format("sweepJob"), "type": "sweep"}
    trial_fields: Dict[str, Any] = {}
    for key, value in command_job.items():
        if key in TRIAL_FIELDS:
            trial_fields[key] = substitute(value, space) if key == "command" else value
        elif key == "inputs":
            body["inputs"] = {k: v for k, v in value.items() if k not in searched}
        elif key not in ("$schema", "type"):
            body[key] = value
    body["trial"] = trial_fields
    for key in (*NODE_KEPT, *SETTINGS):
        if key in sweep.raw:
            body[key] = plain(sweep.raw[key])
    return body
