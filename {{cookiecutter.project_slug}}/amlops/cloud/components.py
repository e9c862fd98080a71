"""A pipeline file as registrable Azure ML v2 components (plain dicts, written as YAML).

Each experiment becomes a named command component (`<project>_<experiment>`), the
pipeline a pipeline component (`<project>_<pipeline>`) whose nodes reference them
by version. Versions are content addresses: the first 12 hex digits of a digest
of the component and every file it uploads, so publishing unchanged code again
names the same versions and registers nothing new. VERSION=... names the
pipeline component's version instead."""

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List

from amlops.cloud import native
from amlops.cloud.submission import Submission
from amlops.fingerprint import fingerprint
from amlops.project import Project
from amlops.spec.job import InputSpec, JobSpec
from amlops.spec.pipeline import PipelineSpec

CONTENT_TAG = "amlops_content"
# job.yaml fields that belong to the command component; the rest are node settings.
COMPONENT_FIELDS = ("code", "command", "environment", "resources", "distribution", "properties")
NODE_FIELDS = ("environment_variables", "limits", "identity", "queue_settings", "services")


def component_name(*parts: str) -> str:
    """A valid component name (lowercase letters, digits, _; starts with a letter)."""
    name = re.sub(r"[^a-z0-9_]+", "_", "_".join(parts).lower()).strip("_")
    return name if name[:1].isalpha() else f"c_{name}"


def content_digest(document: Dict[str, Any], *folders_digests: str) -> str:
    """A digest of a component (without version and tags) and its uploaded files."""
    stable = {k: v for k, v in document.items() if k not in ("version", "tags")}
    digest = hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode())
    for folder_digest in folders_digests:
        digest.update(folder_digest.encode())
    return digest.hexdigest()


def input_port(item: InputSpec) -> Dict[str, Any]:
    """A component input declaration: the type, and a literal's value as default."""
    port: Dict[str, Any] = {"type": item.type}
    if not item.is_path and item.value is not None:
        port["default"] = item.value
    if item.optional:
        port["optional"] = True
    return port


@dataclass
class Registered:
    """One component to register: its YAML document and where it goes."""

    document: Dict[str, Any]
    file_name: str
    content: str
    own_file: str = ""  # the component file whose own name and version are kept, if any

    @property
    def reference(self) -> str:
        return f"azureml:{self.document['name']}:{self.document['version']}"


def command_component(
    project: Project, spec: JobSpec, experiment: str, sub: Submission
) -> Registered:
    """A step's job as a command component. A job file (src/<exp>/job.yaml) becomes
    `<project>_<exp>`, versioned by its content address; a command component file keeps
    its own name, display_name, version (else the content address) and tags, as Azure
    ML registers it (`az ml component create`)."""
    body = native.job_body(spec, sub)
    own = spec.kind == "component" and bool(spec.raw.get("name"))
    document: Dict[str, Any] = {
        "$schema": native.SCHEMA.format("commandComponent"),
        "type": "command",
        "name": str(spec.raw["name"]) if own else component_name(project.slug, experiment),
        "display_name": str(spec.raw.get("display_name") or experiment),
    }
    if spec.raw.get("description"):
        document["description"] = spec.raw["description"]
    document.update({key: body[key] for key in COMPONENT_FIELDS if key in body})
    document["inputs"] = {name: input_port(item) for name, item in spec.inputs.items()}
    document["outputs"] = {name: {"type": item.type} for name, item in spec.outputs.items()}
    content = content_digest(document, *_uploaded_digests(sub, body))
    version = spec.raw.get("version") if own else None
    document["version"] = str(version) if version not in (None, "") else content[:12]
    own_tags = spec.raw.get("tags") if own and isinstance(spec.raw.get("tags"), dict) else {}
    document["tags"] = {**own_tags, CONTENT_TAG: content, "experiment": experiment}
    return Registered(
        document, f"component_{experiment}.yaml", content, spec.shown_as if own else ""
    )


def _uploaded_digests(sub: Submission, body: Dict[str, Any]) -> List[str]:
    """Digests of the local folders a component uploads (its code, its environment's)."""
    folders = []
    if isinstance(body.get("code"), str) and (sub.folder / body["code"]).is_dir():
        folders.append(sub.folder / body["code"])
    environment = body.get("environment")
    if isinstance(environment, str) and environment.startswith("file:"):
        folders.append((sub.folder / environment[len("file:") :]).parent)
    elif isinstance(environment, dict):
        build = environment.get("build") or {}
        if isinstance(build, dict) and build.get("path"):
            folders.append(sub.folder / build["path"])
        if isinstance(environment.get("conda_file"), str):
            folders.append(sub.folder / environment["conda_file"])
    return [fingerprint(folder) for folder in folders]


@dataclass
class PipelinePackage:
    """Everything `make publish` registers: command components, the pipeline component,
    and the pipeline job it was built from (for compute and the schedule's inputs)."""

    commands: Dict[str, Registered]
    pipeline: Registered
    job: Dict[str, Any]


def pipeline_component(
    project: Project, spec: PipelineSpec, sub: Submission, version: str, tags: Dict[str, str]
) -> PipelinePackage:
    """The pipeline file as a pipeline component over registered command components."""
    job = native.flat_pipeline_job(project, spec, sub, {}, tags)
    commands: Dict[str, Registered] = {}
    for step in spec.steps.values():
        if step.experiment not in commands:
            commands[step.experiment] = command_component(
                project, step.runnable(), step.experiment, sub
            )
    steps = {native.node_id(name): step for name, step in spec.steps.items()}
    document: Dict[str, Any] = {
        "$schema": native.SCHEMA.format("pipelineComponent"),
        "type": "pipeline",
        "name": component_name(project.slug, spec.name),
        "display_name": spec.raw.get("display_name") or spec.name,
    }
    if spec.raw.get("description"):
        document["description"] = spec.raw["description"]
    document["inputs"] = {name: input_port(item) for name, item in spec.inputs.items()}
    document["outputs"] = {name: {"type": out["type"]} for name, out in job["outputs"].items()}
    document["jobs"] = {}
    for name, node in job["jobs"].items():
        step = steps[name]
        entry: Dict[str, Any] = {
            "component": commands[step.experiment].reference,
            "display_name": node["display_name"],
        }
        for key in ("description", "compute", *NODE_FIELDS):
            if key in node:
                entry[key] = node[key]
        entry["inputs"] = node["inputs"]
        entry["outputs"] = node["outputs"]
        document["jobs"][name] = entry
    content = content_digest(document)
    document["version"] = version or content[:12]
    document["tags"] = {**tags, CONTENT_TAG: content, "pipeline": spec.name}
    pipeline = Registered(document, "pipeline_component.yaml", content)
    return PipelinePackage(commands, pipeline, job)
