"""An endpoint folder (endpoints/<name>/): the endpoint file and its deployment files.

Files are Azure ML's own (az ml online-endpoint create -f / online-deployment create -f):
- the endpoint: `$schema` managedOnlineEndpoint / kubernetesOnlineEndpoint / batchEndpoint
  (https://learn.microsoft.com/azure/machine-learning/reference-yaml-endpoint-online,
  reference-yaml-endpoint-batch), e.g. endpoint.yml;
- its deployments: `$schema` managedOnlineDeployment / kubernetesOnlineDeployment /
  batchDeployment / modelBatchDeployment / pipelineComponentBatchDeployment
  (reference-yaml-deployment-managed-online), e.g. blue-deployment.yml or blue.yml.
Without `$schema` a file is classified by its shape: `endpoint_name:` makes a deployment;
`auth_mode:`, `traffic:`, `mirror_traffic:` or `defaults:` (or only `name:` and the
endpoint's descriptive fields) make the endpoint; anything else (a conda file, an
environment file, a request) is not an endpoint file and is left alone.

Fields accepted are exactly those of the SDK's schemas (azure-ai-ml
azure/ai/ml/_schema/_endpoint/online/online_endpoint.py, _endpoint/batch/batch_endpoint.py,
_deployment/online/online_deployment.py, _deployment/batch/*.py, whose Meta is
`unknown = RAISE`): an unknown field is refused, with the closest known one suggested.
Defaults are the service's (azure-ai-ml entities/_deployment/deployment_settings.py):
request_timeout_ms 5000, max_concurrent_requests_per_instance 1, max_queue_wait_ms 500
(deprecated); probes initial_delay 10 s, period 10 s, timeout 2 s, failure_threshold 30,
success_threshold 1. Names follow _endpoint_helpers.validate_endpoint_or_deployment_name:
3-32 characters, a letter first, then letters, digits or '-', not ending in '-'.

Errors are one line: `file:line: field: what is wrong (the fix)`. This module imports no
Azure SDK (local commands use it)."""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

from amlops.errors import UserError
from amlops.project import Project
from amlops.spec.checks import Collector, check_known_fields, fail_at, missing_at
from amlops.spec.environment import EnvironmentSpec, parse_environment
from amlops.spec.references import workspace_asset
from amlops.spec.variables import check_settable_names
from amlops.yamlfile import line_of, load_yaml

YAML_SUFFIXES = (".yml", ".yaml")
NAME = re.compile(r"[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?")
NAME_RULE = "3-32 characters: a letter, then letters, digits or '-', not ending in '-'"

_ENDPOINT_COMMON = {
    "$schema",
    "id",
    "name",
    "description",
    "tags",
    "provisioning_state",
    "properties",
    "auth_mode",
    "scoring_uri",
    "location",
    "openapi_uri",
    "identity",
}
ENDPOINT_FIELDS = {
    "managed_online": _ENDPOINT_COMMON | {"traffic", "mirror_traffic", "public_network_access"},
    "kubernetes_online": _ENDPOINT_COMMON | {"traffic", "mirror_traffic", "compute"},
    "batch": _ENDPOINT_COMMON | {"defaults"},
}
AUTH_MODES = {
    "managed_online": ("key", "aml_token", "aad_token"),
    "kubernetes_online": ("key", "aml_token", "aad_token"),
    "batch": ("aad_token",),
}
_DEPLOYMENT_COMMON = {
    "$schema",
    "name",
    "endpoint_name",
    "description",
    "id",
    "tags",
    "properties",
    "model",
    "code_configuration",
    "environment",
    "environment_variables",
}
_ONLINE_DEPLOYMENT = _DEPLOYMENT_COMMON | {
    "app_insights_enabled",
    "scale_settings",
    "request_settings",
    "liveness_probe",
    "readiness_probe",
    "provisioning_state",
    "instance_count",
    "type",
    "model_mount_path",
    "instance_type",
    "data_collector",
}
DEPLOYMENT_FIELDS = {
    "managed_online": _ONLINE_DEPLOYMENT
    | {"egress_public_network_access", "private_network_connection"},
    "kubernetes_online": _ONLINE_DEPLOYMENT | {"resources"},
    "batch": _DEPLOYMENT_COMMON
    | {
        "error_threshold",
        "retry_settings",
        "mini_batch_size",
        "logging_level",
        "output_action",
        "output_file_name",
        "max_concurrency_per_instance",
        "resources",
        "type",
        "job_definition",
        "component",
        "compute",
        "settings",
    },
}
CODE_CONFIGURATION_FIELDS = {"code", "scoring_script"}
REQUEST_SETTINGS_FIELDS = {
    "request_timeout_ms",
    "max_concurrent_requests_per_instance",
    "max_queue_wait_ms",
}
PROBE_FIELDS = {"initial_delay", "period", "timeout", "failure_threshold", "success_threshold"}
MODEL_FIELDS = {
    "$schema",
    "name",
    "version",
    "type",
    "path",
    "description",
    "properties",
    "tags",
    "stage",
    "flavors",
    "datastore",
    "system_metadata",
    "default_deployment_template",
    "allowed_deployment_templates",
}
MODEL_TYPES = ("custom_model", "mlflow_model", "triton_model")
SCALE_FIELDS = {
    "default": {"type"},
    "target_utilization": {
        "type",
        "polling_interval",
        "target_utilization_percentage",
        "min_instances",
        "max_instances",
    },
}
# `$schema` file names (lowercase, without .schema.json) -> (role, kind).
SCHEMAS = {
    "managedonlineendpoint": ("endpoint", "managed_online"),
    "kubernetesonlineendpoint": ("endpoint", "kubernetes_online"),
    "batchendpoint": ("endpoint", "batch"),
    "managedonlinedeployment": ("deployment", "managed_online"),
    "kubernetesonlinedeployment": ("deployment", "kubernetes_online"),
    "batchdeployment": ("deployment", "batch"),
    "modelbatchdeployment": ("deployment", "batch"),
    "pipelinecomponentbatchdeployment": ("deployment", "batch"),
}
ENDPOINT_SHAPE = {"auth_mode", "traffic", "mirror_traffic", "defaults", "public_network_access"}
BATCH_DEPLOYMENT_SHAPE = {"compute", "mini_batch_size", "output_action", "job_definition"}


def check_fields(raw: Dict[str, Any], allowed: Set[str], shown: str, what: str) -> None:
    """Refuse a key outside `allowed` (as the SDK schema does), naming the closest one."""
    check_known_fields(raw, allowed, shown, f"{what} schema")


def _mapping(raw: Dict[str, Any], key: str, shown: str) -> Dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail_at(shown, line_of(raw, key), f"{key}: must be a mapping")
    return value


def _int(raw: Dict[str, Any], key: str, shown: str, where: str, minimum: int = 0) -> Optional[int]:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise fail_at(
            shown, line_of(raw, key), f"{where}{key}: must be a whole number >= {minimum}"
        )
    return value


def check_name(value: Any, shown: str, line: int, what: str) -> str:
    """An endpoint or deployment name as Azure ML accepts it (else UserError)."""
    text = "" if value is None else str(value)
    if not text:
        raise fail_at(shown, line, f"name: is required (the {what} name)")
    if not (3 <= len(text) <= 32 and NAME.fullmatch(text)):
        raise fail_at(shown, line, f"name: {what} name {text!r} is not valid ({NAME_RULE})")
    return text


@dataclass(frozen=True)
class RequestSettings:
    """request_settings: timeout in milliseconds, concurrency per instance, queue wait (ms)."""

    request_timeout_ms: int = 5000
    max_concurrent_requests_per_instance: int = 1
    max_queue_wait_ms: int = 500


@dataclass(frozen=True)
class ProbeSettings:
    """liveness_probe / readiness_probe: delays, periods and timeout in seconds."""

    initial_delay: int = 10
    period: int = 10
    timeout: int = 2
    failure_threshold: int = 30
    success_threshold: int = 1


@dataclass(frozen=True)
class ModelSpec:
    """A deployment's model.

    kind: "path" (a local file or folder, inline `model: {path: ...}` or a bare path),
    "reference" (`azureml:<name>:<version>`, `azureml:<name>@latest`, or
    `azureml://registries/...`), "remote" (an inline model whose path is a URI the
    workspace resolves: azureml://datastores/..., runs:/..., https://...).
    `name`/`version` are the model's when known (inline `name:`/`version:`)."""

    kind: str
    raw: Any
    line: int
    path: Optional[Path] = None
    reference: str = ""
    name: str = ""
    version: str = ""
    type: str = "custom_model"

    def missing(self, shown: str) -> str:
        """Empty when a local model path exists, else one line naming it and the fix
        (a path may name a run's output that is not there until the model is trained)."""
        if self.kind != "path" or self.path is None or self.path.exists():
            return ""
        return (
            f"{shown}:{self.line}: model: path {self.path} does not exist; train the model"
            " first (make local EXP=<exp>), or give MODEL=<run id | path | azureml:name:version>"
        )


@dataclass
class DeploymentSpec:
    """One deployment file of an endpoint (kind "managed_online", "kubernetes_online" or
    "batch"). `code` is the absolute code folder (None without code_configuration);
    `scoring_script` is relative to it. `raw` keeps every field as written."""

    name: str
    endpoint_name: str
    kind: str
    file: Path
    shown: str
    raw: Dict[str, Any]
    model: Optional[ModelSpec] = None
    code: Optional[Path] = None
    scoring_script: str = ""
    environment: Optional[EnvironmentSpec] = None
    environment_variables: Dict[str, str] = field(default_factory=dict)
    instance_type: str = ""
    instance_count: int = 1
    request_settings: RequestSettings = RequestSettings()
    liveness_probe: ProbeSettings = ProbeSettings()
    readiness_probe: ProbeSettings = ProbeSettings()
    app_insights_enabled: bool = False

    @property
    def is_online(self) -> bool:
        return self.kind != "batch"

    def line(self, key: str) -> int:
        """The 1-based line of a top-level field (0 when absent)."""
        return line_of(self.raw, key)

    def where(self, key: str = "") -> str:
        """`file:line` of a field, for messages."""
        line = self.line(key) if key else 0
        return f"{self.shown}:{line}" if line else self.shown


@dataclass
class EndpointSpec:
    """An endpoint folder: the endpoint file and its deployments, by name (file order).

    traffic / mirror_traffic: deployment name -> percent (0-100), as written."""

    name: str
    kind: str
    folder: Path
    file: Path
    shown: str
    raw: Dict[str, Any]
    auth_mode: str
    traffic: Dict[str, int]
    mirror_traffic: Dict[str, int]
    deployments: Dict[str, DeploymentSpec]
    other_files: List[Path] = field(default_factory=list)

    @property
    def is_online(self) -> bool:
        return self.kind != "batch"

    def deployment(self, name: str) -> DeploymentSpec:
        """The deployment called `name` (UserError naming the known ones)."""
        if name in self.deployments:
            return self.deployments[name]
        known = ", ".join(self.deployments) or "none"
        raise UserError(
            f"{self.shown}: endpoint {self.name!r} has no deployment {name!r} (known: {known})"
        )

    def line(self, key: str) -> int:
        return line_of(self.raw, key)


def _schema_role(raw: Dict[str, Any]) -> Optional[tuple]:
    schema = raw.get("$schema")
    if not isinstance(schema, str):
        return None
    base = schema.rstrip("/").rsplit("/", 1)[-1].lower()
    base = base.replace(".schema.json", "").replace(".json", "")
    return SCHEMAS.get(base)


def classify(raw: Any) -> Optional[tuple]:
    """(role, kind) of a parsed YAML file: ("endpoint"|"deployment", kind), or None for a
    file that is not an endpoint or deployment (conda file, environment, request)."""
    if not isinstance(raw, dict):
        return None
    by_schema = _schema_role(raw)
    if by_schema:
        return by_schema
    if "$schema" in raw and isinstance(raw.get("$schema"), str):
        return None  # another Azure ML file kind (environment, model, ...)
    if "endpoint_name" in raw:
        batch = bool(BATCH_DEPLOYMENT_SHAPE & set(raw))
        kind = "batch" if batch else "managed_online"
        if raw.get("type") == "kubernetes":
            kind = "kubernetes_online"
        return ("deployment", kind)
    if ENDPOINT_SHAPE & set(raw):
        kind = "batch" if "defaults" in raw else "managed_online"
        if "compute" in raw:
            kind = "kubernetes_online"
        return ("endpoint", kind)
    return None


def _parse_model(value: Any, line: int, file: Path, shown: str, deployment: str) -> ModelSpec:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("azureml:"):
            found = workspace_asset(text)
            name, version = (found.name, found.version) if found else ("", "")
            return ModelSpec("reference", value, line, reference=text, name=name, version=version)
        return _local_model(text, value, line, file, shown, {}, deployment)
    if not isinstance(value, dict):
        raise fail_at(shown, line, "model: must be azureml:<name>:<version> or a mapping (path:)")
    check_fields(value, MODEL_FIELDS, shown, "model")
    kind = str(value.get("type") or "custom_model")
    if kind not in MODEL_TYPES:
        raise fail_at(
            shown, line_of(value, "type") or line, f"model: type {kind!r} (use {MODEL_TYPES})"
        )
    path = value.get("path")
    if not path:
        raise fail_at(shown, line, "model: an inline model needs path: (a local file or folder)")
    text = str(path)
    if re.match(r"^[a-z][a-z0-9+.-]*:", text) and not text.startswith("file:"):
        return ModelSpec(
            "remote",
            value,
            line,
            reference=text,
            name=str(value.get("name") or ""),
            version=str(value.get("version") or ""),
            type=kind,
        )
    return _local_model(text, value, line_of(value, "path") or line, file, shown, value, deployment)


def _local_model(
    text: str, raw: Any, line: int, file: Path, shown: str, inline: Dict[str, Any], deployment: str
) -> ModelSpec:
    if text.startswith("file:"):
        text = text[len("file:") :]
    found = (file.parent / text).resolve()  # may not exist yet (a run's output): see missing()
    version = inline.get("version")
    return ModelSpec(
        "path",
        raw,
        line,
        path=found,
        name=str(inline.get("name") or ""),
        version="" if version is None else str(version),
        type=str(inline.get("type") or "custom_model"),
    )


def _probe(raw: Dict[str, Any], key: str, shown: str) -> ProbeSettings:
    section = _mapping(raw, key, shown)
    check_fields(section, PROBE_FIELDS, shown, key)
    values = {k: _int(section, k, shown, f"{key}.", 0) for k in PROBE_FIELDS}
    return ProbeSettings(**{k: v for k, v in values.items() if v is not None})


def _request_settings(raw: Dict[str, Any], shown: str) -> RequestSettings:
    section = _mapping(raw, "request_settings", shown)
    check_fields(section, REQUEST_SETTINGS_FIELDS, shown, "request_settings")
    values = {k: _int(section, k, shown, "request_settings.", 1) for k in REQUEST_SETTINGS_FIELDS}
    return RequestSettings(**{k: v for k, v in values.items() if v is not None})


def _code(raw: Dict[str, Any], file: Path, shown: str, kind: str):
    section = _mapping(raw, "code_configuration", shown)
    if not section:
        return None, ""
    check_fields(section, CODE_CONFIGURATION_FIELDS, shown, "code_configuration")
    line = line_of(raw, "code_configuration")
    code, script = section.get("code"), section.get("scoring_script")
    if not code or not isinstance(code, str):
        raise fail_at(shown, line, "code_configuration: needs code: (the folder of the script)")
    if not script or not isinstance(script, str):
        raise fail_at(shown, line, "code_configuration: needs scoring_script: (e.g. score.py)")
    text = code[len("file:") :] if code.startswith("file:") else code
    if re.match(r"^[a-z][a-z0-9+.-]*:", text):
        raise fail_at(
            shown, line_of(section, "code"), f"code_configuration.code: {code!r} must be local"
        )
    folder = (file.parent / text).resolve()
    if not folder.is_dir():
        raise fail_at(
            shown,
            line_of(section, "code") or line,
            f"code_configuration.code: folder {code!r} does not exist (looked at {folder})",
        )
    if not (folder / script).is_file():
        raise fail_at(
            shown,
            line_of(section, "scoring_script") or line,
            f"code_configuration.scoring_script: {script!r} not found in {folder}",
        )
    return folder, script


def _scale_settings(raw: Dict[str, Any], shown: str) -> None:
    section = _mapping(raw, "scale_settings", shown)
    if not section:
        return
    kind = str(section.get("type") or "default")
    if kind not in SCALE_FIELDS:
        raise fail_at(
            shown, line_of(raw, "scale_settings"), f"scale_settings.type {kind!r}: use default"
        )
    check_fields(section, SCALE_FIELDS[kind], shown, "scale_settings")


def _environment_variables(raw: Dict[str, Any], shown: str) -> Dict[str, str]:
    section = _mapping(raw, "environment_variables", shown)
    check_settable_names(section, shown)
    variables: Dict[str, str] = {}
    for key, value in section.items():
        if isinstance(value, (dict, list)):
            raise fail_at(
                shown, line_of(section, key), f"environment_variables.{key}: must be a text value"
            )
        if value is None:
            variables[str(key)] = ""
        elif isinstance(value, bool):  # YAML true/false, sent to the container as text
            variables[str(key)] = str(value).lower()
        else:
            variables[str(key)] = str(value)
    return variables


def parse_deployment(raw: Dict[str, Any], kind: str, file: Path, shown: str) -> DeploymentSpec:
    """A deployment file's fields, checked as the SDK schema checks them.

    Raises UserError `file:line: ...` for an unknown field, a bad name, a missing
    code folder, scoring script or local model path, or an invalid environment: every
    independent problem of the file at once (Problems for several)."""
    found = Collector()
    found.keep(lambda: check_fields(raw, DEPLOYMENT_FIELDS[kind], shown, f"{kind} deployment"))
    name = found.keep(
        lambda: check_name(raw.get("name"), shown, line_of(raw, "name") or 1, "deployment"), ""
    )
    endpoint_name = raw.get("endpoint_name")
    if not endpoint_name:
        at = line_of(raw, "name") or 1
        found.add(missing_at(shown, at, "endpoint_name", "endpoint_name: is required"))
    model = None
    if raw.get("model") is not None:
        model = found.keep(
            lambda: _parse_model(raw["model"], line_of(raw, "model"), file, shown, name or "")
        )
    code, script = found.keep(lambda: _code(raw, file, shown, kind), (None, "")) or (None, "")
    environment = None
    if raw.get("environment") is not None:
        line = line_of(raw, "environment")
        environment = found.keep(
            lambda: parse_environment(raw["environment"], file, f"{shown}:{line}")
        )
    elif code is not None:
        found.add(
            missing_at(
                shown,
                line_of(raw, "code_configuration"),
                "environment",
                "environment: is required with code_configuration (Azure ML needs both)",
            )
        )
    count = found.keep(lambda: _int(raw, "instance_count", shown, "", 1))
    found.keep(lambda: _scale_settings(raw, shown))
    insights = raw.get("app_insights_enabled", False)
    if not isinstance(insights, bool):
        found.add(
            fail_at(shown, line_of(raw, "app_insights_enabled"), "app_insights_enabled: true/false")
        )
    online = kind != "batch"
    instance_type = raw.get("instance_type")
    if kind == "managed_online" and not instance_type:
        found.add(
            missing_at(
                shown,
                line_of(raw, "name") or 1,
                "instance_type",
                "instance_type: is required (e.g. Standard_DS3_v2)",
            )
        )
    variables = found.keep(lambda: _environment_variables(raw, shown), {})
    requests, liveness, readiness = RequestSettings(), ProbeSettings(), ProbeSettings()
    if online:
        requests = found.keep(lambda: _request_settings(raw, shown), requests) or requests
        liveness = found.keep(lambda: _probe(raw, "liveness_probe", shown), liveness) or liveness
        readiness = (
            found.keep(lambda: _probe(raw, "readiness_probe", shown), readiness) or readiness
        )
    found.raise_if_any()
    return DeploymentSpec(
        name=name or "",
        endpoint_name=str(endpoint_name),
        kind=kind,
        file=file,
        shown=shown,
        raw=raw,
        model=model,
        code=code,
        scoring_script=script,
        environment=environment,
        environment_variables=variables or {},
        instance_type=str(instance_type or ""),
        instance_count=count if count is not None else 1,
        request_settings=requests,
        liveness_probe=liveness,
        readiness_probe=readiness,
        app_insights_enabled=bool(insights),
    )


def _percentages(raw: Dict[str, Any], key: str, shown: str) -> Dict[str, int]:
    section = _mapping(raw, key, shown)
    result: Dict[str, int] = {}
    found = Collector()
    for name, value in section.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            found.add(
                fail_at(shown, line_of(section, name), f"{key}.{name}: must be a percentage 0-100")
            )
            continue
        result[str(name)] = value
    found.raise_if_any()
    return result


def parse_endpoint(raw: Dict[str, Any], kind: str, file: Path, shown: str) -> Dict[str, Any]:
    """The endpoint file's fields checked (name, auth_mode, traffic, mirror_traffic);
    returns them as keyword arguments of EndpointSpec (deployments still empty).
    UserError for one problem, Problems for several (every independent one at once)."""
    found = Collector()
    found.keep(lambda: check_fields(raw, ENDPOINT_FIELDS[kind], shown, f"{kind} endpoint"))
    name = found.keep(
        lambda: check_name(raw.get("name"), shown, line_of(raw, "name") or 1, "endpoint"), ""
    )
    default_auth = "aad_token" if kind == "batch" else "key"
    auth = str(raw.get("auth_mode") or default_auth).lower()
    if auth not in AUTH_MODES[kind]:
        found.add(
            fail_at(
                shown,
                line_of(raw, "auth_mode"),
                f"auth_mode: {auth!r} is not accepted here (use {', '.join(AUTH_MODES[kind])})",
            )
        )
    traffic = found.keep(lambda: _percentages(raw, "traffic", shown), {}) or {}
    if sum(traffic.values()) > 100:
        found.add(
            fail_at(shown, line_of(raw, "traffic"), "traffic: percentages must sum to 100 or less")
        )
    mirror = found.keep(lambda: _percentages(raw, "mirror_traffic", shown), {}) or {}
    if sum(mirror.values()) > 50:  # REST API: "Traffic values need to sum to utmost 50"
        found.add(
            fail_at(
                shown,
                line_of(raw, "mirror_traffic"),
                "mirror_traffic: percentages must sum to 50 or less (Azure ML's limit)",
            )
        )
    found.raise_if_any()
    return {
        "name": name,
        "kind": kind,
        "file": file,
        "shown": shown,
        "raw": raw,
        "auth_mode": auth,
        "traffic": traffic,
        "mirror_traffic": mirror,
    }


def _shown(path: Path, root: Optional[Path]) -> str:
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)


def load_endpoint_folder(folder: Path, root: Optional[Path] = None) -> EndpointSpec:
    """Read endpoints/<name>/: one endpoint file and its deployment files (top level only;
    requests/ and other subfolders are not read). Paths in messages are relative to `root`.

    Raises UserError for no or two endpoint files, a deployment whose endpoint_name is
    another endpoint, two deployments with one name, traffic naming an unknown
    deployment, or any field error of the files."""
    shown_folder = _shown(folder, root)
    if not folder.is_dir():
        raise UserError(f"{shown_folder}: no such endpoint folder")
    endpoint_args: Optional[Dict[str, Any]] = None
    deployments: Dict[str, DeploymentSpec] = {}
    others: List[Path] = []
    found = Collector()  # every file's problems; links are checked once all read cleanly
    endpoint_files = 0
    for path in sorted(p for p in folder.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file()):
        shown = _shown(path, root)
        raw = found.keep(lambda: load_yaml(path, shown))
        if raw is None:
            continue
        role = classify(raw)
        if role is None:
            others.append(path)
            continue
        if role[0] == "endpoint":
            endpoint_files += 1
            if endpoint_files > 1:
                first = endpoint_args["shown"] if endpoint_args else "another file"
                found.add(
                    fail_at(
                        shown,
                        1,
                        f"a second endpoint file in {shown_folder} (first: {first});"
                        " keep one endpoint per folder",
                    )
                )
                continue
            endpoint_args = found.keep(lambda: parse_endpoint(raw, role[1], path, shown))
            continue
        spec = found.keep(lambda: parse_deployment(raw, role[1], path, shown))
        if spec is None:
            continue
        if spec.name in deployments:
            found.add(
                fail_at(
                    shown,
                    spec.line("name"),
                    f"deployment {spec.name!r} is also in {deployments[spec.name].shown}",
                )
            )
            continue
        deployments[spec.name] = spec
    if not endpoint_files:
        found.add(
            UserError(
                f"{shown_folder}: no endpoint file (a YAML with $schema .../managedOnlineEndpoint"
                ".schema.json, name: and auth_mode:, e.g. endpoint.yml)"
            )
        )
    found.raise_if_any()
    assert endpoint_args is not None
    endpoint = EndpointSpec(**endpoint_args, folder=folder, deployments=deployments)
    endpoint.other_files = others
    _check_links(endpoint)
    return endpoint


def _check_links(endpoint: EndpointSpec) -> None:
    """Each deployment names this endpoint and serves its kind; traffic names known
    deployments. Every problem at once (Problems for several)."""
    found = Collector()
    for spec in endpoint.deployments.values():
        if spec.endpoint_name != endpoint.name:
            found.add(
                fail_at(
                    spec.shown,
                    spec.line("endpoint_name"),
                    f"endpoint_name: {spec.endpoint_name!r} is not this folder's endpoint"
                    f" {endpoint.name!r} ({endpoint.shown}); use endpoint_name: {endpoint.name}",
                )
            )
        if endpoint.is_online != spec.is_online:
            found.add(
                fail_at(
                    spec.shown,
                    1,
                    f"a {spec.kind} deployment cannot serve a {endpoint.kind} endpoint",
                )
            )
    for key in ("traffic", "mirror_traffic"):
        for name in getattr(endpoint, key):
            if name not in endpoint.deployments:
                known = ", ".join(endpoint.deployments) or "none in this folder"
                found.add(
                    fail_at(
                        endpoint.shown,
                        line_of(endpoint.raw.get(key), name) or endpoint.line(key),
                        f"{key}: names deployment {name!r}, which has no file here"
                        f" (known: {known})",
                    )
                )
    found.raise_if_any()


def endpoint_names(project: Project) -> List[str]:
    """The endpoints of a project: folders under endpoints/ holding a YAML file."""
    folder = project.root / "endpoints"
    if not folder.is_dir():
        return []
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_dir() and any(f.suffix in YAML_SUFFIXES for f in p.iterdir())
    )


def load_endpoint(project: Project, name: str) -> EndpointSpec:
    """endpoints/<name>/ of the project (ENDPOINT=<name>); UserError naming the known ones."""
    if not name:
        known = endpoint_names(project)
        if len(known) == 1:
            name = known[0]
        else:
            raise UserError(
                "ENDPOINT is required, e.g. make serve ENDPOINT=<name>"
                f" (endpoints: {', '.join(known) or 'none yet; make new-endpoint NAME=x'})"
            )
    folder = project.root / "endpoints" / name
    if not folder.is_dir():
        known = ", ".join(endpoint_names(project)) or "none yet; make new-endpoint NAME=x"
        raise UserError(f"unknown endpoint {name!r}: no endpoints/{name}/ (endpoints: {known})")
    return load_endpoint_folder(folder, project.root)
