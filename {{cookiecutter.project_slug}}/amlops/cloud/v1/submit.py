"""`make job`, `make pipeline`, `make step` with AML_SDK=v1.

The same native v2 job is built and written first (the submission folder, as
with v2); the v1 objects are then made from it (build.py), so both backends
send the same command, data and bindings. DRY_RUN=1 stops after writing."""

from typing import Any, Callable, Dict

from amlops.cloud import pipeline_jobs
from amlops.cloud.plan import Request, job_plan, pipeline_plan
from amlops.cloud.streaming import final_status, stopped_streaming, stream_interrupted
from amlops.cloud.submission import Submission
from amlops.cloud.v1.build import V1Builder
from amlops.cloud.v1.workspace import connect_v1, require_v1, v1_errors
from amlops.console import say
from amlops.errors import UserError
from amlops.inputs import parse_overrides
from amlops.project import Project
from amlops.provenance import submission_tags
from amlops.spec.pipeline import FromStep, find_step
from amlops.spec.pipeline_loader import load_pipeline_of_step


def _dry_run(project: Project, sub: Submission) -> int:
    shown = project.relative(sub.job_file)
    say(f"DRY_RUN: nothing submitted; the job is {shown} (AML_SDK=v1 builds its run from it)")
    print(shown)
    return 0


def _preview(project: Project, sub: Submission, where: str, job: Dict[str, Any]) -> None:
    """DRY_RUN: write and name the offline preview of what SDK v1 would send."""
    from amlops.cloud.v1.preview import write_preview

    preview = write_preview(sub, project.slug, where, job)
    say(f"DRY_RUN: what SDK v1 would send (offline preview): {project.relative(preview)}")


def literal_parameter(name: str, value: Any) -> Any:
    """A literal pipeline input as a PipelineParameter (settable when published)."""
    from azureml.pipeline.core import PipelineParameter

    return PipelineParameter(name=name, default_value=value)


def _submitted(project: Project, sub: Submission, run: Any, req: Request) -> int:
    url = run.get_portal_url()
    sub.save(status="submitted", job_name=run.id, studio_url=url)
    say(f"submitted {run.id} (experiment {run.experiment.name})")
    print(url or run.id)
    if not req.stream:
        return 0
    say(f"streaming {run.id} (Ctrl-C stops streaming, not the run)")
    with v1_errors(f"make {req.target} STREAM=1"):
        try:
            run.wait_for_completion(show_output=True)
        except BaseException as err:  # the SDK raises on a failed run
            if stream_interrupted(err):
                return stopped_streaming(sub, run.id, url or "Azure ML studio")
            if type(err).__name__ != "ActivityFailedException":
                raise
        status = run.get_status()
    return final_status(sub, run.id, status)


def submit_command_v1(
    project: Project,
    req: Request,
    sub: Submission,
    build: Callable[[], Dict[str, Any]],
    experiment: str = "",
    shown: str = "",
) -> int:
    """Write the native command job `build` makes, then submit it as a ScriptRunConfig
    in `experiment`'s environment (default: req.name); messages name `shown`, else the
    experiment's job file (job.yaml or job.yml)."""
    experiment = experiment or req.name
    job = sub.build(build)
    where = shown or project.relative(project.job_file(experiment))
    if req.dry_run:
        _preview(project, sub, where, job)
        return _dry_run(project, sub)
    require_v1(req.target)
    workspace = connect_v1(project)
    from azureml.core import Experiment

    with v1_errors(f"make {req.target}"):
        builder = V1Builder(workspace, sub, project.slug, where)
        config = builder.script_run_config(job)
        run = Experiment(workspace, job["experiment_name"]).submit(config, tags=job["tags"])
    return _submitted(project, sub, run, req)


def submit_job_v1(project: Project, req: Request) -> int:
    spec, sub, build = job_plan(project, req)
    return submit_command_v1(project, req, sub, build, shown=spec.shown_as)


def pipeline_objects(project: Project, workspace: Any, sub: Submission, spec: Any, job: Dict):
    """The v1 Pipeline of a native pipeline job."""
    from azureml.pipeline.core import Pipeline

    builder = V1Builder(workspace, sub, project.slug, spec.shown_as)
    steps = builder.pipeline_steps(job, literal_parameter)
    return Pipeline(workspace=workspace, steps=steps, description=job.get("description"))


def submit_pipeline_v1(project: Project, req: Request) -> int:
    spec, sub, build = pipeline_plan(project, req, flat=True)  # v1 builds from inline nodes
    job = sub.build(build)
    if req.dry_run:
        _preview(project, sub, spec.shown_as, job)
        return _dry_run(project, sub)
    require_v1(req.target)
    workspace = connect_v1(project)
    from azureml.core import Experiment

    with v1_errors(f"make {req.target}"):
        pipeline = pipeline_objects(project, workspace, sub, spec, job)
        run = Experiment(workspace, job["experiment_name"]).submit(
            pipeline,
            tags=job["tags"],
            continue_on_step_failure=job["settings"]["continue_on_step_failure"],
        )
    return _submitted(project, sub, run, req)


def submit_step_v1(project: Project, req: Request) -> int:
    spec = load_pipeline_of_step(project, req.name, req.step)
    step = find_step(spec, req.step)
    if step.job is not None and step.job.sweep is not None:
        raise UserError(
            f"{spec.where(step.line)}: node {step.name!r} is a sweep node: submitting sweeps"
            " needs AML_SDK=v2 (SDK v1's HyperDrive is not built here)"
        )
    overrides = parse_overrides(req.inputs, step.job)

    def upstream(name: str, source: FromStep) -> str:
        raise UserError(
            f"step {req.step!r} input {name!r} is output {source.output!r} of step"
            f" {source.step!r}: with AML_SDK=v1 pass it as"
            f' INPUTS="{name}=azureml://datastores/<store>/paths/<folder>" (or a data asset)'
        )

    sub = Submission(project, "steps", f"{spec.name}.{step.name}")
    tags = submission_tags(project.root)
    return submit_command_v1(
        project,
        req,
        sub,
        lambda: pipeline_jobs.step_job(project, spec, step, sub, overrides, upstream, tags),
        step.experiment,
        spec.shown_as,
    )


SUBMITTERS_V1 = {"job": submit_job_v1, "pipeline": submit_pipeline_v1, "step": submit_step_v1}
