"""`make publish` with AML_SDK=v1: a PublishedPipeline behind a PipelineEndpoint (a
stable id across versions, what Azure Data Factory's "Machine Learning Execute
Pipeline" activity calls).

The published version is the content address of the v2 pipeline component built
from the same files (or VERSION), so publishing unchanged code again finds that
version on the endpoint and publishes nothing. PUBLISH_MARKER=<datastore>/<path>.csv
also writes the ids to a CSV on that datastore, for a Data Factory lookup."""

import csv
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from amlops.cloud.components import pipeline_component
from amlops.cloud.plan import PublishRequest, endpoint_name
from amlops.cloud.submission import Submission
from amlops.cloud.v1.submit import pipeline_objects
from amlops.cloud.v1.workspace import connect_v1, require_v1, v1_errors
from amlops.console import say
from amlops.errors import UserError
from amlops.project import Project
from amlops.provenance import submission_tags
from amlops.spec.pipeline_loader import load_pipeline

MARKER_FIELDS = ["pipeline", "version", "published_pipeline_id", "pipeline_endpoint_id", "time"]


def _existing_endpoint(workspace: Any, name: str) -> Optional[Any]:
    from azureml.pipeline.core import PipelineEndpoint

    try:
        return PipelineEndpoint.get(workspace=workspace, name=name)
    except Exception as err:  # noqa: BLE001 - the SDK raises a plain error when missing
        if "not found" in str(err).lower() or "404" in str(err):
            return None
        raise


def _published_version(endpoint: Any, version: str) -> Optional[Any]:
    for published in endpoint.list_pipelines():
        if getattr(published, "version", None) == version:
            return published
    return None


def parse_marker(marker: str) -> tuple:
    """`<datastore>/<folder>/<file>.csv` -> (datastore, folder, file)."""
    store, _, path = marker.strip("/").partition("/")
    if not store or not path.endswith(".csv"):
        raise UserError(
            f"PUBLISH_MARKER={marker!r}: expected <datastore>/<path>.csv,"
            " e.g. workspaceblobstore/markers/training.csv"
        )
    folder, _, file_name = path.rpartition("/")
    return store, folder, file_name


def write_marker(workspace: Any, marker: str, row: dict) -> None:
    """The ids as a one-row CSV on the datastore (overwritten on every publish)."""
    from azureml.core import Datastore

    store, folder, file_name = parse_marker(marker)
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(scratch) / file_name
        with open(local, "w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=MARKER_FIELDS)
            writer.writeheader()
            writer.writerow(row)
        Datastore.get(workspace, store).upload_files(
            [str(local)], target_path=folder or None, overwrite=True, show_progress=False
        )
    say(f"wrote {marker}")


def publish_v1(project: Project, req: PublishRequest) -> int:
    spec = load_pipeline(project, req.pipeline)
    marker = project.settings.get("PUBLISH_MARKER")
    if marker:
        parse_marker(marker)  # a bad marker fails before anything is published
    if req.schedule:
        raise UserError("SCHEDULE with AML_SDK=v1: use a Data Factory trigger, or AML_SDK=v2")
    sub = Submission(project, "published", spec.name)
    try:
        package = pipeline_component(project, spec, sub, req.version, submission_tags(project.root))
        sub.write(package.job)
    except BaseException:
        sub.discard()
        raise
    version = package.pipeline.document["version"]
    name = f"{project.slug}-{spec.name}"
    # v1 PipelineEndpoint names are not batch endpoint names: ENDPOINT is taken as given.
    endpoint = req.endpoint or endpoint_name(project.slug, spec.name)
    if req.dry_run:
        from amlops.cloud.v1.preview import write_preview

        preview = write_preview(sub, project.slug, spec.shown_as, package.job)
        say(f"DRY_RUN: what SDK v1 would publish (offline preview): {project.relative(preview)}")
        shown = project.relative(sub.job_file)
        say(f"DRY_RUN: nothing published; {name} version {version} would be built from {shown}")
        print(shown)
        return 0
    require_v1("publish")
    workspace = connect_v1(project)
    from azureml.pipeline.core import PipelineEndpoint

    with v1_errors("make publish"):
        existing = _existing_endpoint(workspace, endpoint)
        published = _published_version(existing, version) if existing else None
        if published:
            say(f"pipeline {name} version {version} is already published ({published.id})")
        else:
            pipeline = pipeline_objects(project, workspace, sub, spec, package.job)
            published = pipeline.publish(
                name=name,
                description=spec.raw.get("description") or f"Pipeline {spec.name}",
                version=version,
                continue_on_step_failure=package.job["settings"]["continue_on_step_failure"],
            )
            say(f"published pipeline {name} version {version}: {published.id}")
        if existing is None:
            existing = PipelineEndpoint.publish(
                workspace=workspace,
                name=endpoint,
                description=f"Pipeline {spec.name} of {project.slug}",
                pipeline=published,
            )
            say(f"created pipeline endpoint {endpoint} with it as default")
        else:
            _attach(existing, published, req.make_default)
        if marker:
            row = {
                "pipeline": spec.name,
                "version": version,
                "published_pipeline_id": published.id,
                "pipeline_endpoint_id": existing.id,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            write_marker(workspace, marker, row)
    sub.save(
        status="published",
        published_pipeline_id=published.id,
        pipeline_endpoint_id=existing.id,
        version=version,
    )
    say(f"published pipeline id: {published.id}")
    say(f"pipeline endpoint id:  {existing.id} ({endpoint}; REST: {existing.endpoint})")
    print(existing.id)
    return 0


def _attach(endpoint: Any, published: Any, make_default: bool) -> None:
    """Add the published pipeline to an existing endpoint; default only when asked."""
    listed = [p.id for p in endpoint.list_pipelines()]
    if published.id not in listed:
        endpoint.add(published)
        say(f"added it to pipeline endpoint {endpoint.name}")
    if make_default:
        endpoint.set_default(published)
        say(f"it is now the default of {endpoint.name}")
    elif published.id not in listed:
        say(f"the default of {endpoint.name} is unchanged; DEFAULT=1 makes this one the default")
