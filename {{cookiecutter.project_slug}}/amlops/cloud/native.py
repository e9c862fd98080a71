"""Job and pipeline files as the native Azure ML v2 jobs that are sent (plain dicts,
written as YAML by submission.py).

A command job is sent as its file says, field for field. The documented
rewrites, and nothing else:
- `code:` points to the staged snapshot in the submission folder (staging.py);
- a local build context, conda file or environment file is copied into the
  submission folder and the path points there (a reference is unchanged);
- a local input `path:` is made relative to the submission folder (the SDK
  uploads it); INPUTS=... replaces an input's value or path;
- added when absent: `$schema`, `experiment_name` (`<project>-<experiment>`);
  added to `tags`: git_commit, git_dirty, user and the experiment;
- `compute:` is COMPUTE=... when given (for one call), else the file's, else
  AML_COMPUTE from config.env when set, else none: serverless compute.
Pipelines: each step becomes an inline command node built the same way from
its job file (less the job-only fields `$schema`, `name`, `experiment_name`);
bindings stay `${{parent...}}` expressions; a node keeps its job's compute
unless the pipeline step or COMPUTE sets one; a node whose job names none
runs on `azureml:serverless` when the pipeline has no default compute (the
pipeline form of "no compute"). A step job: one step as a command job (a sweep
node's: a sweep job, cloud/sweep.py), its upstream inputs given as paths; both built
by cloud/pipeline_jobs.py."""

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from amlops.cloud.submission import Submission
from amlops.errors import UserError
from amlops.inputs import REMOTE_PREFIXES, literal_problem, locate_input
from amlops.project import Project
from amlops.spec.job import InputSpec, JobSpec, OutputSpec
from amlops.spec.pipeline import FromParent, FromPath, FromStep, Literal, PipelineSpec, Step
from amlops.yamlfile import line_of, literal_value, plain

SCHEMA = "https://azuremlschemas.azureedge.net/latest/{}.schema.json"
# How a pipeline names serverless compute (a node may not simply omit compute there:
# the SDK refuses a pipeline node with neither its own nor a default compute).
SERVERLESS = "azureml:serverless"
# Fields of a job file that a pipeline node cannot have.
JOB_ONLY = ("$schema", "name", "experiment_name", "parent_job_name")
# Fields of a command component that a job (or an inline node) cannot have.
COMPONENT_ONLY = ("$schema", "name", "version", "is_deterministic", "additional_includes")
UpstreamPath = Callable[[str, FromStep], str]


def node_id(step: str) -> str:
    """A flattened step's node name (`fit.train` -> `fit__train`: no dots in node names)."""
    return step.replace(".", "__")


def compute_ref(name: str) -> str:
    """`azureml:<name>` (accepts either form)."""
    return name if name.startswith("azureml:") else f"azureml:{name}"


def chosen_compute(project: Project, from_file: Any) -> Optional[str]:
    """COMPUTE, else the file's compute (a job's `compute:` as written, a pipeline's
    settings.default_compute), else AML_COMPUTE; None means serverless compute."""
    settings = project.settings
    if settings.get("COMPUTE"):
        return compute_ref(settings.get("COMPUTE"))
    if from_file:
        return str(from_file)
    if settings.get("AML_COMPUTE"):
        return compute_ref(settings.get("AML_COMPUTE"))
    return None


def job_compute(project: Project, spec: JobSpec) -> Optional[str]:
    return chosen_compute(project, spec.raw.get("compute"))


def pipeline_compute(project: Project, spec: PipelineSpec) -> Optional[str]:
    return chosen_compute(project, spec.default_compute)


def _with_path(item: InputSpec, path: str) -> Dict[str, Any]:
    """The input's own mapping (mode, description...) with `path` set."""
    entry: Dict[str, Any] = plain(item.raw) if isinstance(item.raw, dict) else {}
    entry.setdefault("type", item.type)
    entry["path"] = path
    return entry


def cloud_input(
    item: InputSpec,
    base: Path,
    where: str,
    project: Project,
    sub: Submission,
    override: Optional[str] = None,
) -> Any:
    """One input as sent: the file's entry unchanged, except a local path (checked to
    exist, made relative to the submission folder) or an INPUTS override."""
    if not item.is_path:
        if override is None:
            if item.value is None and not item.optional:
                raise UserError(
                    f"{where}: input {item.name!r} has no value;"
                    f' set value: or pass INPUTS="{item.name}=<value>"'
                )
            return plain(item.raw)
        value = literal_value(override)
        problem = literal_problem(item, value)
        if problem:
            raise UserError(f"INPUTS {item.name}={override}: {problem} ({where})")
        if isinstance(item.raw, dict):
            return {**plain(item.raw), "value": value}
        return value
    path = override if override is not None else item.path
    if not path:
        if item.optional:
            return plain(item.raw)
        raise UserError(
            f"{where}: input {item.name!r} has no path; set path: (a local path or"
            f' azureml:<asset>:<version>) or pass INPUTS="{item.name}=<path>"'
        )
    if path.startswith(REMOTE_PREFIXES):
        return plain(item.raw) if override is None else _with_path(item, path)
    local = InputSpec(item.name, item.type, path=path if override is None else None)
    found = locate_input(local, base, where, project, override)
    return _with_path(item, sub.local_path(found))


def _outputs(spec: JobSpec, bound: Dict[str, str]) -> Dict[str, Any]:
    """The file's outputs as written; those in `bound` become `${{parent.outputs.<name>}}`."""
    outputs: Dict[str, Any] = {}
    for name, item in spec.outputs.items():
        if name in bound:
            outputs[name] = "${{parent.outputs.%s}}" % bound[name]
        else:
            outputs[name] = plain(spec.raw["outputs"][name]) if spec.raw["outputs"][name] else {}
    return outputs


def fields_as_sent(spec: JobSpec, sub: Submission, raw: Dict[str, Any]) -> Dict[str, Any]:
    """Every field of `raw` (the job file, or a sweep's trial) in its order, `code`
    and `environment` rewritten (see the module docstring)."""
    body: Dict[str, Any] = {}
    for key, value in raw.items():
        if spec.kind == "component" and key in COMPONENT_ONLY:
            continue
        if key == "code":
            code = sub.code(spec)
            if code is not None:
                body["code"] = code
        elif key == "environment":
            body["environment"] = sub.environment(spec)
        elif key == "command":
            body["command"] = str(value).strip()
        else:
            body[key] = plain(value)
    return body


def job_body(spec: JobSpec, sub: Submission) -> Dict[str, Any]:
    """The job file's fields as sent (fields_as_sent), `type: command` when absent;
    inputs/outputs are filled in by the callers."""
    body = fields_as_sent(spec, sub, spec.raw)
    body.setdefault("type", "command")
    return body


def _tags(spec_tags: Any, extra: Dict[str, str]) -> Dict[str, str]:
    tags = {str(k): str(v) for k, v in (spec_tags or {}).items()}
    tags.update(extra)
    return tags


def _job_inputs(
    project: Project, spec: JobSpec, sub: Submission, overrides: Dict[str, str]
) -> Dict[str, Any]:
    """The job's inputs as sent; a component's declarations become values (its
    defaults, INPUTS), and an unset optional input is left out."""
    inputs: Dict[str, Any] = {}
    for name, item in spec.inputs.items():
        where = spec.where(item.line)
        if spec.kind == "component" and name not in overrides:
            if not item.has_value and item.optional:
                continue
            if not item.is_path:
                inputs[name] = cloud_input(item, spec.folder, where, project, sub)
                if isinstance(inputs[name], dict):
                    inputs[name] = item.value
                continue
        inputs[name] = cloud_input(item, spec.folder, where, project, sub, overrides.get(name))
    return inputs


def command_job(
    project: Project,
    spec: JobSpec,
    sub: Submission,
    overrides: Dict[str, str],
    tags: Dict[str, str],
) -> Dict[str, Any]:
    """`make job EXP=x`: the job file as a native command job (a Spark job file: as the
    Spark job it is, its own environment sent, not the local run's pyspark venv)."""
    if spec.spark is not None:
        declared = spec.spark.declared_environment
        spec = replace(spec, environment=declared) if declared is not None else spec
    kind = "sparkJob" if spec.spark is not None else "commandJob"
    native: Dict[str, Any] = {"$schema": SCHEMA.format(kind)}
    native.update(job_body(spec, sub))
    native.setdefault("experiment_name", f"{project.slug}-{spec.experiment}")
    compute = job_compute(project, spec)
    if compute:
        native["compute"] = compute
    native["tags"] = _tags(spec.raw.get("tags"), {**tags, "experiment": spec.experiment})
    if spec.inputs or "inputs" in spec.raw:
        native["inputs"] = _job_inputs(project, spec, sub, overrides)
    if spec.outputs or "outputs" in spec.raw:
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
    item = step.runnable().inputs[name]
    source = step.bindings.get(name)
    where = f"{spec.shown_as}: step {step.name!r}"
    if source is None:
        job = step.runnable()
        where = f"{where}: {job.where(item.line)}"
        if job.kind == "component" and not item.is_path:
            return item.value
        return cloud_input(item, job.folder, where, project, sub)
    if isinstance(source, Literal):
        return source.value
    if isinstance(source, FromPath):
        raw = {"type": source.typed(item.type), "path": source.path}
        raw.update({"mode": item.mode} if item.mode else {})
        bound = InputSpec(name, raw["type"], path=source.path, mode=item.mode, raw=raw)
        return cloud_input(bound, source.base or spec.file.parent, where, project, sub)
    if isinstance(source, FromParent):
        expression = "${{parent.inputs.%s}}" % source.name
    else:
        expression = "${{parent.jobs.%s.outputs.%s}}" % (node_id(source.step), source.output)
    return _with_path(item, expression) if item.is_path and item.mode else expression


def node_compute(project: Project, step: Step) -> Optional[str]:
    """COMPUTE, else the pipeline step's compute, else its job's (None: the default)."""
    if project.settings.get("COMPUTE"):
        return compute_ref(project.settings.get("COMPUTE"))
    if step.raw.get("compute"):
        return compute_ref(str(step.raw["compute"]))
    if step.job is not None and step.job.raw.get("compute"):
        return str(step.job.raw["compute"])
    return None


def flat_pipeline_job(
    project: Project,
    spec: PipelineSpec,
    sub: Submission,
    overrides: Dict[str, str],
    tags: Dict[str, str],
) -> Dict[str, Any]:
    """Every step an inline command node, bindings kept: the shorthand's native form,
    and what SDK v1 and make publish build from (either form)."""
    raw = spec.raw
    native: Dict[str, Any] = {"$schema": SCHEMA.format("pipelineJob"), "type": "pipeline"}
    for key in ("display_name", "description"):
        if key in raw:
            native[key] = raw[key]
    native["experiment_name"] = raw.get("experiment_name") or f"{project.slug}-{spec.name}"
    native["tags"] = _tags(raw.get("tags"), {**tags, "pipeline": spec.name})
    settings = plain(raw.get("settings") or {})
    compute = pipeline_compute(project, spec)
    if compute:
        settings["default_compute"] = compute
    settings.setdefault("continue_on_step_failure", spec.continue_on_step_failure)
    native["settings"] = settings
    native["inputs"] = {
        name: cloud_input(
            item, spec.file.parent, spec.where(item.line), project, sub, overrides.get(name)
        )
        for name, item in spec.inputs.items()
    }
    native["outputs"] = {}
    for name, source in spec.outputs.items():
        produced: OutputSpec = spec.steps[source.step].outputs[source.output]
        declared = spec.declared_outputs.get(name) or produced.raw
        native["outputs"][name] = {
            k: v for k, v in declared.items() if k in ("type", "mode", "path", "name", "version")
        }
        native["outputs"][name].setdefault("type", produced.type)
    native["jobs"] = {}
    for name in spec.order:
        step = spec.steps[name]
        job = step.runnable()
        if job.sweep is not None:
            raise UserError(
                f"{spec.where(step.line)}: node {name!r} is a sweep node; make publish and"
                " AML_SDK=v1 build command steps only (make pipeline with SDK v2 sends it)"
            )
        node = {k: v for k, v in job_body(job, sub).items() if k not in JOB_ONLY}
        node["display_name"] = step.raw.get("display_name") or name
        if "description" in step.raw:
            node["description"] = step.raw["description"]
        compute = node_compute(project, step) or (
            "" if "default_compute" in settings else SERVERLESS
        )
        node.pop("compute", None)
        if compute:
            node["compute"] = compute
        if step.raw.get("tags"):
            node["tags"] = _tags(step.raw["tags"], {})
        node["inputs"] = {
            i: _node_input(spec, project, step, i, sub)
            for i, item in job.inputs.items()
            if i in step.bindings or item.has_value or not item.optional
        }
        node["outputs"] = _outputs(job, _bound_outputs(spec, step))
        native["jobs"][node_id(name)] = node
    return native
