"""`make register-model`: a local run's model output registered locally (the project's
MLflow registry plus a copy, amlops/tracking/models.py) and in Azure ML under the same
name and version.

What goes to Azure ML is a `model.yaml` (Azure ML's model schema,
https://azuremlschemas.azureedge.net/latest/model.schema.json) in a submission folder
`.runs/azure/models/<name>/<id>/`, its `path` pointing at the registered copy (relative
to the folder, so `az ml model create -f <folder>/model.yaml` works too). It is loaded
back with azure.ai.ml.load_model and sent with `ml_client.models.create_or_update`,
which uploads the folder as the SDK always does. DRY_RUN=1 writes the file, loads it
and registers nothing anywhere; OFFLINE=1 registers locally only.

A model in MLflow's format (an MLmodel file) is registered as `type: mlflow_model`:
Azure ML can deploy such a model without a scoring script or an environment (no-code
deployment, Azure ML docs "Deploy MLflow models to online endpoints")."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from amlops.cloud.sdk import azure_errors, load_native, require_sdk
from amlops.cloud.submission import Submission
from amlops.console import say
from amlops.errors import UserError
from amlops.local.model_outputs import (
    RunModel,
    description_of,
    find_run_model,
    mlmodel_flavors,
    registered_tags,
)
from amlops.project import Project
from amlops.tracking.models import (
    TYPE_TAG,
    LocalModel,
    check_name,
    check_version,
    find_model,
    next_version,
    register_local,
    registered_as,
)
from amlops.yamlfile import dump_yaml

MODEL_SCHEMA = "https://azuremlschemas.azureedge.net/latest/model.schema.json"
MODEL_FILE = "model.yaml"


@dataclass(frozen=True)
class RegisterRequest:
    experiment: str
    run: str = ""
    name: str = ""
    version: str = ""
    output: str = ""
    dry_run: bool = False
    offline: bool = False


def model_document(
    name: str, version: str, path: str, found: RunModel, extra_tags: Dict[str, str]
) -> Dict[str, Any]:
    """model.yaml's content: Azure ML's model schema (azure/ai/ml/_schema/assets/model.py
    ModelSchema: name, version, type, path, description, tags)."""
    return {
        "$schema": MODEL_SCHEMA,
        "name": name,
        "version": version,
        "type": found.model_type,
        "path": path,
        "description": description_of(found),
        "tags": {**registered_tags(found), **extra_tags},
    }


def write_model_file(sub: Submission, document: Dict[str, Any]) -> Path:
    path = sub.folder / MODEL_FILE
    dump_yaml(path, document)
    sub.save(model=f"{document['name']}:{document['version']}")
    return path


def _mlflow_line(found: RunModel) -> None:
    flavors = mlmodel_flavors(found.path)
    if found.model_type == "mlflow_model":
        shown = f" (flavors: {', '.join(flavors)})" if flavors else ""
        say(
            f"MLflow model{shown}: Azure ML can deploy it without score.py or environment"
            " (no-code deployment); make serve still needs a code_configuration for it"
            " (no-code local serving is not supported yet)"
        )


def _register_azure(
    project: Project, workspace: Any, model_file: Path, shown: str, name: str, version: str
) -> str:
    """Register model.yaml in `workspace`; its Azure ML id. The version exists
    already: the same run's model is reported, another one is a conflict."""
    from amlops.cloud.workspace import connect

    require_sdk("register-model")
    entity = load_native(model_file, shown, loader="load_model")
    client = connect(project, workspace)
    from azure.core.exceptions import ResourceNotFoundError

    with azure_errors(f"make register-model: {name}:{version}"):
        try:
            existing: Optional[Any] = client.models.get(name=name, version=version)
        except ResourceNotFoundError:
            existing = None
        if existing is not None:
            same = (existing.tags or {}).get("amlops.run") == (entity.tags or {}).get("amlops.run")
            if not same:
                raise UserError(
                    f"model {name}:{version} already exists in workspace {workspace.name} with"
                    " other content; versions never change: choose another VERSION=",
                    5,
                )
            say(f"Azure ML: {name}:{version} was already registered from this run")
            return str(existing.id or "")
        created = client.models.create_or_update(entity)
    return str(getattr(created, "id", "") or "")


def register_model(project: Project, req: RegisterRequest) -> int:
    """Register the run's model (see the module docstring); 0 on success, UserError
    (one line, non-zero exit) on bad input or a refused registration."""
    from amlops.cloud.workspace import find_workspace

    project.experiment_of_runs(req.experiment)
    # the workspace settings first: a missing one is said before any local work
    workspace = None if req.offline or req.dry_run else find_workspace(project)
    found = find_run_model(project, req.experiment, req.run, req.output)
    name = check_name(req.name or req.experiment)
    source_shown = project.relative(found.path)
    say(f"model: {source_shown} (output {found.output} of run {found.run_id}, {found.model_type})")
    again = registered_as(project, found.path)
    if again is not None and again.name == name and not req.version:
        # the same run's output under the same name: its version, not a new one
        say(f"{again.reference} is this run's model already (registered locally)")
        version, existing = again.version, None
        local: Optional[LocalModel] = again
    else:
        version = check_version(req.version) if req.version else next_version(project, name)
        existing, local = find_model(project, name, version), None
    if existing is not None and not req.dry_run:
        raise UserError(
            f"model {name}:{version} is already registered locally"
            f" ({project.relative(existing.version_dir)}); versions never change:"
            " choose another VERSION="
        )
    sub = Submission(project, "models", name)
    tags = {TYPE_TAG: found.model_type}
    if req.dry_run:
        path = os.path.relpath(found.path.resolve(), sub.folder)
        model_file = write_model_file(sub, model_document(name, version, path, found, {}))
        shown = project.relative(model_file)
        _load_back(model_file, shown)
        if existing is not None:
            say(f"note: {name}:{version} is already registered locally: choose another VERSION=")
        say(f"DRY_RUN: nothing registered; azureml:{name}:{version} would be registered from")
        print(shown)
        return 0
    if local is None:
        local, number = register_local(
            project,
            name,
            version,
            found.path,
            description_of(found),
            {**registered_tags(found), **tags},
            found.mlflow_run_id,
        )
        say(
            f"registered locally: {local.reference} -> {project.relative(local.path)}"
            f" (MLflow registry: {name} version {number}; make ui shows it)"
        )
        _mlflow_line(found)
    path = os.path.relpath(local.path.resolve(), sub.folder)
    model_file = write_model_file(sub, model_document(name, version, path, found, {}))
    shown = project.relative(model_file)
    if req.offline:
        _load_back(model_file, shown)
        say(f"OFFLINE: not registered in Azure ML; {shown} is what make register-model sends")
        return 0
    say(f"registering {local.reference} in Azure ML from {shown}")
    try:
        model_id = _register_azure(project, workspace, model_file, shown, name, version)
    except UserError as err:
        raise UserError(
            f"{err} (registered locally only: make serve MODEL={local.reference} works)",
            err.exit_code,
        ) from None
    say(f"registered in Azure ML: {local.reference}" + (f" ({model_id})" if model_id else ""))
    return 0


def _load_back(model_file: Path, shown: str) -> None:
    """load_model on the written file when azure-ai-ml is installed (a check only)."""
    try:
        require_sdk("register-model")
    except UserError:
        say("azure-ai-ml is not installed: model.yaml not checked with load_model")
        return
    load_native(model_file, shown, loader="load_model")
