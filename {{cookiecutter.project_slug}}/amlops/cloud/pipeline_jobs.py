"""The pipeline file as the native jobs `make pipeline` and `make step` send.

pipeline_job: a native pipeline file keeps its structure (cloud/native_pipeline.py), a
shorthand file becomes inline command nodes (native.py flat_pipeline_job); step_job: one
step as a command job, a sweep node's as a sweep job (cloud/sweep.py). Built from
cloud/native.py's command jobs; kept apart from it so that native.py, native_pipeline.py
and sweep.py do not import each other in a circle."""

from typing import Any, Dict

from amlops.cloud.native import (
    JOB_ONLY,
    SCHEMA,
    UpstreamPath,
    _node_input,
    _outputs,
    _tags,
    _with_path,
    cloud_input,
    flat_pipeline_job,
    job_body,
    node_compute,
    pipeline_compute,
)
from amlops.cloud.native_pipeline import NativePipeline
from amlops.cloud.submission import Submission
from amlops.cloud.sweep import node_sweep_job
from amlops.project import Project
from amlops.spec.pipeline import FromParent, FromStep, PipelineSpec, Step


def pipeline_job(
    project: Project,
    spec: PipelineSpec,
    sub: Submission,
    overrides: Dict[str, str],
    tags: Dict[str, str],
) -> Dict[str, Any]:
    """`make pipeline`: the pipeline file as a native pipeline job. A native file keeps
    its structure (nodes, component files, nested pipeline components); a shorthand
    file becomes inline command nodes."""
    if spec.native:
        return NativePipeline(project, spec, sub).job(overrides, tags)
    return flat_pipeline_job(project, spec, sub, overrides, tags)


def step_job(
    project: Project,
    spec: PipelineSpec,
    step: Step,
    sub: Submission,
    overrides: Dict[str, str],
    upstream: UpstreamPath,
    tags: Dict[str, str],
) -> Dict[str, Any]:
    """`make step STEP=x`: one step as a command job; upstream outputs come as paths."""
    job = step.runnable()
    native: Dict[str, Any] = {"$schema": SCHEMA.format("commandJob")}
    native.update({k: v for k, v in job_body(job, sub).items() if k not in JOB_ONLY})
    native["display_name"] = step.raw.get("display_name") or step.name
    native["experiment_name"] = spec.raw.get("experiment_name") or f"{project.slug}-{spec.name}"
    compute = node_compute(project, step) or pipeline_compute(project, spec)
    native.pop("compute", None)
    if compute:
        native["compute"] = compute
    step_tags = {**tags, "pipeline": spec.name, "step": step.name}
    native["tags"] = _tags(step.raw.get("tags"), step_tags)
    inputs: Dict[str, Any] = {}
    for name, item in job.inputs.items():
        source = step.bindings.get(name)
        if source is None and name not in overrides and item.optional and not item.has_value:
            continue
        where = f"{spec.shown_as}: step {step.name!r}"
        if name in overrides:
            inputs[name] = cloud_input(item, project.root, where, project, sub, overrides[name])
        elif isinstance(source, FromStep):
            inputs[name] = _with_path(item, upstream(name, source))
        elif isinstance(source, FromParent):
            parent = spec.inputs[source.name]
            value = cloud_input(parent, spec.file.parent, spec.where(parent.line), project, sub)
            if isinstance(value, dict) and item.mode:
                value["mode"] = item.mode
            inputs[name] = value
        else:
            inputs[name] = _node_input(spec, project, step, name, sub)
    native["inputs"] = inputs
    native["outputs"] = _outputs(job, {})
    if job.sweep is not None:
        return node_sweep_job(native, job)
    return native
