"""`make job`, `make pipeline`, `make step` with AML_SDK=v1.

The same native v2 job is built and written first (the submission folder, as
with v2); the v1 objects are then made from it (build.py), so both backends
send the same command, data and bindings. DRY_RUN=1 stops after writing."""

from typing import Any, Callable, Dict

from amlops.cloud import native
from amlops.cloud.submission import Submission
from amlops.cloud.submit import Request, final_status, pipeline_overrides
from amlops.cloud.tags import submission_tags
from amlops.cloud.v1.build import V1Builder
from amlops.cloud.v1.workspace import connect_v1, require_v1, v1_errors
from amlops.console import say
from amlops.errors import UserError
from amlops.local_run import load_experiment
from amlops.pipelinespec import FromStep, find_step, load_pipeline
from amlops.project import Project
from amlops.resolve import parse_overrides


def _written(project: Project, sub: Submission, build: Callable[[], Dict[str, Any]]) -> Dict:
    try:
        job = build()
        sub.write(job)
    except BaseException:
        sub.discard()
        raise
    return job


def _dry_run(project: Project, sub: Submission) -> int:
    shown = project.relative(sub.job_file)
    say(f"DRY_RUN: nothing submitted; the job is {shown} (AML_SDK=v1 builds its run from it)")
    print(shown)
    return 0


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
        except Exception as err:  # the SDK raises on a failed run
            if type(err).__name__ != "ActivityFailedException":
                raise
        status = run.get_status()
    return final_status(sub, run.id, status)


def submit_command_v1(
    project: Project, req: Request, sub: Submission, build: Callable[[], Dict[str, Any]]
) -> int:
    """Write the native command job `build` makes, then submit it as a ScriptRunConfig
    in experiment req.name's environment."""
    job = _written(project, sub, build)
    if req.dry_run:
        return _dry_run(project, sub)
    require_v1(req.target)
    workspace = connect_v1(project)
    from azureml.core import Experiment

    with v1_errors(f"make {req.target}"):
        shown = f"src/{req.name}/job.yaml"
        config = V1Builder(workspace, sub, project.slug, shown).script_run_config(job, req.name)
        run = Experiment(workspace, job["experiment_name"]).submit(config, tags=job["tags"])
    return _submitted(project, sub, run, req)


def submit_job_v1(project: Project, req: Request) -> int:
    spec = load_experiment(project, req.name)
    overrides = parse_overrides(req.inputs, spec)
    sub = Submission(project, "jobs", req.name)
    tags = submission_tags(project.root)
    return submit_command_v1(
        project,
        req,
        sub,
        lambda: native.command_job(project, spec, req.name, sub, overrides, tags),
    )


def pipeline_objects(project: Project, workspace: Any, sub: Submission, spec: Any, job: Dict):
    """The v1 Pipeline of a native pipeline job."""
    from azureml.pipeline.core import Pipeline

    experiments = {name: step.experiment for name, step in spec.steps.items()}
    builder = V1Builder(workspace, sub, project.slug, spec.shown_as)
    steps = builder.pipeline_steps(job, experiments, literal_parameter)
    return Pipeline(workspace=workspace, steps=steps, description=job.get("description"))


def submit_pipeline_v1(project: Project, req: Request) -> int:
    spec = load_pipeline(project, req.name)
    overrides = pipeline_overrides(spec, req.inputs)
    sub = Submission(project, "pipelines", spec.name)
    tags = submission_tags(project.root)
    job = _written(project, sub, lambda: native.pipeline_job(project, spec, sub, overrides, tags))
    if req.dry_run:
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
    spec = load_pipeline(project, req.name)
    step = find_step(spec, req.step)
    overrides = parse_overrides(req.inputs, step.job)

    def upstream(name: str, source: FromStep) -> str:
        raise UserError(
            f"step {req.step!r} input {name!r} is output {source.output!r} of step"
            f" {source.step!r}: with AML_SDK=v1 pass it as"
            f' INPUTS="{name}=azureml://datastores/<store>/paths/<folder>" (or a data asset)'
        )

    sub = Submission(project, "steps", f"{spec.name}.{step.name}")
    tags = submission_tags(project.root)
    job = _written(
        project,
        sub,
        lambda: native.step_job(project, spec, step, sub, overrides, upstream, tags),
    )
    if req.dry_run:
        return _dry_run(project, sub)
    require_v1(req.target)
    workspace = connect_v1(project)
    from azureml.core import Experiment

    with v1_errors(f"make {req.target}"):
        builder = V1Builder(workspace, sub, project.slug, spec.shown_as)
        config = builder.script_run_config(job, step.experiment)
        run = Experiment(workspace, job["experiment_name"]).submit(config, tags=job["tags"])
    return _submitted(project, sub, run, req)


SUBMITTERS_V1 = {"job": submit_job_v1, "pipeline": submit_pipeline_v1, "step": submit_step_v1}
