"""Commands that run an experiment on this machine: build-exp, local, terminal, jupyter,
notebooks. None of them imports an Azure SDK."""

import argparse

from amlops.cli.options import Commands, Options, given_inputs
from amlops.project import Project


def register(commands: Commands, options: Options) -> None:
    build = options.command(
        commands, "build-exp", "build the experiment's Docker image if its context changed"
    )
    options.job(build)
    build.set_defaults(func=_build_exp)
    local = options.command(
        commands, "local", "run the experiment locally (Docker, or a venv); a sweep's trials"
    )
    options.runtime(local)
    options.inputs(local, "override an input path or literal (INPUTS='a=x b=y'); repeatable")
    options.job(local)
    options.reads(
        local,
        LOCAL_IMAGE="image: run the job in this image instead of its environment",
        TRACKING="0: the run is not tracked in MLflow",
    )
    local.set_defaults(func=_local)
    terminal = options.command(
        commands, "terminal", "open a shell in the experiment image with run mounts"
    )
    terminal.add_argument("--cmd", default=options.setting("CMD"), help="run this instead (CMD)")
    terminal.set_defaults(func=_interactive)
    jupyter = options.command(
        commands, "jupyter", "open Jupyter Lab in the experiment image with run mounts"
    )
    jupyter.add_argument("--port", default=options.setting("PORT", "8888"), help="host port (PORT)")
    jupyter.set_defaults(func=_interactive)
    notebooks = options.command(
        commands, "notebooks", "execute every notebook under notebooks/ with papermill"
    )
    options.runtime(notebooks)
    notebooks.set_defaults(func=_notebooks)


def _build_exp(args: argparse.Namespace, project: Project) -> int:
    from amlops.local.images import engine_required
    from amlops.local.runtimes.docker import DockerRuntime
    from amlops.spec.job import load_experiment

    project.experiment_dir(args.exp)  # validates EXP before anything else
    runtime = DockerRuntime(project, load_experiment(project, args.exp, args.job))
    with engine_required("build-exp"):
        built = runtime.prepare()
    print(f"amlops: image {runtime.tag} {'built' if built else 'up to date'}")
    return 0


def _local(args: argparse.Namespace, project: Project) -> int:
    """Run one experiment's job file (job.yaml, or JOB=<file>) locally; a sweep job runs
    its trials (amlops/sweeps/run.py). Returns the command's exit code."""
    from amlops.inputs import parse_overrides
    from amlops.spec.job import load_experiment

    if args.exp or not args.job:  # JOB=<any file> needs no experiment
        project.experiment_dir(args.exp)
    spec = load_experiment(project, args.exp, args.job)
    parsed = parse_overrides(given_inputs(args, project), spec)
    if spec.sweep is not None:
        from amlops.sweeps.run import run_sweep

        return run_sweep(project, spec, args.runtime, parsed)
    from amlops.local.run import run_experiment

    return run_experiment(project, spec, args.runtime, parsed)


def _interactive(args: argparse.Namespace, project: Project) -> int:
    from amlops.local.interactive import run_interactive

    project.experiment_dir(args.exp)
    return run_interactive(
        project, args.exp, args.command, getattr(args, "cmd", ""), getattr(args, "port", "")
    )


def _notebooks(args: argparse.Namespace, project: Project) -> int:
    from amlops.notebooks.run import run_notebooks

    experiment = args.exp or project.settings.get("NOTEBOOK_EXP")
    project.experiment_dir(experiment)
    return run_notebooks(project, experiment, args.runtime)
