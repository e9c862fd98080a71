"""Which model folder a local deployment serves, and where Azure ML would put it.

Azure ML mounts a deployment's model under /var/azureml-app/azureml-models/<name>/<version>/
and sets AZUREML_MODEL_DIR to that folder; the model's own file or folder keeps its name
inside it (a model registered from `model/` is at $AZUREML_MODEL_DIR/model/). azure-ai-ml's
local mode does the same (_local_endpoints/azureml_image_context.py, model_mount_path
`/<name>/<version>`). An anonymous inline model gets no name in Azure's local mode; here
it is named `<deployment>-model`, version 1.

MODEL= overrides the deployment's model: a local run id (its outputs/), a path, or
`azureml:<name>:<version>` (a model registered locally with make register-model)."""

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from amlops.errors import UserError
from amlops.project import Project
from amlops.spec.endpoints import DeploymentSpec

MODELS_ROOT = "/var/azureml-app/azureml-models"


@dataclass(frozen=True)
class ServedModel:
    """The model folder or file on this machine (`source`), served as `name`/`version`."""

    source: Path
    name: str
    version: str
    origin: str = ""  # where it came from, for the line make serve says (model_line)

    @property
    def mount_dir(self) -> str:
        """AZUREML_MODEL_DIR in a container: /var/azureml-app/azureml-models/<name>/<version>."""
        return f"{MODELS_ROOT}/{self.name}/{self.version}"


def _run_folders(project: Project, run_id: str) -> List[Path]:
    if not project.runs.is_dir():
        return []
    found = [p / run_id for p in project.runs.iterdir() if (p / run_id / "outputs").is_dir()]
    pipelines = project.runs / "pipelines"
    if pipelines.is_dir():
        found += [s for s in pipelines.glob(f"*/{run_id}/steps/*") if (s / "outputs").is_dir()]
    return found


def _from_run(project: Project, run_id: str, deployment: DeploymentSpec) -> Path:
    """The model output of local run `run_id`: outputs/<the deployment's model folder
    name> when there is one, else the run's only output."""
    runs = _run_folders(project, run_id)
    if not runs:
        raise UserError(f"MODEL={run_id}: no local run with that id under .runs/ (make runs)")
    outputs = runs[0] / "outputs"
    wanted = deployment.model.path.name if deployment.model and deployment.model.path else ""
    if wanted and (outputs / wanted).exists():
        return outputs / wanted
    entries = sorted(p for p in outputs.iterdir() if not p.name.startswith("."))
    if len(entries) == 1:
        return entries[0]
    names = ", ".join(p.name for p in entries) or "none"
    raise UserError(
        f"MODEL={run_id}: run {project.relative(runs[0])} has outputs {names};"
        f" give the model's path instead: MODEL={project.relative(outputs)}/<output>"
    )


def _registered(project: Project, reference: str) -> Path:
    """A model registered locally (make register-model) under azureml:<name>:<version>."""
    try:
        from amlops.tracking import models  # type: ignore[attr-defined]  # register-model's
    except ImportError:
        models = None
    if models is not None and hasattr(models, "find_local_model"):
        found = models.find_local_model(project, reference)
        if found is not None:
            return Path(found)
    raise UserError(
        f"model {reference} is not registered locally: register a run's model with"
        " make register-model EXP=<exp> [RUN=<id>] NAME=<name>, or serve a local one with"
        " MODEL=<run id | path>"
    )


def served_model(project: Project, deployment: DeploymentSpec, given: str = "") -> ServedModel:
    """The model `deployment` serves locally (MODEL=`given` when set).

    Raises UserError (one line) when the model cannot be had on this machine: a path that
    does not exist, an unknown run id, a remote model, an unregistered reference."""
    declared = deployment.model
    name = declared.name if declared and declared.name else f"{deployment.name}-model"
    version = declared.version if declared and declared.version else "1"
    if given:
        if given.startswith("azureml:"):
            parts = given[len("azureml:") :].split(":")
            name, version = parts[0], parts[1] if len(parts) > 1 else "1"
            origin = f"MODEL={given}, registered locally by make register-model"
            return ServedModel(_registered(project, given), name, version, origin)
        path = (Path.cwd() / given).resolve()
        if not path.exists():
            path = (project.root / given).resolve()
        if path.exists():
            return ServedModel(path, name, version, f"MODEL={given}")
        if "/" not in given:
            origin = f"MODEL={given}: that local run's output"
            return ServedModel(_from_run(project, given, deployment), name, version, origin)
        raise UserError(f"MODEL={given}: no such file or folder")
    if declared is None:
        raise UserError(
            f"{deployment.shown}: no model: (a deployment without a model is served only"
            " when its score.py needs none); give MODEL=<run id | path>"
        )
    if declared.kind == "reference":
        origin = f"{deployment.shown}'s model {declared.reference}, registered locally"
        return ServedModel(_registered(project, declared.reference), name, version, origin)
    if declared.kind == "remote":
        raise UserError(
            f"{deployment.shown}:{declared.line}: model: path {declared.reference} is in the"
            " workspace, not on this machine; give MODEL=<run id | path>"
        )
    problem = declared.missing(deployment.shown)
    if problem:
        raise UserError(problem)
    assert declared.path is not None
    written = declared.raw.get("path") if isinstance(declared.raw, dict) else declared.raw
    origin = f"{deployment.shown}'s model: path {written}"
    return ServedModel(declared.path, name, version, origin)


def model_line(project: Project, deployment: str, model: Optional[ServedModel]) -> str:
    """The one line make serve says about a deployment's model: its name:version, the
    file or folder served (links such as a run's `latest` resolved, so a run's model is
    named by its run id) and where it came from (MODEL= or the deployment file)."""
    if model is None:
        return f"{deployment}: no model (the deployment declares none and MODEL= is unset)"
    shown = project.relative(model.source)
    origin = f" ({model.origin})" if model.origin else ""
    return f"{deployment}: serving model {model.name}:{model.version} from {shown}{origin}"


def model_dir_link(model: ServedModel, base: Path) -> Path:
    """A folder `base/<name>/<version>/` holding a link to the model under its own name:
    what AZUREML_MODEL_DIR points at in the venv runtime (nothing is copied)."""
    folder = base / model.name / model.version
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / model.source.name
    if not link.exists():
        link.symlink_to(model.source, target_is_directory=model.source.is_dir())
    return folder


def optional_model(
    project: Project, deployment: DeploymentSpec, given: str
) -> Optional[ServedModel]:
    """served_model(), or None for a deployment with no model and no MODEL= (a score.py
    may need none)."""
    if deployment.model is None and not given:
        return None
    return served_model(project, deployment, given)
