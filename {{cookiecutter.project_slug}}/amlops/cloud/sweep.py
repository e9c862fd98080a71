"""A sweep job file as the native sweep job `make job` sends (DRY_RUN writes it).

Field for field as the file says, with the same documented rewrites as a command
job (cloud/native.py): in `trial:`, `code` points to the staged snapshot and a local
environment's files are copied into the submission folder; local input paths are
made relative to the submission folder (INPUTS=... replaces a value or path);
added when absent: `$schema` and `experiment_name` (`<project>-<experiment>`);
added to `tags`: git_commit, git_dirty, user and the experiment; `compute` as for
a command job (COMPUTE, the file's, AML_COMPUTE, else none: serverless)."""

from typing import Any, Dict

from amlops.cloud import native
from amlops.cloud.submission import Submission
from amlops.jobspec import JobSpec
from amlops.project import Project
from amlops.yamlfile import plain


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
