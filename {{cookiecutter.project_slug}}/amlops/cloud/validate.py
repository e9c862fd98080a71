"""`make validate`: every job file (job.yaml, and other job files of an experiment
such as a sweep.yaml), pipeline file and endpoint folder (endpoints/<name>/), checked
offline, then (when a workspace and a login are available) against the workspace.

Offline: our own checks (undeclared `${{inputs.x}}`, bindings, names, missing
local data), the SDK's load_job and validation of each job.yaml, and of each
pipeline as the native pipeline job `make pipeline` would submit; each endpoint folder
read by amlops/spec/endpoints.py, then its files as `make deploy` writes them loaded with
load_online_endpoint / load_online_deployment (or the batch loaders). Online: the
computes, data assets and environments the jobs name exist. Every problem is
listed (file:line: message); the exit code is 2 when there is any."""

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Set, Tuple

from amlops.cloud import pipeline_jobs
from amlops.cloud.packages import backend
from amlops.cloud.sdk import load_native, require_sdk
from amlops.cloud.submission import Submission
from amlops.cloud.sweep import native_job, source_raw
from amlops.cloud.workspace import connect, find_workspace
from amlops.console import say
from amlops.errors import UserError, problems_of
from amlops.filekinds import kind_of, yaml_files
from amlops.project import Project, job_file_in
from amlops.spec.endpoints import endpoint_names
from amlops.spec.job import load_experiment, other_job_files
from amlops.spec.pipeline_loader import load_pipeline
from amlops.spec.references import workspace_asset
from amlops.yamlfile import dump_yaml, load_yaml, plain

NO_TAGS: Dict[str, str] = {}


@dataclass
class Report:
    """Problems found, and the workspace references to check (kind, name, version) -> users."""

    problems: List[str] = field(default_factory=list)
    references: Dict[Tuple[str, str, str], Set[str]] = field(default_factory=dict)

    def note_references(self, native_job: Dict[str, Any], shown: str) -> None:
        for kind, ref in _references(native_job):
            match = workspace_asset(ref)
            if match:
                key = (kind, match.name, match.version_or_label)
                self.references.setdefault(key, set()).add(shown)


def _references(node: Any, key: str = "") -> Iterator[Tuple[str, str]]:
    """(compute|environment|data, azureml:... reference) anywhere in a native job."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _references(v, str(k))
        if isinstance(node.get("path"), str) and "type" in node:
            yield "data", node["path"]
    elif isinstance(node, str):
        if key in ("compute", "default_compute"):
            yield "compute", node
        elif key == "environment":
            yield "environment", node


def _check(report: Report, check: Callable[[], Any]) -> Any:
    """check(), or None with its problems recorded."""
    try:
        return check()
    except UserError as err:
        report.problems.extend(problems_of(err))
        return None


def _sdk_check(report: Report, sdk: bool, check: Callable[[], Any]) -> bool:
    """The SDK's own validation (when azure-ai-ml is the backend); False on problems."""
    return not sdk or _check(report, check) is not None


def _validate_job(
    project: Project,
    report: Report,
    scratch: Path,
    experiment: str,
    sdk: bool,
    job_file: str = "",
) -> None:
    """The job file (our checks, the SDK's with its line numbers), then exactly the job
    `make job DRY_RUN=1` writes, loaded back with the SDK. `job_file`: another job file
    of the experiment than job.yaml (a sweep.yaml)."""
    spec = _check(report, lambda: load_experiment(project, experiment, job_file))
    if spec is None:
        return
    shown = spec.shown_as
    if not _sdk_check(report, sdk, lambda: load_native(spec.file, shown, source_raw(spec))):
        return
    if spec.parallel is not None:  # submitted only as a pipeline node (make job refuses it)
        say(f"ok {shown} (a parallel job: runs locally, in Azure ML as a pipeline node)")
        return
    folder = scratch / "jobs" / experiment / (job_file or "job")
    sub = Submission(project, "jobs", experiment, folder=folder)
    built = _check(report, lambda: sub.build(lambda: native_job(project, spec, sub, {}, NO_TAGS)))
    if built is None:
        return
    written = f"{shown} (as make job sends it)"
    if _sdk_check(report, sdk, lambda: load_native(sub.job_file, written)):
        report.note_references(built, shown)
        say(f"ok {shown}")


def _validate_pipeline(
    project: Project, report: Report, scratch: Path, name: str, sdk: bool
) -> None:
    shown = project.relative(project.pipeline_file(name))
    spec = _check(report, lambda: load_pipeline(project, name))
    if spec is None:
        return
    sub = Submission(project, "pipelines", name, folder=scratch / "pipelines" / name)
    built = _check(report, lambda: pipeline_jobs.pipeline_job(project, spec, sub, {}, NO_TAGS))
    if built is None:
        return
    path = sub.write(built)
    if _sdk_check(report, sdk, lambda: load_native(path, f"{shown} (as a pipeline job)")):
        report.note_references(built, shown)
        say(f"ok {shown}")


def _validate_endpoint(
    project: Project, report: Report, scratch: Path, name: str, sdk: bool
) -> None:
    """endpoints/<name>/: the folder reader's checks (amlops/spec/endpoints.py), then
    exactly the files `make deploy DRY_RUN=1` writes, loaded with the SDK's endpoint and
    deployment loaders."""
    from amlops.cloud.endpoints import load_written, write_deploy
    from amlops.spec.endpoints import load_endpoint

    spec = _check(report, lambda: load_endpoint(project, name))
    if spec is None:
        return
    deployments = list(spec.deployments.values())
    folder = scratch / "endpoints" / name
    written = _check(
        report, lambda: write_deploy(project, spec, deployments, None, folder, quiet=True)
    )
    if written is None:
        return
    for deployment in deployments:
        _stand_in_for_missing_model(project, deployment, written.deployments[deployment.name])
    if not sdk or _check(report, lambda: load_written(project, spec, written)) is not None:
        for deployment in deployments:
            report.note_references(deployment.raw, deployment.shown)
        say(f"ok {project.relative(spec.folder)} ({len(deployments)} deployment(s))")


def _stand_in_for_missing_model(project: Project, deployment: Any, written: Path) -> None:
    """A local model path that does not exist yet (a run's output before the first
    training, as in the baked sample) is not a problem for validate (make deploy refuses
    it): the written file points at an empty stand-in folder of the same name, so the
    SDK checks every other field; one line says so."""
    model = deployment.model
    if model is None or model.kind != "path" or model.path is None or model.path.exists():
        return
    stand_in = written.parent / "missing-models" / deployment.name / model.path.name
    stand_in.mkdir(parents=True, exist_ok=True)
    document = plain(load_yaml(written, str(written)))
    relative = os.path.relpath(stand_in, written.parent)
    if isinstance(document.get("model"), dict):
        document["model"]["path"] = relative
    else:
        document["model"] = relative
    dump_yaml(written, document)
    say(
        f"note {deployment.shown}:{model.line}: model path {project.relative(model.path)}"
        " does not exist yet (train first); the other fields are checked"
    )


# The SDK loader of each other file kind (amlops.filekinds) that validate checks as what
# it is: the loader `az ml <kind> create -f` uses (azure.ai.ml load_* functions).
ASSET_LOADERS = {
    "command_component": "load_component",
    "parallel_component": "load_component",
    "spark_component": "load_component",
    "pipeline_component": "load_component",
    "environment": "load_environment",
    "data": "load_data",
    "model": "load_model",
    "schedule": "load_schedule",
}


def _validate_assets(project: Project, report: Report, folder: Path, sdk: bool) -> None:
    """The component, environment, data, model and schedule files of `folder`, each
    loaded with its own SDK loader (a conda file or another tool's YAML is left alone)."""
    if not sdk:
        return
    for path in yaml_files(folder):
        shown = project.relative(path)
        loader = ASSET_LOADERS.get(kind_of(path, shown))
        if loader is None:
            continue
        raw = _check(report, lambda: load_yaml(path, shown))
        if raw is not None and _sdk_check(
            report, sdk, lambda: load_native(path, shown, raw, loader)
        ):
            say(f"ok {shown} ({kind_of(path, shown).replace('_', ' ')})")


def validate_offline(project: Project, report: Report, sdk: bool = True) -> None:
    """Our checks plus (with `sdk`) the SDK's, for every experiment, pipeline and
    endpoint folder, and every other Azure ML file beside them as what it is
    (amlops.filekinds)."""
    with tempfile.TemporaryDirectory(prefix="amlops-validate-") as scratch:
        for experiment in project.experiments():
            if job_file_in(project.src / experiment) is not None:  # else all are "others"
                _validate_job(project, report, Path(scratch), experiment, sdk)
            for job_file in other_job_files(project, experiment):
                _validate_job(project, report, Path(scratch), experiment, sdk, job_file)
            _validate_assets(project, report, project.src / experiment, sdk)
        for name in project.pipelines():
            _validate_pipeline(project, report, Path(scratch), name, sdk)
        for folder in project.pipeline_folders():
            _validate_assets(project, report, folder, sdk)
        for name in endpoint_names(project):
            _validate_endpoint(project, report, Path(scratch), name, sdk)


def _exists(client: Any, kind: str, name: str, version: str) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        if kind == "compute":
            client.compute.get(name)
            return True
        operations = client.data if kind == "data" else client.environments
        if version and version != "latest":
            operations.get(name, version=version)
        else:
            operations.get(name, label="latest")
    except ResourceNotFoundError:
        return False
    return True


def validate_online(project: Project, report: Report, client: Any, workspace: str) -> None:
    """Every compute, data asset and environment named exists in the workspace."""
    from amlops.cloud.sdk import azure_errors

    for (kind, name, version), users in sorted(report.references.items()):
        label = f"{name}:{version}" if version else name
        with azure_errors(f"make validate: looking up {kind} {label}"):
            found = _exists(client, kind, name, version)
        if not found:
            for shown in sorted(users):
                report.problems.append(
                    f"{shown}: {kind} {label!r} does not exist in workspace {workspace}"
                )
    say(f"checked {len(report.references)} compute/data/environment references in {workspace}")


def run_validate(project: Project, offline: bool) -> int:
    """Validate everything; print every problem; 0 when there is none."""
    v2 = backend(project) == "v2"
    if v2:
        require_sdk("validate")
    else:
        say("AML_SDK=v1: our checks only (the SDK v2 schema checks need azure-ai-ml)")
    report = Report()
    validate_offline(project, report, sdk=v2)
    if offline or not v2:
        say("workspace checks skipped" + (" (OFFLINE=1)" if offline else " (AML_SDK=v1)"))
    else:
        try:
            workspace = find_workspace(project)
            client = connect(project, workspace)
        except UserError as err:
            say(f"workspace checks skipped: {err}")
        else:
            validate_online(project, report, client, workspace.name)
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    if report.problems:
        raise UserError(f"validate: {len(report.problems)} problem(s)")
    say("validate: no problems")
    return 0
