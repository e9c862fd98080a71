"""Commands that run or draw a pipeline locally: pipeline-local, step-local, pipeline-graph."""

import argparse

from amlops.cli.options import Commands, Options, given_inputs
from amlops.project import Project


def register(commands: Commands, options: Options) -> None:
    pipeline = options.pipeline_command(
        commands, "pipeline-local", "run a pipeline locally as a parallel DAG"
    )
    options.runtime(pipeline)
    options.reads(pipeline, LOCAL_IMAGE="image: run every step in this image")
    options.inputs(pipeline, "override a pipeline input (INPUTS='raw=path'); repeatable")
    pipeline.add_argument(
        "--jobs", default=options.setting("JOBS"), help="steps at once (JOBS; default: cores)"
    )
    pipeline.add_argument(
        "--force",
        default=options.setting("FORCE"),
        help="re-run every step (FORCE=1) or these steps (FORCE='a b'), reusing the rest",
    )
    pipeline.add_argument(
        "--steps", default=options.setting("STEPS"), help="run only these steps (STEPS='a b')"
    )
    pipeline.add_argument(
        "--from",
        dest="from_step",
        default=options.setting("FROM"),
        help="run this step and everything downstream of it (FROM=a)",
    )
    options.switch(pipeline, "DRY_RUN", "print the plan: each step run or reuse, and why")
    pipeline.set_defaults(func=_pipeline_local)
    step = options.pipeline_command(
        commands, "step-local", "run one pipeline step with earlier upstream outputs"
    )
    step.add_argument("--step", default=options.setting("STEP"), help="the step's name (STEP)")
    options.runtime(step)
    options.inputs(step, "override one of the step's inputs (INPUTS='data=path'); repeatable")
    step.set_defaults(func=_step_local)
    graph = options.pipeline_command(
        commands, "pipeline-graph", "draw the pipeline's DAG (text, mermaid or dot)"
    )
    graph.add_argument(
        "--format", default=options.setting("FORMAT", "text"), help="text, mermaid or dot (FORMAT)"
    )
    graph.set_defaults(func=_pipeline_graph)


def _pipeline_local(args: argparse.Namespace, project: Project) -> int:
    from amlops.pipelines.run_local import Selection, parse_jobs, run_pipeline_local

    jobs = parse_jobs(args.jobs)
    inputs = given_inputs(args, project)
    selection = Selection(steps=args.steps, from_step=args.from_step, force=args.force)
    return run_pipeline_local(
        project, args.pipeline, args.runtime, jobs, selection, inputs, dry_run=args.dry_run
    )


def _step_local(args: argparse.Namespace, project: Project) -> int:
    from amlops.pipelines.step_local import run_step_local

    inputs = given_inputs(args, project)
    return run_step_local(project, args.pipeline, args.step, args.runtime, inputs)


def _pipeline_graph(args: argparse.Namespace, project: Project) -> int:
    from amlops.pipelines.graph import draw
    from amlops.spec.pipeline_loader import load_pipeline

    print(draw(load_pipeline(project, args.pipeline), args.format), end="")
    return 0
