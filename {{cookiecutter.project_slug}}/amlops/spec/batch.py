"""Batch endpoints with a model deployment, read and checked offline: endpoints/<name>/ holds
a `batchEndpoint` file and one or more `modelBatchDeployment` / `batchDeployment` files.

Fields (azure-ai-ml `_schema/_deployment/batch/batch_deployment.py`,
`model_batch_deployment.py`, `model_batch_deployment_settings.py`,
`batch_deployment_settings.py`): model, code_configuration {code, scoring_script},
environment, compute, resources.instance_count, and (under `settings:` in a
modelBatchDeployment, at the top level in a batchDeployment) mini_batch_size,
max_concurrency_per_instance, output_action (append_row | summary_only), output_file_name,
retry_settings {max_retries, timeout}, error_threshold, logging_level,
environment_variables. Defaults as the service applies them (Azure ML docs, "CLI (v2)
batch deployment YAML schema"; `entities/_deployment/deployment_settings.py`
BatchRetrySettings): mini_batch_size 10, max_concurrency_per_instance 1, error_threshold
-1, output_action append_row, output_file_name predictions.csv, max_retries 3, timeout 30 s,
logging_level info.

A local batch scoring run is the same parallel driver as parallel jobs
(amlops/parallel/driver.py): the scoring script's init() once per worker, run(mini_batch)
per mini-batch of file paths, AZUREML_MODEL_DIR set to the folder holding the model."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from amlops.errors import UserError
from amlops.project import Project
from amlops.spec.parallel import (
    DRIVER_NAME,
    DRIVER_SOURCE,
    ParallelSpec,
    check_entry_script,
    driver_command,
    mini_batch_size,
)
from amlops.yamlfile import LineMap, line_of, load_yaml

SETTINGS = {
    "mini_batch_size",
    "max_concurrency_per_instance",
    "output_action",
    "output_file_name",
    "retry_settings",
    "error_threshold",
    "logging_level",
    "environment_variables",
    "instance_count",
}
OUTPUT_ACTIONS = {"append_row", "summary_only"}
DEFAULT_OUTPUT_FILE = "predictions.csv"
DEFAULT_TIMEOUT_S = 30
MODEL_ROOT = "azureml-models"


@dataclass
class BatchDeployment:
    """One batch model deployment file, checked: `settings` merged from `settings:` and
    the top level; `model_path` the local model file or folder."""

    file: Path
    shown_as: str
    raw: Dict[str, Any]
    name: str
    endpoint: str
    model_name: str
    model_version: str
    model_path: Path
    code: str
    scoring_script: str
    settings: Dict[str, Any] = field(default_factory=dict)


def _schema(raw: Dict[str, Any]) -> str:
    return str(raw.get("$schema", ""))


def is_batch_deployment(raw: Any) -> bool:
    """A modelBatchDeployment / batchDeployment mapping."""
    return isinstance(raw, dict) and (
        "BatchDeployment" in _schema(raw) or "batchDeployment" in _schema(raw)
    )


def endpoint_folder(project: Project, endpoint: str) -> Path:
    """endpoints/<endpoint>/; UserError naming the endpoints there when it is missing."""
    root = project.root / "endpoints"
    folder = root / endpoint
    if not endpoint or not folder.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise UserError(
            f"ENDPOINT={endpoint!r}: no folder endpoints/{endpoint or '<name>'}/ (endpoints:"
            f" {', '.join(found) or 'none'})"
        )
    return folder


def _yaml_files(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())


def find_deployment(project: Project, endpoint: str, deployment: str = "") -> BatchDeployment:
    """The batch deployment of endpoints/<endpoint>/ named `deployment`, else the
    endpoint's `defaults.deployment_name`, else the only one; UserError otherwise."""
    folder = endpoint_folder(project, endpoint)
    deployments: Dict[str, Path] = {}
    default = ""
    for path in _yaml_files(folder):
        raw = load_yaml(path, project.relative(path))
        if is_batch_deployment(raw):
            deployments[str(raw.get("name") or path.stem)] = path
        elif isinstance(raw, dict) and "batchEndpoint" in _schema(raw):
            default = str((raw.get("defaults") or {}).get("deployment_name") or "")
    names = ", ".join(sorted(deployments)) or "none"
    chosen = deployment or default or (next(iter(deployments)) if len(deployments) == 1 else "")
    if not deployments:
        raise UserError(
            f"endpoints/{endpoint}/: no batch deployment file ($schema:"
            " .../modelBatchDeployment.schema.json)"
        )
    if not chosen:
        raise UserError(
            f"endpoints/{endpoint}/: several batch deployments ({names}); give DEPLOYMENT="
        )
    if chosen not in deployments:
        raise UserError(f"DEPLOYMENT={chosen!r}: endpoints/{endpoint}/ has {names}")
    path = deployments[chosen]
    return parse_deployment(path, project.relative(path), endpoint)


def _model(raw: Dict[str, Any], path: Path, shown: str) -> Any:
    model = raw.get("model")
    line = line_of(raw, "model")
    if isinstance(model, str) and model.startswith("azureml:"):
        raise UserError(
            f"{shown}:{line}: model {model!r} is a registered model, which a local run cannot"
            " read; give the model inline (model: {name: x, path: ./model}) to score here"
        )
    if isinstance(model, dict) and model.get("path"):
        given = str(model["path"])
        line = line_of(model, "path") or line
        name, version = str(model.get("name") or Path(given).name), str(model.get("version") or "1")
    elif isinstance(model, str) and model:
        given, name, version = model, Path(model).name, "1"
    else:
        raise UserError(f"{shown}:{line}: model: give a path (model: {{name: x, path: ./model}})")
    source = (path.parent / given.removeprefix("file:")).resolve()
    if not source.exists():
        raise UserError(f"{shown}:{line}: model.path {given!r} does not exist")
    return name, version, source


def parse_deployment(path: Path, shown: str, endpoint: str = "") -> BatchDeployment:
    """A checked batch model deployment; UserError (file:line: field: fix) on a problem."""
    raw = load_yaml(path, shown)
    if not isinstance(raw, dict):
        raise UserError(f"{shown}:1: expected a batch deployment mapping")
    if raw.get("type") == "pipeline" or raw.get("component") or raw.get("job_definition"):
        raise UserError(
            f"{shown}: a pipeline component deployment does not run here (batch-score runs"
            " model deployments)"
        )
    settings: Dict[str, Any] = {k: raw[k] for k in SETTINGS if k in raw}
    nested = raw.get("settings") or {}
    if not isinstance(nested, dict):
        raise UserError(f"{shown}:{line_of(raw, 'settings')}: settings: must be a mapping")
    settings.update(nested)
    lines = {**getattr(raw, "lines", {}), **getattr(nested, "lines", {})}
    configuration = raw.get("code_configuration") or {}
    script = str(configuration.get("scoring_script") or "")
    code = str(configuration.get("code") or ".")
    where = line_of(raw, "code_configuration")
    if not script:
        raise UserError(
            f"{shown}:{where}: code_configuration.scoring_script: is required (a script with"
            " init() and run(mini_batch))"
        )
    check_entry_script(
        path.parent / code / script,
        shown,
        line_of(configuration, "scoring_script") or where,
        f"{code}/{script}",
    )
    action = str(settings.get("output_action", "append_row")).lower()
    if action not in OUTPUT_ACTIONS:
        raise UserError(
            f"{shown}:{lines.get('output_action', 0)}: output_action must be append_row or"
            f" summary_only, got {settings['output_action']!r}"
        )
    settings["output_action"] = action
    settings["mini_batch_size"] = mini_batch_size(
        settings.get("mini_batch_size", 10), shown, lines.get("mini_batch_size", 0)
    )
    name, version, model_path = _model(raw, path, shown)
    return BatchDeployment(
        file=path,
        shown_as=shown,
        raw=raw,
        name=str(raw.get("name") or path.stem),
        endpoint=str(raw.get("endpoint_name") or endpoint),
        model_name=name,
        model_version=version,
        model_path=model_path,
        code=code,
        scoring_script=script,
        settings=settings,
    )


def _whole(settings: Dict[str, Any], key: str, default: int, minimum: int, shown: str) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{shown}: {key} must be a whole number >= {minimum}, got {value!r}")
    return value


def parallel_settings(deployment: BatchDeployment, input_name: str) -> ParallelSpec:
    """The deployment's settings as the parallel driver takes them."""
    settings, shown = deployment.settings, deployment.shown_as
    retry = settings.get("retry_settings") or {}
    resources = deployment.raw.get("resources") or {}
    instances = settings.get("instance_count", resources.get("instance_count", 1))
    action = settings["output_action"]
    return ParallelSpec(
        file=deployment.file,
        shown_as=shown,
        raw=deployment.raw,
        kind="deployment",
        entry_script=deployment.scoring_script,
        code=deployment.code,
        environment=deployment.raw.get("environment"),
        input_data=input_name,
        mini_batch_size=settings["mini_batch_size"],
        error_threshold=_whole(settings, "error_threshold", -1, -1, shown),
        max_concurrency_per_instance=_whole(settings, "max_concurrency_per_instance", 1, 1, shown),
        instance_count=_whole({"instance_count": instances}, "instance_count", 1, 1, shown),
        max_retries=_whole(retry, "max_retries", 3, 1, shown),
        timeout_s=_whole(retry, "timeout", DEFAULT_TIMEOUT_S, 1, shown),
        logging_level=str(settings.get("logging_level", "info")).upper(),
        append_row_to="score" if action == "append_row" else "",
        append_row_file_name=str(settings.get("output_file_name") or DEFAULT_OUTPUT_FILE),
        output_action=action,
    )


def model_dir(deployment: BatchDeployment) -> str:
    """AZUREML_MODEL_DIR relative to the code root: the model sits under its own name
    inside it, as Azure ML lays registered models out."""
    return f"{MODEL_ROOT}/{deployment.model_name}/{deployment.model_version}"


def scoring_job(deployment: BatchDeployment, input_name: str) -> Any:
    """The command JobSpec that scores one input folder with `deployment` locally: input
    `input_name` (uri_folder, its path given as an INPUTS override), output `score`
    holding output_file_name; the driver and the model staged into the code root."""
    from amlops.spec.job import job_from_mapping

    parallel = parallel_settings(deployment, input_name)
    mapping = LineMap()
    mapping.lines = dict(getattr(deployment.raw, "lines", {}))
    mapping["inputs"] = {input_name: {"type": "uri_folder"}}
    mapping["outputs"] = {"score": {"type": "uri_folder"}}
    mapping["code"] = deployment.code
    mapping["environment"] = deployment.raw.get("environment")
    variables: Optional[Dict[str, Any]] = deployment.settings.get("environment_variables")
    if variables:
        mapping["environment_variables"] = {str(k): str(v) for k, v in variables.items()}
    command = f"{driver_command(parallel)} --model_dir {model_dir(deployment)}"
    mapping["command"] = command
    job = job_from_mapping(mapping, deployment.file, deployment.shown_as, "node")
    job.name = f"{deployment.endpoint}-{deployment.name}"
    job.parallel = parallel
    job.staged_files = {
        DRIVER_NAME: DRIVER_SOURCE,
        f"{model_dir(deployment)}/{deployment.model_path.name}": deployment.model_path,
    }
    return job
