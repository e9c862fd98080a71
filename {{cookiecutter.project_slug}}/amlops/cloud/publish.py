"""`make publish`: a pipeline registered as a versioned pipeline component and deployed
to a batch endpoint, so others can trigger it (REST, Data Factory, a schedule).

Everything is written first to `.runs/azure/published/<pipeline>/<id>/`
(component_<exp>.yaml, pipeline_component.yaml, endpoint.yaml, deployment.yaml,
schedule.yaml + scheduled_job.yaml, invoke.json) and loaded back with the SDK;
DRY_RUN=1 stops there.
Publishing is idempotent: a component version that exists with the same content,
an endpoint that exists and a deployment of the same component are left alone."""

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from amlops.cloud import native
from amlops.cloud.components import CONTENT_TAG, PipelinePackage, Registered, pipeline_component
from amlops.cloud.packages import backend
from amlops.cloud.sdk import EXIT_CONFLICT, azure_errors, load_native, require_sdk
from amlops.cloud.submission import Submission
from amlops.cloud.tags import submission_tags
from amlops.cloud.workspace import connect, find_workspace
from amlops.console import say
from amlops.errors import UserError
from amlops.jsonfile import write_json
from amlops.project import Project
from amlops.spec.pipeline import PipelineSpec
from amlops.spec.pipeline_loader import load_pipeline
from amlops.yamlfile import dump_yaml

SCHEDULED_JOB_FILE = "scheduled_job.yaml"  # the pipeline job the schedule creates
NAME_LIMIT = 32  # endpoint and deployment names: letters, digits, -, at most 32


@dataclass
class PublishRequest:
    pipeline: str
    version: str = ""
    endpoint: str = ""
    schedule: str = ""
    make_default: bool = False
    dry_run: bool = False


# azure.ai.ml's EndpointConfigurations: NAME_REGEX_PATTERN, 3 to 32 characters.
ENDPOINT_RULE = re.compile(r"[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?")


def endpoint_name(*parts: str) -> str:
    """A valid endpoint, deployment or schedule name made of `parts`: a letter, then
    letters, digits and - (not last), 3 to NAME_LIMIT (32) characters.

    A name that must be cut keeps its start and ends in `-` plus 6 hex digits of a
    hash of the whole name, so names that differ only after the cut stay apart."""
    full = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    name = full if full[:1].isalpha() else f"p-{full}"
    if len(name) <= NAME_LIMIT:
        return name.ljust(3, "0")  # at least 3
    digest = hashlib.sha256(full.encode()).hexdigest()[:6]
    return f"{name[: NAME_LIMIT - 7].rstrip('-')}-{digest}"


def checked_endpoint(name: str) -> str:
    """`name` (the ENDPOINT setting) if Azure accepts it as an endpoint name, else
    UserError saying the rule."""
    if not ENDPOINT_RULE.fullmatch(name) or not 3 <= len(name) <= NAME_LIMIT:
        raise UserError(
            f"ENDPOINT={name!r}: use a letter, then letters, digits or - (not last),"
            f" 3 to {NAME_LIMIT} characters"
        )
    return name


@dataclass
class Documents:
    """The YAML documents of one publication, by file name."""

    package: PipelinePackage
    endpoint: Dict[str, Any]
    deployment: Dict[str, Any]
    schedule: Optional[Dict[str, Any]]
    scheduled_job: Optional[Dict[str, Any]]

    def files(self) -> Dict[str, Dict[str, Any]]:
        found = {c.file_name: c.document for c in self.package.commands.values()}
        found[self.package.pipeline.file_name] = self.package.pipeline.document
        found["endpoint.yaml"] = self.endpoint
        found["deployment.yaml"] = self.deployment
        if self.schedule and self.scheduled_job:
            found[SCHEDULED_JOB_FILE] = self.scheduled_job
            found["schedule.yaml"] = self.schedule
        return found


def deployment_compute(spec: PipelineSpec, job: Dict[str, Any]) -> str:
    """The cluster a batch deployment runs on (Azure ML requires one): the pipeline's
    default compute, else its first node's compute."""
    chosen = job["settings"].get("default_compute")
    nodes = [n.get("compute") for n in job["jobs"].values()]
    chosen = chosen or next((c for c in nodes if c and c != native.SERVERLESS), "")
    if not chosen:
        raise UserError(
            f"{spec.shown_as}: make publish needs a compute cluster for the batch deployment:"
            " set settings.default_compute, AML_COMPUTE in config.env, or COMPUTE=<cluster>"
        )
    return str(chosen)


def build(project: Project, spec: PipelineSpec, sub: Submission, req: PublishRequest) -> Documents:
    """Every document `make publish` writes."""
    tags = submission_tags(project.root)
    package = pipeline_component(project, spec, sub, req.version, tags)
    pipeline = package.pipeline.document
    settings = package.job["settings"]
    compute = deployment_compute(spec, package.job)
    endpoint = {
        "$schema": native.SCHEMA.format("batchEndpoint"),
        "name": (
            checked_endpoint(req.endpoint)
            if req.endpoint
            else endpoint_name(project.slug, spec.name)
        ),
        "description": f"Pipeline {spec.name} of {project.slug} (published by make publish)",
    }
    deployment = {
        "$schema": native.SCHEMA.format("pipelineComponentBatchDeployment"),
        "name": endpoint_name(spec.name, pipeline["version"]),
        "endpoint_name": endpoint["name"],
        "type": "pipeline",
        "component": package.pipeline.reference,
        "settings": {
            "default_compute": compute.split(":", 1)[-1],
            "continue_on_step_failure": settings["continue_on_step_failure"],
        },
        "tags": {CONTENT_TAG: package.pipeline.content},
    }
    schedule = scheduled_job = None
    if req.schedule:
        job = package.job
        scheduled_job = {
            "$schema": native.SCHEMA.format("pipelineJob"),
            "type": "pipeline",
            "component": package.pipeline.reference,
            "experiment_name": job["experiment_name"],
            "inputs": job["inputs"],
            "outputs": job["outputs"],
            "settings": settings,
            "tags": job["tags"],
        }
        schedule = {
            "$schema": native.SCHEMA.format("schedule"),
            "name": endpoint_name(project.slug, spec.name, "schedule"),
            "display_name": f"{spec.name} on {req.schedule}",
            "trigger": {"type": "cron", "expression": req.schedule, "time_zone": "UTC"},
            "create_job": SCHEDULED_JOB_FILE,
        }
    return Documents(package, endpoint, deployment, schedule, scheduled_job)


def invoke_body(spec: PipelineSpec, job: Dict[str, Any]) -> Dict[str, Any]:
    """A sample REST body for the batch endpoint, the pipeline file's inputs in the
    wire format `ml_client.batch_endpoints.invoke` sends (camelCase, typed literals)."""
    kinds = {"uri_folder": "UriFolder", "uri_file": "UriFile", "mltable": "MLTable"}
    data: Dict[str, Any] = {}
    for name, item in spec.inputs.items():
        value = job["inputs"].get(name)
        if item.is_path:
            path = value.get("path") if isinstance(value, dict) else value
            if not str(path).startswith(("azureml:", "https:", "wasbs:", "abfss:")):
                path = "azureml://datastores/<datastore>/paths/<folder>"  # a local path
            data[name] = {"jobInputType": kinds.get(item.type, item.type), "uri": path}
        else:
            data[name] = {"jobInputType": "Literal", "value": value}
    return {"properties": {"inputData": data}}


def write(sub: Submission, docs: Documents, spec: PipelineSpec) -> List[str]:
    """Write every document and the sample body; the written file names."""
    names = []
    for file_name, document in docs.files().items():
        dump_yaml(sub.folder / file_name, document)
        names.append(file_name)
    write_json(sub.folder / "invoke.json", invoke_body(spec, docs.package.job))
    sub.save(files={exp: len(files) for exp, files in sub.snapshots.items()})
    return names


LOADERS = {
    "endpoint.yaml": "load_batch_endpoint",
    "deployment.yaml": "load_pipeline_component_batch_deployment",
    "schedule.yaml": "load_schedule",
    SCHEDULED_JOB_FILE: "load_job",
}


def load_all(project: Project, sub: Submission, names: List[str]) -> Dict[str, Any]:
    """Each written file loaded (and validated) by the SDK."""
    return {
        name: load_native(
            sub.folder / name,
            project.relative(sub.folder / name),
            loader=LOADERS.get(name, "load_component"),
        )
        for name in names
    }


def _not_found(err: Exception) -> bool:
    return type(err).__name__ == "ResourceNotFoundError" or getattr(err, "status_code", 0) == 404


def register(client: Any, item: Registered, entity: Any) -> str:
    """Create a component version unless it exists; refuse a version taken by other content."""
    name, version = item.document["name"], item.document["version"]
    try:
        existing = client.components.get(name=name, version=version)
    except Exception as err:  # noqa: BLE001 - only "not found" means "create it"
        if not _not_found(err):
            raise
        client.components.create_or_update(entity)
        return f"registered component {name}:{version}"
    if (existing.tags or {}).get(CONTENT_TAG) != item.content:
        fix = "pass another VERSION=... (or none, for a content version)"
        if item.own_file:
            fix = f"raise `version:` in {item.own_file} (or remove it, for a content version)"
        raise UserError(
            f"component {name} version {version} already exists with other content: {fix}",
            EXIT_CONFLICT,
        )
    return f"component {name}:{version} unchanged"


def _default_deployment(endpoint: Any) -> Optional[str]:
    defaults = getattr(endpoint, "defaults", None)  # a dict or the SDK's REST model
    if isinstance(defaults, dict):
        return defaults.get("deployment_name")
    return getattr(defaults, "deployment_name", None)


def deploy(client: Any, docs: Documents, entities: Dict[str, Any], make_default: bool) -> str:
    """Create the endpoint if missing, the deployment if new; set the default."""
    endpoint_entity = entities["endpoint.yaml"]
    name = docs.endpoint["name"]
    try:
        endpoint = client.batch_endpoints.get(name)
        created = False
    except Exception as err:  # noqa: BLE001
        if not _not_found(err):
            raise
        say(f"creating batch endpoint {name}")
        endpoint = client.batch_endpoints.begin_create_or_update(endpoint_entity).result()
        created = True
    deployment = docs.deployment["name"]
    try:
        client.batch_deployments.get(name=deployment, endpoint_name=name)
        say(f"deployment {deployment} exists")
    except Exception as err:  # noqa: BLE001
        if not _not_found(err):
            raise
        say(f"deploying {docs.package.pipeline.reference} as {name}/{deployment}")
        client.batch_deployments.begin_create_or_update(entities["deployment.yaml"]).result()
    default = _default_deployment(endpoint)
    if default != deployment and (make_default or created or not default):
        endpoint = client.batch_endpoints.get(name)
        endpoint.defaults = {"deployment_name": deployment}
        endpoint = client.batch_endpoints.begin_create_or_update(endpoint).result()
        say(f"{deployment} is now the default deployment of {name}")
    elif default != deployment:
        say(f"default deployment stays {default}; DEFAULT=1 makes {deployment} the default")
    return getattr(endpoint, "scoring_uri", "") or ""


def publish(project: Project, req: PublishRequest) -> int:
    """`make publish`: write, validate, then register, deploy and schedule."""
    if backend(project) == "v1":
        from amlops.cloud.v1.publish import publish_v1

        return publish_v1(project, req)
    spec = load_pipeline(project, req.pipeline)
    sub = Submission(project, "published", spec.name)
    try:
        docs = build(project, spec, sub, req)
        names = write(sub, docs, spec)
    except BaseException:
        sub.discard()
        raise
    shown = project.relative(sub.folder)
    require_sdk("publish")
    entities = load_all(project, sub, names)
    if req.dry_run:
        say(f"DRY_RUN: nothing published; the YAML is in {shown}")
        say(
            f"publish it yourself: az ml component create -f {shown}/component_<exp>.yaml"
            f" (each experiment), then -f {shown}/pipeline_component.yaml;"
            f" az ml batch-endpoint create -f"
            f" {shown}/endpoint.yaml; az ml batch-deployment create -f {shown}/deployment.yaml"
        )
        print(shown)
        return 0
    client = connect(project)
    with azure_errors("make publish"):
        for item in docs.package.commands.values():
            say(register(client, item, entities[item.file_name]))
        pipeline = docs.package.pipeline
        say(register(client, pipeline, entities[pipeline.file_name]))
        scoring_uri = deploy(client, docs, entities, req.make_default)
        if docs.schedule:
            schedule = entities["schedule.yaml"]
            # the SDK sends a scheduled job's `azureml:name:version` unresolved: give the ARM id
            schedule.create_job.component = client.components.get(
                name=pipeline.document["name"], version=pipeline.document["version"]
            ).id
            client.schedules.begin_create_or_update(schedule).result()
            say(f"schedule {docs.schedule['name']}: {req.schedule} (UTC)")
    sub.save(
        status="published",
        component=pipeline.reference,
        endpoint=docs.endpoint["name"],
        deployment=docs.deployment["name"],
        invoke_url=scoring_uri,
    )
    _print_invoke(project, docs, scoring_uri, shown)
    return 0


def _print_invoke(project: Project, docs: Documents, scoring_uri: str, shown: str) -> None:
    workspace = find_workspace(project)
    name = docs.endpoint["name"]
    say(f"published {docs.package.pipeline.reference} to batch endpoint {name}")
    say(
        "call it: az rest --method post --resource https://ml.azure.com"
        f" --url {scoring_uri or '<invoke URL>'} --body @{shown}/invoke.json"
    )
    say(
        f"     or: az ml batch-endpoint invoke --name {name} --resource-group"
        f" {workspace.resource_group} --workspace-name {workspace.name}"
    )
    print(scoring_uri or json.dumps({"endpoint": name}))
