"""The project's local model registry: models registered from local runs, found again
by the `azureml:<name>:<version>` references Azure ML deployments use.

A registered model version is two things:
- a copy of the model folder (or file) under `.runs/.models/<name>/<version>/`, kept
  as Azure ML keeps a registered model: the model's own folder name inside the version
  folder (Azure ML stores `path: outputs/model` at `azureml-models/<name>/<version>/model`,
  and a deployment's AZUREML_MODEL_DIR is that version folder). `make prune` leaves
  `.runs/.models/` alone (it only removes run folders), so a registered model outlives
  the run that made it, as it does in Azure ML;
- a model version in the MLflow model registry of the project's tracking store
  (`.runs/mlruns` or MLFLOW_TRACKING_URI), so `make ui` lists it under Models, with the
  Azure ML version in the tag `azureml.version` (MLflow numbers versions itself, Azure
  ML takes any string) and the local run in `amlops.run`.

`resolve_model()` reads only the copy folder: serving a registered model never imports
MLflow. MLflow (mlflow-skinny, one of the project's tools) is imported only by
`register_local()`. No Azure SDK is imported here."""

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

from amlops.errors import UserError
from amlops.jsonfile import write_json
from amlops.project import Project
from amlops.spec.references import workspace_asset
from amlops.tracking.local import is_file_uri, mlflow_settings, shown_uri, tracking_uri

MODELS_DIR = ".models"  # under .runs/
# azureml:<name>:<version> or azureml:<name>@latest (Azure ML's model references,
# azure/ai/ml/_utils/_arm_id_utils.py parse_name_version / parse_name_label).
# Azure ML asset names: letters, digits, '-', '_' and '.', starting with a letter or a
# digit, at most 255 characters (the REST API's name pattern for models/versions).
MODEL_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_.]{0,254}$")
MODEL_VERSION = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_.]{0,29}$")
VERSION_TAG = "azureml.version"
RUN_TAG = "amlops.run"
TYPE_TAG = "azureml.type"


@dataclass(frozen=True)
class LocalModel:
    """A registered model version: `path` is the model itself (its folder or file),
    `version_dir` the folder Azure ML would mount as AZUREML_MODEL_DIR."""

    name: str
    version: str
    path: Path

    @property
    def version_dir(self) -> Path:
        return self.path.parent

    @property
    def reference(self) -> str:
        return f"azureml:{self.name}:{self.version}"


def models_root(project: Project) -> Path:
    return project.runs / MODELS_DIR


def check_name(name: str, option: str = "NAME") -> str:
    """`name` when Azure ML accepts it as a model name, else UserError (one line)."""
    if not MODEL_NAME.match(name or ""):
        raise UserError(
            f"{option}={name!r}: a model name is letters, digits, '-', '_' or '.', starting"
            " with a letter or digit (at most 255 characters)"
        )
    return name


def check_version(version: str, option: str = "VERSION") -> str:
    if not MODEL_VERSION.match(version or ""):
        raise UserError(
            f"{option}={version!r}: a model version is letters, digits, '-', '_' or '.'"
            " (e.g. 3), starting with a letter or digit"
        )
    return version


def parse_reference(reference: str) -> Tuple[str, str]:
    """(name, version) of `azureml:<name>:<version>`; version "latest" for
    `azureml:<name>@latest`. UserError for anything else."""
    found = workspace_asset(reference.strip())
    if found is None or (found.label and found.label != "latest"):
        raise UserError(
            f"model reference {reference!r}: write azureml:<name>:<version> (or"
            " azureml:<name>@latest)"
        )
    return found.name, found.version or "latest"


def _versions(project: Project, name: str) -> Dict[str, Path]:
    """The registered versions of `name` by version -> the model inside the folder."""
    root = models_root(project) / name
    found: Dict[str, Path] = {}
    if not root.is_dir():
        return found
    for folder in root.iterdir():
        entries = (
            [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []
        )
        if len(entries) == 1:
            found[folder.name] = entries[0]
    return found


def _order(version: str) -> Tuple[int, int, str]:
    return (1, int(version), "") if version.isdigit() else (0, 0, version)


def next_version(project: Project, name: str) -> str:
    """One more than the highest numeric local version of `name` ("1" for a new name)."""
    numbers = [int(v) for v in _versions(project, name) if v.isdigit()]
    return str(max(numbers, default=0) + 1)


def find_model(project: Project, name: str, version: str) -> Optional[LocalModel]:
    """The local registration of name:version ("latest": the highest), or None."""
    versions = _versions(project, name)
    if version == "latest" and versions:
        version = max(versions, key=_order)
    path = versions.get(version)
    return LocalModel(name, version, path) if path else None


def resolve_model(project: Project, reference: str) -> LocalModel:
    """The local model an `azureml:<name>:<version>` reference names.

    Looks only at models registered with `make register-model` (the copy under
    `.runs/.models/`); imports neither MLflow nor an Azure SDK. Raises UserError (one
    line saying how to get it) when there is none."""
    name, version = parse_reference(reference)
    found = find_model(project, name, version)
    if found is not None:
        return found
    known = sorted(_versions(project, name), key=_order)
    have = f" (local versions: {', '.join(known)})" if known else ""
    raise UserError(
        f"model {reference} is not registered locally{have}: register a local run's model"
        f" with make register-model EXP=<exp> NAME={name}"
        + ("" if version == "latest" else f" VERSION={version}")
        + ", or give the model's folder (MODEL=path)"
    )


def find_local_model(project: Project, reference: str) -> Optional[Path]:
    """The model (folder or file) an `azureml:<name>:<version>` (or `@latest`) reference
    names among the locally registered models, None when there is none (what `make serve`
    asks, amlops/serving/model.py). UserError for a malformed reference."""
    name, version = parse_reference(reference)
    found = find_model(project, name, version)
    return found.path if found is not None else None


def _copy(source: Path, target_dir: Path) -> Path:
    """Copy the model folder or file into `target_dir` (created; must not exist)."""
    staging = target_dir.with_name(f".{target_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    copied = staging / source.name
    if source.is_dir():
        shutil.copytree(source, copied, symlinks=False)
    else:
        shutil.copy2(source, copied)
    staging.rename(target_dir)
    return target_dir / source.name


def _mlflow_register(
    project: Project, model: LocalModel, description: str, tags: Dict[str, str], run_id: str
) -> str:
    """Register `model` in the MLflow model registry of the tracking store; the MLflow
    version number (MLflow numbers versions itself). UserError when MLflow is missing
    or the store refuses."""
    import os

    try:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
    except ImportError as err:
        raise UserError(
            f"make register-model needs MLflow on the host ({err}); make setup installs it"
            " (pip install mlflow-skinny)"
        ) from None
    uri = tracking_uri(project)
    # Both URIs in the environment too: parts of create_model_version ask MLflow's global
    # default, which is sqlite:///mlflow.db in the current directory since MLflow 3.7.
    env = {**mlflow_settings(project), "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}
    saved = {k: os.environ.get(k) for k in ("MLFLOW_ALLOW_FILE_STORE", *env)}
    os.environ.update(env)
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 opens a file store only so
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        try:
            client.get_registered_model(model.name)
        except MlflowException:
            client.create_registered_model(model.name, description=description or None)
        version = client.create_model_version(
            model.name,
            source=str(model.path.resolve()),
            run_id=run_id or None,
            tags={**tags, VERSION_TAG: model.version},
            description=description or None,
        )
        return str(version.version)
    except MlflowException as err:
        where = project.relative(Path(uri[7:])) if is_file_uri(uri) else shown_uri(uri)
        message = " ".join(str(err).split())[:200]
        raise UserError(
            f"registering {model.reference} in the MLflow registry of {where} failed:" f" {message}"
        ) from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def register_local(
    project: Project,
    name: str,
    version: str,
    source: Path,
    description: str = "",
    tags: Optional[Dict[str, str]] = None,
    run_id: str = "",
) -> Tuple[LocalModel, str]:
    """Register the model at `source` (a folder or file) as name:version: copy it under
    `.runs/.models/<name>/<version>/` and add it to the MLflow registry. Returns the
    LocalModel and the MLflow version number.

    `run_id`: the MLflow run that made it (linked in the MLflow UI). Raises UserError
    when name:version is already registered locally (versions never change, as in
    Azure ML), the source is missing, or MLflow cannot register it (then nothing is
    left registered)."""
    check_name(name)
    check_version(version)
    if not source.exists():
        raise UserError(f"no model at {project.relative(source)}: nothing to register")
    target = models_root(project) / name / version
    if find_model(project, name, version) is not None or target.exists():
        raise UserError(
            f"model {name}:{version} is already registered locally"
            f" ({project.relative(target)}); versions never change: choose another VERSION="
        )
    model = LocalModel(name, version, _copy(source, target))
    try:
        number = _mlflow_register(project, model, description, dict(tags or {}), run_id)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    record = {"source": str(source.resolve()), "mlflow_version": number, "tags": tags or {}}
    write_json(_record_file(project, name, version), record)
    return model, number


def _record_file(project: Project, name: str, version: str) -> Path:
    """Beside the version folders (never inside what is mounted or uploaded)."""
    return models_root(project) / name / f".{version}.json"


def registered_as(project: Project, path: Path) -> Optional[LocalModel]:
    """The registered model a local path is: a path inside `.runs/.models/<name>/<version>/`,
    or the run output a model was registered from (newest registration first); else None."""
    target = path.resolve()
    root = models_root(project).resolve()
    if root in target.parents:
        parts = target.relative_to(root).parts
        if len(parts) >= 2:
            return find_model(project, parts[0], parts[1])
    if not root.is_dir():
        return None
    matches = []
    for record_file in root.glob("*/.*.json"):
        try:
            record = json.loads(record_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("source") == str(target):
            version = record_file.name[1 : -len(".json")]
            found = find_model(project, record_file.parent.name, version)
            if found is not None:
                matches.append((record_file.stat().st_mtime, found))
    return max(matches, key=lambda m: m[0])[1] if matches else None
