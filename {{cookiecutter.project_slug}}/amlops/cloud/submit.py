"""`make job`, `make pipeline`, `make step`: build, write, validate, then submit.

Every submission is first written to its own folder (see submission.py) and
loaded back with azure.ai.ml.load_job, so what DRY_RUN=1 writes is exactly
what a real submission sends."""

import json
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from amlops.cloud import native
from amlops.cloud.packages import backend
from amlops.cloud.sdk import azure_errors, load_native, require_sdk
from amlops.cloud.submission import RECORD_FILE, Submission
from amlops.cloud.sweep import native_job
from amlops.cloud.tags import submission_tags
from amlops.cloud.workspace import connect
from amlops.console import say
from amlops.errors import UserError
from amlops.inputs import check_override, parse_overrides
from amlops.local.procs import INTERRUPTED
from amlops.local.runs import run_folders
from amlops.project import Project
from amlops.spec.job import load_experiment
from amlops.spec.pipeline import FromStep, PipelineSpec, find_step
from amlops.spec.pipeline_loader import load_pipeline

COMPLETED = "Completed"


@dataclass
class Request:
    """What to submit and how."""

    target: str  # job, pipeline or step
    name: str  # experiment, pipeline (or its default) and step
    inputs: List[str]
    dry_run: bool = False
    stream: bool = False
    step: str = ""
    from_job: str = ""
    # JOB: another job file of the experiment (sweep.yaml), or without EXP any job or
    # command component file (a path relative to the project)
    job_file: str = ""


def _finish(
    project: Project,
    sub: Submission,
    build: Callable[[], Dict[str, Any]],
    req: Request,
    get_client: Optional[Callable[[], Any]] = None,
) -> int:
    """Build the native job into `sub`, validate it, and submit it unless DRY_RUN."""
    sub.build(build)
    path = sub.job_file
    shown = project.relative(path)
    for name, files in sub.snapshots.items():
        say(f"code snapshot {name}: {len(files)} files ({sub.labels[name]})")
    require_sdk(req.target)
    job = load_native(path, shown)
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
            failure = " ".join(str(err).split())[:300]
        status = client.jobs.get(name).status
    return final_status(sub, name, str(getattr(status, "value", status)), failure)


def stream_interrupted(err: BaseException) -> bool:
    """Whether `err` is a Ctrl-C while streaming: KeyboardInterrupt itself, or the
    exception both SDKs turn it into ("the run is still executing")."""
    return any(isinstance(e, KeyboardInterrupt) for e in (err, err.__cause__, err.__context__))


def stopped_streaming(sub: Submission, name: str, follow: str) -> int:
    """Ctrl-C ends the stream, not the job: say so and how to follow it again; 130."""
    sub.save(status="submitted; streaming stopped")
    say(f"stopped streaming; {name} keeps running in Azure ML (follow it: {follow})")
    return INTERRUPTED


def final_status(sub: Submission, name: str, status: str, failure: str = "") -> int:
    """Record a streamed job's end; 0 when it completed, 1 (with one error line) otherwise."""
    sub.save(status=status)
    if status == COMPLETED:
        say(f"{name} completed")
        return 0
    print(
        f"error: job {name} ended {status}" + (f": {failure}" if failure else ""), file=sys.stderr
    )
    return 1


Build = Callable[[], Dict[str, Any]]


def job_plan(project: Project, req: Request) -> Tuple[Submission, Build]:
    """`make job`'s submission folder and how to build its native job (both SDKs)."""
    spec = load_experiment(project, req.name, req.job_file)
    overrides = parse_overrides(req.inputs, spec)
    if spec.parallel is not None:
        raise UserError(
            f"{spec.shown_as} is a parallel job: Azure ML runs parallel jobs only as pipeline"
            " nodes; put it in a pipeline as a type: parallel node (make pipeline), or run it"
            f" here with make local"
        )
    if spec.sweep is not None and backend(project) == "v1":
        raise UserError(
            f"{spec.shown_as} is a sweep job: submitting sweeps needs AML_SDK=v2 (SDK v1's"
            " HyperDrive is not built here)"
        )
    sub = Submission(project, "jobs", spec.experiment)
    tags = submission_tags(project.root)
    return sub, lambda: native_job(project, spec, sub, overrides, tags)


def pipeline_plan(
    project: Project, req: Request, flat: bool = False
) -> Tuple[PipelineSpec, Submission, Build]:
    """`make pipeline`'s pipeline, submission folder and native job builder (both SDKs)."""
    spec = load_pipeline(project, req.name)
    overrides = pipeline_overrides(spec, req.inputs)
    sub = Submission(project, "pipelines", spec.name)
    tags = submission_tags(project.root)
    translate = native.flat_pipeline_job if flat else native.pipeline_job
    return spec, sub, lambda: translate(project, spec, sub, overrides, tags)


def submit_job(project: Project, req: Request) -> int:
    sub, build = job_plan(project, req)
    return _finish(project, sub, build, req)


def submit_pipeline(project: Project, req: Request) -> int:
    _, sub, build = pipeline_plan(project, req)
    return _finish(project, sub, build, req)


def pipeline_overrides(spec: PipelineSpec, items: List[str]) -> Dict[str, str]:
    overrides: Dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in spec.inputs:
            declared = ", ".join(sorted(spec.inputs)) or "none"
            raise UserError(
                f"INPUTS {item!r}: {spec.shown_as} has no input {name!r} (inputs: {declared})"
            )
        item = spec.inputs[name]
        check_override(item, value, spec.where(item.line))  # as a local run checks it
        overrides[name] = value
    return overrides


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
    spec = load_pipeline(project, req.name)
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
        lambda: native.step_job(project, spec, step, sub, overrides, resolver, tags),
        req,
        connect_once,
    )


SUBMITTERS = {"job": submit_job, "pipeline": submit_pipeline, "step": submit_step}


def submit(project: Project, req: Request) -> int:
    """Run one cloud target on the chosen SDK."""
    if backend(project) == "v1":
        from amlops.cloud.v1.submit import SUBMITTERS_V1

        return SUBMITTERS_V1[req.target](project, req)
    return SUBMITTERS[req.target](project, req)
