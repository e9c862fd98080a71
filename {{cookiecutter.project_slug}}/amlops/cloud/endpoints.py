"""`make deploy`: an endpoint folder (endpoints/<name>/, read by amlops/spec/endpoints.py)
created or updated in Azure ML from the unchanged files, then its traffic set.

What is sent is written first into a submission folder `.runs/azure/endpoints/<name>/<id>/`:
the endpoint file and each deployment file, every field as the user wrote it, with only
local paths (model `path:`, `code_configuration.code`, the environment's `conda_file`
and `build.path`) rewritten relative to that folder so they name the same files, and:
- a model path that is a model registered with `make register-model` (its copy under
  `.runs/.models/`, or the run output it was registered from) becomes that registered
  model, `azureml:<name>:<version>`, said in one line (the SDK would otherwise upload it
  again as an anonymous model);
- TRAFFIC="blue=90 green=10" replaces the endpoint's `traffic:`.
The files are loaded back with azure.ai.ml's load_online_endpoint /
load_online_deployment (load_batch_endpoint / load_batch_deployment for a batch
endpoint), so DRY_RUN=1 checks them and sends nothing.

Then, as Azure ML's docs deploy ("Deploy and score a machine learning model by using an
online endpoint": create the endpoint, create the deployments, then set traffic): the
endpoint is created or updated first with the traffic it has now (a new endpoint: none,
since traffic may only name deployments that exist), each deployment is created or updated
(`online_deployments.begin_create_or_update`, which uploads code and local models as the
SDK always does), and last the endpoint is updated with the wanted `traffic` and
`mirror_traffic`. A batch endpoint (batchEndpoint with model batch deployments) goes the
same way, its `defaults.deployment_name` set last as traffic is. A model
`azureml:<name>:<version>` that the workspace lacks but the local registry has is
registered in Azure ML first (one line says so)."""

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from amlops.cloud.sdk import azure_errors, load_native, require_sdk
from amlops.cloud.submission import Submission
from amlops.console import say
from amlops.errors import UserError
from amlops.project import Project
from amlops.spec.endpoints import DeploymentSpec, EndpointSpec, load_endpoint
from amlops.tracking.models import LocalModel, find_model, registered_as
from amlops.yamlfile import dump_yaml, plain

URI = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
LOADERS = {
    ("endpoint", True): "load_online_endpoint",
    ("deployment", True): "load_online_deployment",
    ("endpoint", False): "load_batch_endpoint",
    ("deployment", False): "load_batch_deployment",
}
TRAFFIC_ITEM = re.compile(r"^(?P<name>[^=\s]+)=(?P<percent>\d{1,3})$")


@dataclass(frozen=True)
class DeployRequest:
    endpoint: str
    deployment: str = ""
    traffic: str = ""
    dry_run: bool = False


@dataclass
class Written:
    """The files of one deploy: the endpoint's and each deployment's (name -> path), the
    registered models the deployments name (deployment -> LocalModel)."""

    folder: Path
    endpoint: Path
    deployments: Dict[str, Path]
    local_models: Dict[str, LocalModel]


def parse_traffic(text: str, endpoint: EndpointSpec) -> Optional[Dict[str, int]]:
    """TRAFFIC="blue=90 green=10" -> {"blue": 90, "green": 10} (None when not given).

    Raises UserError for a malformed item, a deployment that has no file in the folder,
    or percentages summing above 100 (Azure ML's rule)."""
    if not text.strip():
        return None
    traffic: Dict[str, int] = {}
    for item in text.replace(",", " ").split():
        match = TRAFFIC_ITEM.match(item)
        if not match or int(match.group("percent")) > 100:
            raise UserError(f'TRAFFIC={text!r}: write name=percent pairs, e.g. "blue=90 green=10"')
        name = match.group("name")
        if name not in endpoint.deployments:
            known = ", ".join(endpoint.deployments) or "none"
            raise UserError(
                f"TRAFFIC names deployment {name!r}, which has no file in"
                f" {endpoint.shown.rsplit('/', 1)[0]}/ (deployments: {known})"
            )
        traffic[name] = int(match.group("percent"))
    if sum(traffic.values()) > 100:
        raise UserError(f"TRAFFIC={text!r}: the percentages sum to more than 100")
    return traffic


def _relocated(value: str, source: Path, folder: Path) -> str:
    """A local path of a file in `source`'s folder, relative to `folder` instead."""
    prefix = "file:" if value.startswith("file:") else ""
    text = value[len(prefix) :]
    if URI.match(text) or Path(text).is_absolute():
        return value
    return prefix + os.path.relpath((source.parent / text).resolve(), folder)


def _environment(value: Any, source: Path, folder: Path) -> Any:
    if not isinstance(value, dict):
        return value
    env = dict(value)
    if isinstance(env.get("conda_file"), str):
        env["conda_file"] = _relocated(env["conda_file"], source, folder)
    build = env.get("build")
    if isinstance(build, dict) and isinstance(build.get("path"), str):
        env["build"] = {**build, "path": _relocated(build["path"], source, folder)}
    return env


def deployment_document(
    project: Project, spec: DeploymentSpec, folder: Path
) -> Tuple[Dict[str, Any], Optional[LocalModel]]:
    """The deployment as sent (see the module docstring) and the registered model its
    local model path was rewritten to (None when not rewritten)."""
    doc: Dict[str, Any] = plain(spec.raw)
    rewritten = None
    model = spec.model
    if model is not None and model.kind == "path" and model.path is not None:
        rewritten = registered_as(project, model.path)
        if rewritten is not None:
            doc["model"] = rewritten.reference
        elif isinstance(doc["model"], dict):
            doc["model"] = {
                **doc["model"],
                "path": _relocated(doc["model"]["path"], spec.file, folder),
            }
        else:
            doc["model"] = _relocated(str(doc["model"]), spec.file, folder)
    code = doc.get("code_configuration")
    if isinstance(code, dict) and isinstance(code.get("code"), str):
        doc["code_configuration"] = {**code, "code": _relocated(code["code"], spec.file, folder)}
    if "environment" in doc:
        doc["environment"] = _environment(doc["environment"], spec.file, folder)
    return doc, rewritten


def endpoint_document(endpoint: EndpointSpec, traffic: Optional[Dict[str, int]]) -> Dict[str, Any]:
    """The endpoint as sent: every field as written; TRAFFIC replaces `traffic:`."""
    doc: Dict[str, Any] = plain(endpoint.raw)
    if traffic is not None:
        doc["traffic"] = dict(traffic)
    return doc


def chosen_deployments(endpoint: EndpointSpec, name: str) -> List[DeploymentSpec]:
    """DEPLOYMENT=name, else every deployment of the folder (UserError when none)."""
    if name:
        return [endpoint.deployment(name)]
    if not endpoint.deployments:
        raise UserError(
            f"{endpoint.shown}: endpoint {endpoint.name!r} has no deployment file in its"
            " folder (add e.g. blue.yml with $schema .../managedOnlineDeployment.schema.json)"
        )
    return list(endpoint.deployments.values())


def write_deploy(
    project: Project,
    endpoint: EndpointSpec,
    deployments: List[DeploymentSpec],
    traffic: Optional[Dict[str, int]],
    folder: Optional[Path] = None,
    quiet: bool = False,
) -> Written:
    """Write the endpoint and deployment files into a new submission folder (or into
    `folder`: make validate checks the same files in a scratch folder)."""
    sub = Submission(project, "endpoints", endpoint.folder.name, folder=folder)
    folder = sub.folder
    endpoint_file = folder / endpoint.file.name
    dump_yaml(endpoint_file, endpoint_document(endpoint, traffic))
    files: Dict[str, Path] = {}
    models: Dict[str, LocalModel] = {}
    for spec in deployments:
        doc, rewritten = deployment_document(project, spec, folder)
        path = folder / spec.file.name
        dump_yaml(path, doc)
        files[spec.name] = path
        if rewritten is not None:
            models[spec.name] = rewritten
        if rewritten is not None and not quiet:
            say(
                f"{spec.shown}: the model path is the registered model {rewritten.reference}"
                f" ({project.relative(rewritten.path)}): sent as model: {rewritten.reference}"
            )
    sub.save(endpoint=endpoint.name, deployments=sorted(files))
    return Written(folder, endpoint_file, files, models)


def _batch_loader(raw: Dict[str, Any]) -> str:
    """The SDK loader of a batch deployment file by its `$schema` (modelBatchDeployment,
    pipelineComponentBatchDeployment, batchDeployment) or, without one, its shape
    (`settings:` / `component:` are the model / pipeline component deployments' fields)."""
    schema = str(raw.get("$schema") or "").lower()
    if "pipelinecomponentbatchdeployment" in schema or (not schema and "component" in raw):
        return "load_pipeline_component_batch_deployment"
    if "modelbatchdeployment" in schema or (not schema and "settings" in raw):
        return "load_model_batch_deployment"
    return "load_batch_deployment"


def load_written(
    project: Project, endpoint: EndpointSpec, written: Written
) -> Tuple[Any, Dict[str, Any]]:
    """The written files loaded with the SDK's loaders (its schema checks); UserError
    listing the problems of a file the SDK refuses."""
    online = endpoint.is_online
    sent = " (as make deploy sends it)"
    loader = LOADERS[("endpoint", online)]
    loaded = load_native(written.endpoint, endpoint.shown + sent, endpoint.raw, loader)
    deployments = {}
    for name, path in written.deployments.items():
        spec = endpoint.deployments[name]
        loader = LOADERS[("deployment", online)] if online else _batch_loader(spec.raw)
        deployments[name] = load_native(path, spec.shown + sent, spec.raw, loader)
    return loaded, deployments


def _register_missing_models(project: Project, client: Any, deployments: Dict[str, Any]) -> None:
    """A deployment's `azureml:<name>:<version>` model that the workspace lacks but the
    local registry has is registered in Azure ML from the local copy first."""
    from azure.ai.ml.entities import Model
    from azure.core.exceptions import ResourceNotFoundError

    from amlops.spec.references import workspace_asset

    for entity in deployments.values():
        model = entity.model
        if not isinstance(model, str) or model.startswith(("azureml://", "/")):
            continue  # an inline model (uploaded by the SDK), a registry or an ARM id
        # The SDK's loader keeps `azureml:<name>:<version>` as "<name>:<version>".
        found = workspace_asset(model if model.startswith("azureml:") else f"azureml:{model}")
        if found is None or not found.version:
            continue
        name, version = found.name, found.version
        try:
            client.models.get(name=name, version=version)
            continue
        except ResourceNotFoundError:
            local = find_model(project, name, version)
        if local is None:
            raise UserError(
                f"model azureml:{name}:{version} (deployment {entity.name}) is neither in the"
                f" workspace nor registered locally: make register-model NAME={name}"
                f" VERSION={version} EXP=<exp>"
            )
        say(
            f"model azureml:{name}:{version} is only registered locally: registering it in Azure ML"
        )
        kind = _local_type(project, local)
        client.models.create_or_update(
            Model(name=name, version=version, path=str(local.path), type=kind)
        )


def _local_type(project: Project, local: LocalModel) -> str:
    from amlops.local.model_outputs import model_type

    return model_type(local.path, "")


def _traffic_now(client: Any, endpoint: Any, online: bool) -> Optional[Any]:
    """The endpoint as the workspace has it, None when it does not exist."""
    from azure.core.exceptions import ResourceNotFoundError

    operations = client.online_endpoints if online else client.batch_endpoints
    try:
        return operations.get(endpoint.name)
    except ResourceNotFoundError:
        return None


def send(
    project: Project, endpoint_spec: EndpointSpec, endpoint: Any, deployments: Dict[str, Any]
) -> Any:
    """Create or update the endpoint, its deployments, then its traffic; the endpoint
    as the workspace answers last."""
    from amlops.cloud.workspace import connect, find_workspace

    # The deployment operations log "Check: endpoint x exists" at INFO on stderr.
    logging.getLogger("azure.ai.ml.operations._online_deployment_operations").setLevel(
        logging.WARNING
    )
    online = endpoint_spec.is_online
    workspace = find_workspace(project)
    client = connect(project, workspace)
    endpoints = client.online_endpoints if online else client.batch_endpoints
    operations = client.online_deployments if online else client.batch_deployments
    with azure_errors(f"make deploy: endpoint {endpoint.name}"):
        _register_missing_models(project, client, deployments)
        existing = _traffic_now(client, endpoint, online)
        wanted_traffic = dict(endpoint.traffic or {}) if online else {}
        wanted_mirror = dict(getattr(endpoint, "mirror_traffic", None) or {}) if online else {}
        wanted_defaults = None if online else getattr(endpoint, "defaults", None)
        if not online:  # the default deployment is named once it exists, as traffic is
            endpoint.defaults = existing.defaults if existing is not None else None
        if online:
            endpoint.traffic = dict(existing.traffic or {}) if existing is not None else {}
            endpoint.mirror_traffic = (
                dict(existing.mirror_traffic or {}) if existing is not None else {}
            )
        say(("updating" if existing is not None else "creating") + f" endpoint {endpoint.name}")
        endpoints.begin_create_or_update(endpoint).result()
        for name, entity in deployments.items():
            size = getattr(entity, "instance_type", None) or getattr(entity, "compute", "")
            say(f"deploying {name} to {endpoint.name} ({size})")
            operations.begin_create_or_update(entity).result()
        if not online:
            if wanted_defaults is not None and wanted_defaults != endpoint.defaults:
                endpoint.defaults = wanted_defaults
                say(f"default deployment of {endpoint.name}: {wanted_defaults.deployment_name}")
                endpoints.begin_create_or_update(endpoint).result()
            return endpoints.get(endpoint.name)
        endpoint.traffic, endpoint.mirror_traffic = wanted_traffic, wanted_mirror
        shown = " ".join(f"{k}={v}" for k, v in wanted_traffic.items()) or "none"
        say(f"traffic of {endpoint.name}: {shown}")
        return endpoints.begin_create_or_update(endpoint).result()


def _check_model(project: Project, spec: DeploymentSpec) -> None:
    """A local model path must exist to be deployed (UserError naming the fix)."""
    model = spec.model
    if model is None or model.kind != "path" or model.path is None or model.path.exists():
        return
    raise UserError(
        f"{spec.shown}:{model.line}: model: path {project.relative(model.path)} does not"
        " exist; train the model first (make local EXP=<exp>) and register it (make"
        " register-model EXP=<exp>), or name a registered model (model: azureml:<name>:<version>)"
    )


def deploy(project: Project, req: DeployRequest) -> int:
    """Deploy an endpoint folder (see the module docstring); 0 on success, UserError
    (one line, non-zero exit) otherwise. DRY_RUN: the files only (path printed last)."""
    endpoint = load_endpoint(project, req.endpoint)
    deployments = chosen_deployments(endpoint, req.deployment)
    for spec in deployments:
        _check_model(project, spec)
    traffic = parse_traffic(req.traffic, endpoint)
    require_sdk("deploy")
    written = write_deploy(project, endpoint, deployments, traffic)
    loaded_endpoint, loaded = load_written(project, endpoint, written)
    shown = project.relative(written.folder)
    if req.dry_run:
        for model in {m.reference: m for m in written.local_models.values()}.values():
            say(
                f"DRY_RUN: {model.reference} is a local registration: make deploy registers it"
                f" in Azure ML first (from {project.relative(model.path)}) when the workspace"
                " lacks it; deploying these files by hand (az ml) needs it registered there"
            )
        say(f"DRY_RUN: nothing deployed; the endpoint and deployment files are in {shown}")
        print(project.relative(written.endpoint))
        return 0
    answered = send(project, endpoint, loaded_endpoint, loaded)
    scoring = getattr(answered, "scoring_uri", "") or ""
    say(f"deployed {', '.join(loaded)} to endpoint {loaded_endpoint.name}")
    if scoring:
        say(f"scoring URI: {scoring}")
    if endpoint.is_online:
        say(f"try it: make invoke ENDPOINT={endpoint.folder.name} CLOUD=1")
    return 0
