"""Our job.yaml and pipeline files as native Azure ML v2 jobs (plain dicts, written as YAML).

- a command job: job.yaml with code = the staged snapshot, environment = the
  copied build context, compute resolved, local input paths made relative to
  the submission folder;
- a pipeline job: each step an inline command node built the same way from its
  experiment, bindings kept as `${{parent...}}` expressions, pipeline outputs
  bound from the producing node, `default_compute` and
  `continue_on_step_failure` always set (so the cloud and `make pipeline-local`
  agree), reuse left on;
- a step job: one step as a command job, its upstream inputs given as paths."""

from pathlib import Path
from typing import Any, Callable, Dict, Optional

from amlops.cloud.submission import Submission
from amlops.errors import UserError
from amlops.jobspec import JOB_FIELDS, InputSpec, JobSpec, OutputSpec
from amlops.local.resolve import REMOTE_PREFIXES, locate_input
from amlops.pipelines.spec import FromParent, FromPath, FromStep, Literal, PipelineSpec, Step
from amlops.project import Project
from amlops.yamlfile import line_of, literal_value, plain

SCHEMA = "https://azuremlschemas.azureedge.net/latest/{}.schema.json"
# job.yaml fields rebuilt here; every other field is passed through unchanged.
REBUILT = {
    "$schema",
    "type",
    "name",
    "code",
    "environment",
    "compute",
    "inputs",
    "outputs",
    "experiment_name",
    "tags",
}
PASSED_THROUGH = sorted(JOB_FIELDS - REBUILT)
UpstreamPath = Callable[[str, FromStep], str]


def compute_ref(name: str) -> str:
    """`azureml:<name>` (accepts either form)."""
    return name if name.startswith("azureml:") else f"azureml:{name}"


def job_compute(project: Project, spec: JobSpec) -> str:
    """COMPUTE, else job.yaml's compute, else AML_COMPUTE from config.env."""
    settings = project.settings
    chosen = settings.get("COMPUTE") or str(spec.raw.get("compute") or "")
    chosen = chosen or settings.get("AML_COMPUTE")
    if not chosen:
        raise UserError(
            f"{spec.where(0)}: no compute: set compute: in job.yaml, AML_COMPUTE in"
            " config.env, or COMPUTE=<cluster>"
        )
    return compute_ref(chosen)


def pipeline_compute(project: Project, spec: PipelineSpec) -> str:
    """COMPUTE, else the pipeline's settings.default_compute, else AML_COMPUTE."""
    settings = project.settings
    chosen = settings.get("COMPUTE") or spec.default_compute or settings.get("AML_COMPUTE")
    if not chosen:
        raise UserError(
            f"{spec.shown_as}: no compute: set settings.default_compute, AML_COMPUTE in"
            " config.env, or COMPUTE=<cluster>"
        )
    return compute_ref(chosen)


def _path_input(item: InputSpec, path: str) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"type": item.type, "path": path}
    if item.mode:
        entry["mode"] = item.mode
    return entry


def cloud_input(
    item: InputSpec,
    base: Path,
    where: str,
    project: Project,
    sub: Submission,
    override: Optional[str] = None,
) -> Any:
    """One input as the native YAML gives it: a literal, a remote path, or a local path
    (checked to exist; the SDK uploads it as an anonymous data asset)."""
    if not item.is_path:
        if override is not None:
            return literal_value(override)
        if item.value is None:
            raise UserError(
                f"{where}: input {item.name!r} has no value;"
                f' set value: or pass INPUTS="{item.name}=<value>"'
            )
        return item.value
    path = override if override is not None else item.path
    if not path:
        raise UserError(
            f"{where}: input {item.name!r} has no path; set path: (a local path or"
            f' azureml:<asset>:<version>) or pass INPUTS="{item.name}=<path>"'
        )
    if path.startswith(REMOTE_PREFIXES):
        return _path_input(item, path)
    local = InputSpec(item.name, item.type, path=path if override is None else None)
    found = locate_input(local, base, where, project, override)
    return _path_input(item, sub.local_path(found))


def _outputs(spec: JobSpec, bound: Dict[str, str]) -> Dict[str, Any]:
    """job.yaml's outputs; those in `bound` become `${{parent.outputs.<name>}}`."""
    outputs: Dict[str, Any] = {}
    for name, item in spec.outputs.items():
        if name in bound:
            outputs[name] = "${{parent.outputs.%s}}" % bound[name]
            continue
        entry: Dict[str, Any] = {"type": item.type}
        if item.mode:
            entry["mode"] = item.mode
        outputs[name] = entry
    return outputs


def _body(spec: JobSpec, experiment: str, sub: Submission) -> Dict[str, Any]:
    """The fields of a command job or node that come straight from job.yaml."""
    body: Dict[str, Any] = {"type": "command"}
    for key in ("display_name", "description"):
        if key in spec.raw:
            body[key] = spec.raw[key]
    body["code"] = sub.code(experiment)
    body["command"] = spec.command
    body["environment"] = sub.environment(experiment, spec)
    for key in PASSED_THROUGH:
        if key in spec.raw and key not in body:
            body[key] = plain(spec.raw[key])
    return body


def _tags(spec_tags: Any, extra: Dict[str, str]) -> Dict[str, str]:
    tags = {str(k): str(v) for k, v in (spec_tags or {}).items()}
    tags.update(extra)
    return tags


def command_job(
    project: Project,
    spec: JobSpec,
    experiment: str,
    sub: Submission,
    overrides: Dict[str, str],
    tags: Dict[str, str],
) -> Dict[str, Any]:
    """`make job EXP=x`: job.yaml as a native command job."""
    native: Dict[str, Any] = {"$schema": SCHEMA.format("commandJob")}
    native.update(_body(spec, experiment, sub))
    native["experiment_name"] = spec.raw.get("experiment_name") or f"{project.slug}-{experiment}"
    native["compute"] = job_compute(project, spec)
    native["tags"] = _tags(spec.raw.get("tags"), {**tags, "experiment": experiment})
    native["inputs"] = {
        name: cloud_input(
            item, spec.file.parent, spec.where(item.line), project, sub, overrides.get(name)
        )
        for name, item in spec.inputs.items()
    }
    native["outputs"] = _outputs(spec, {})
    return native


def _bound_outputs(spec: PipelineSpec, step: Step) -> Dict[str, str]:
    """This step's outputs that the pipeline exports: step output -> pipeline output."""
    bound: Dict[str, str] = {}
    for name, source in spec.outputs.items():
        if source.step != step.name:
            continue
        if source.output in bound:
            raise UserError(
                f"{spec.where(line_of(spec.raw.get('outputs'), name))}: pipeline outputs"
                f" {bound[source.output]!r} and {name!r} both take step {step.name!r}"
                f" output {source.output!r}; Azure ML allows one"
            )
        bound[source.output] = name
    return bound


def _node_input(
    spec: PipelineSpec, project: Project, step: Step, name: str, sub: Submission
) -> Any:
    item = step.job.inputs[name]
    source = step.bindings.get(name)
    where = f"{spec.shown_as}: step {step.name!r}"
    if source is None:
        where = f"{where}: {step.job.where(item.line)}"
        return cloud_input(item, step.job.file.parent, where, project, sub)
    if isinstance(source, Literal):
        return source.value
    if isinstance(source, FromPath):
        bound = InputSpec(name, item.type, path=source.path, mode=item.mode)
        return cloud_input(bound, spec.file.parent, where, project, sub)
    if isinstance(source, FromParent):
        expression = "${{parent.inputs.%s}}" % source.name
    else:
        expression = "${{parent.jobs.%s.outputs.%s}}" % (source.step, source.output)
    return _path_input(item, expression) if item.is_path and item.mode else expression


def pipeline_job(
    project: Project,
    spec: PipelineSpec,
    sub: Submission,
    overrides: Dict[str, str],
    tags: Dict[str, str],
) -> Dict[str, Any]:
    """`make pipeline`: the pipeline file as a native pipeline job."""
    raw = spec.raw
    native: Dict[str, Any] = {"$schema": SCHEMA.format("pipelineJob"), "type": "pipeline"}
    for key in ("display_name", "description"):
        if key in raw:
            native[key] = raw[key]
    native["experiment_name"] = raw.get("experiment_name") or f"{project.slug}-{spec.name}"
    native["tags"] = _tags(raw.get("tags"), {**tags, "pipeline": spec.name})
    settings = plain(raw.get("settings") or {})
    settings["default_compute"] = pipeline_compute(project, spec)
    settings["continue_on_step_failure"] = spec.continue_on_step_failure
    native["settings"] = settings
    native["inputs"] = {
        name: cloud_input(
            item, spec.file.parent, spec.where(item.line), project, sub, overrides.get(name)
        )
        for name, item in spec.inputs.items()
    }
    native["outputs"] = {}
    for name, source in spec.outputs.items():
        produced: OutputSpec = spec.steps[source.step].job.outputs[source.output]
        native["outputs"][name] = {"type": produced.type}
        if produced.mode:
            native["outputs"][name]["mode"] = produced.mode
    native["jobs"] = {}
    for name in spec.order:
        step = spec.steps[name]
        node = _body(step.job, step.experiment, sub)
        node["display_name"] = step.raw.get("display_name") or name
        if "description" in step.raw:
            node["description"] = step.raw["description"]
        if step.raw.get("compute"):
            node["compute"] = compute_ref(str(step.raw["compute"]))
        if step.raw.get("tags"):
            node["tags"] = _tags(step.raw["tags"], {})
        node["inputs"] = {i: _node_input(spec, project, step, i, sub) for i in step.job.inputs}
        node["outputs"] = _outputs(step.job, _bound_outputs(spec, step))
        native["jobs"][name] = node
    return native


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
    native: Dict[str, Any] = {"$schema": SCHEMA.format("commandJob")}
    native.update(_body(step.job, step.experiment, sub))
    native["display_name"] = step.raw.get("display_name") or step.name
    native["experiment_name"] = spec.raw.get("experiment_name") or f"{project.slug}-{spec.name}"
    compute = project.settings.get("COMPUTE") or str(step.raw.get("compute") or "")
    native["compute"] = compute_ref(compute) if compute else pipeline_compute(project, spec)
    step_tags = {**tags, "pipeline": spec.name, "step": step.name}
    native["tags"] = _tags(step.raw.get("tags"), step_tags)
    inputs: Dict[str, Any] = {}
    for name, item in step.job.inputs.items():
        source = step.bindings.get(name)
        where = f"{spec.shown_as}: step {step.name!r}"
        if name in overrides:
            inputs[name] = cloud_input(item, project.root, where, project, sub, overrides[name])
        elif isinstance(source, FromStep):
            inputs[name] = _path_input(item, upstream(name, source))
        elif isinstance(source, FromParent):
            parent = spec.inputs[source.name]
            value = cloud_input(parent, spec.file.parent, spec.where(parent.line), project, sub)
            if isinstance(value, dict) and item.mode:
                value["mode"] = item.mode
            inputs[name] = value
        else:
            inputs[name] = _node_input(spec, project, step, name, sub)
    native["inputs"] = inputs
    native["outputs"] = _outputs(step.job, {})
    return native
