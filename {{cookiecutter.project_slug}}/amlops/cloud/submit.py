"""`make job`, `make pipeline`, `make step`: build, write, validate, then submit.

Every submission is first written to its own folder (see submission.py) and
loaded back with azure.ai.ml.load_job, so what DRY_RUN=1 writes is exactly
what a real submission sends."""

import json
from typing import Any, Callable, Dict, List, Optional

from amlops.cloud import pipeline_jobs
from amlops.cloud.plan import Request, job_plan, pipeline_overrides, pipeline_plan
from amlops.cloud.sdk import azure_errors, load_native, require_sdk
from amlops.cloud.sdk_pipeline import sdk_job, write_sent
from amlops.cloud.streaming import final_status, stopped_streaming, stream_interrupted
from amlops.cloud.submission import RECORD_FILE, Submission
from amlops.cloud.workspace import connect
from amlops.console import one_line, say
from amlops.errors import UserError
from amlops.inputs import parse_overrides
from amlops.project import Project
from amlops.provenance import submission_tags
from amlops.runs import run_folders
from amlops.spec.pipeline import FromStep, PipelineSpec, find_step
from amlops.spec.pipeline_loader import load_pipeline_of_step
from amlops.spec.python_pipeline import built_job


def _finish(
    project: Project,
    sub: Submission,
    build: Callable[[], Dict[str, Any]],
    req: Request,
    get_client: Optional[Callable[[], Any]] = None,
    sdk_object: Optional[Callable[[], Any]] = None,
) -> int:
    """Build the native job into `sub`, validate it, and submit it unless DRY_RUN;
    `sdk_object` gives the SDK's own job to send instead (a pipelines/<name>.py)."""
    sub.build(build)
    path = sub.job_file
    shown = project.relative(path)
    for name, files in sub.snapshots.items():
        say(f"code snapshot {name}: {len(files)} files ({sub.labels[name]})")
    require_sdk(req.target)
    job = load_native(path, shown)
    if sdk_object is not None:
        job = sdk_object()
        say(f"sends the SDK's own pipeline job ({project.relative(write_sent(job, sub.folder))})")
    if req.dry_run:
        say(f"DRY_RUN: nothing submitted; the job is {shown}")
        say(f"submit it yourself with: az ml job create -f {shown}")
        print(shown)
        return 0
    client = get_client() if get_client else connect(project)
    say(f"submitting {shown} (uploads code and build context)")
    try:
        with azure_errors(f"make {req.target}"):
            created = client.jobs.create_or_update(job)
    except UserError as err:
        sub.save(status="not submitted", error=str(err))
        raise
    sub.save(status="submitted", job_name=created.name, studio_url=created.studio_url)
    say(f"submitted {created.name} (experiment {created.experiment_name})")
    print(created.studio_url or created.name)
    return _stream(client, created.name, req, sub) if req.stream else 0


def _stream(client: Any, name: str, req: Request, sub: Submission) -> int:
    """Stream the logs until the job ends; 0 when it completed, 1 otherwise."""
    say(f"streaming {name} (Ctrl-C stops streaming, not the job)")
    failure = ""
    with azure_errors(f"make {req.target} STREAM=1"):
        try:
            client.jobs.stream(name)
        except BaseException as err:  # the SDK raises JobException on a failed job
            if stream_interrupted(err):
                return stopped_streaming(sub, name, f"az ml job stream --name {name}")
            if type(err).__name__ != "JobException":
                raise
            failure = one_line(str(err))
        status = client.jobs.get(name).status
    return final_status(sub, name, str(getattr(status, "value", status)), failure)


def submit_job(project: Project, req: Request) -> int:
    _, sub, build = job_plan(project, req)
    return _finish(project, sub, build, req)


def submit_pipeline(project: Project, req: Request) -> int:
    spec, sub, build = pipeline_plan(project, req)
    if built_job(spec.file) is None:
        return _finish(project, sub, build, req)
    overrides = pipeline_overrides(spec, req.inputs)
    tags = submission_tags(project.root)
    return _finish(
        project, sub, build, req, sdk_object=lambda: sdk_job(project, spec, overrides, tags)
    )


def latest_pipeline_job(project: Project, pipeline: str) -> Optional[str]:
    """The name of the newest pipeline job submitted from here for `pipeline`."""
    newest, found = 0.0, None
    for folder in run_folders(project.runs / "azure" / "pipelines" / pipeline):
        record = folder / RECORD_FILE
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("job_name") and data.get("created", 0) >= newest:
            newest, found = data["created"], data["job_name"]
    return found


def child_jobs(client: Any, pipeline_job: str) -> Dict[str, str]:
    """Display name -> child job name of a pipeline job (`make pipeline` gives each node
    its step name as display name, unless the pipeline file sets another)."""
    return {
        child.display_name: child.name for child in client.jobs.list(parent_job_name=pipeline_job)
    }


def upstream_paths(
    project: Project, spec: PipelineSpec, req: Request, connect_once: Callable[[], Any]
) -> Callable[[str, FromStep], str]:
    """A resolver: a step output of FROM_JOB (or the latest pipeline job sent from here)
    as `azureml://jobs/<child job>/outputs/<output>`."""
    children: Dict[str, str] = {}

    def resolve(name: str, source: FromStep) -> str:
        parent = req.from_job or latest_pipeline_job(project, spec.name)
        if not parent:
            raise UserError(
                f"step {req.step!r} input {name!r} is output {source.output!r} of step"
                f" {source.step!r}: pass FROM_JOB=<pipeline job name> (no make pipeline"
                f' PIPELINE={spec.name} was submitted from here) or INPUTS="{name}=<path>"'
            )
        if not children:
            with azure_errors(f"make step: reading pipeline job {parent}"):
                children.update(child_jobs(connect_once(), parent))
        shown = spec.steps[source.step].raw.get("display_name") or source.step
        if shown not in children:
            known = ", ".join(sorted(children)) or "none"
            raise UserError(f"pipeline job {parent} has no step {shown!r} (its steps: {known})")
        say(f"input {name}: output {source.output} of step {source.step} in {parent}")
        return f"azureml://jobs/{children[shown]}/outputs/{source.output}"

    return resolve


def submit_step(project: Project, req: Request) -> int:
    spec = load_pipeline_of_step(project, req.name, req.step)
    step = find_step(spec, req.step)
    overrides = parse_overrides(req.inputs, step.job)
    clients: List[Any] = []

    def connect_once() -> Any:
        if not clients:
            require_sdk(req.target)
            clients.append(connect(project))
        return clients[0]

    resolver = upstream_paths(project, spec, req, connect_once)
    sub = Submission(project, "steps", f"{spec.name}.{step.name}")
    tags = submission_tags(project.root)
    return _finish(
        project,
        sub,
        lambda: pipeline_jobs.step_job(project, spec, step, sub, overrides, resolver, tags),
        req,
        connect_once,
    )


SUBMITTERS = {"job": submit_job, "pipeline": submit_pipeline, "step": submit_step}
