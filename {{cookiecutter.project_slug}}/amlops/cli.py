"""Command line: `python -m amlops <command>`; each Makefile target calls one.

Options default to the settings (config.env, .env, environment), so
`make local EXP=x` and `python -m amlops local --exp x` are the same call."""

import argparse
import sys
from typing import Any, List, Optional

import amlops
from amlops.errors import UserError
from amlops.project import Project

PIPELINE_COMMANDS = ("pipeline-local", "step-local", "pipeline-graph")
CLOUD_COMMANDS = ("job", "pipeline", "step", "notebook-job")


def _parser(project: Optional[Project]) -> argparse.ArgumentParser:
    settings = project.settings if project else None

    def setting(key: str, default: str = "") -> str:
        return settings.get(key, default) if settings else default

    parser = argparse.ArgumentParser(prog="python -m amlops", description=__doc__)
    parser.add_argument("--version", action="version", version=f"amlops {amlops.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, text: str, exp: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        if exp:
            sub.add_argument("--exp", default=setting("EXP"), help="experiment name (EXP)")
        return sub

    def pipeline_command(name: str, text: str) -> argparse.ArgumentParser:
        sub = command(name, text, exp=False)
        sub.add_argument(
            "--pipeline",
            default=setting("PIPELINE"),
            help="pipelines/<name>.yaml (PIPELINE; default: the only one)",
        )
        return sub

    def runtime_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--runtime", default=setting("RUNTIME", "auto"), help="auto, docker or venv (RUNTIME)"
        )

    def runtime_options(sub: argparse.ArgumentParser, inputs_help: str) -> None:
        runtime_option(sub)
        sub.add_argument(
            "--input", action="append", default=None, metavar="NAME=VALUE", help=inputs_help
        )

    new_exp = command("new-exp", "create src/<exp>/ from templates/experiment/")
    new_exp.add_argument(
        "--kind",
        default=setting("KIND", "train"),
        help="train, or a folder of templates/kinds/ (KIND)",
    )

    def job_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--job",
            default=setting("JOB"),
            help="another job file in src/<exp>/ (JOB=sweep.yaml), or without EXP any job or"
            " command component file (JOB=path relative to the project)",
        )

    build = command("build-exp", "build the experiment's Docker image if its context changed")
    job_option(build)
    local = command("local", "run the experiment locally (Docker, or a venv); a sweep's trials")
    runtime_options(local, "override an input path or literal (INPUTS='a=x b=y'); repeatable")
    job_option(local)
    runs = commands.add_parser("runs", help="list the local runs, newest first")
    runs.add_argument("--exp", default=setting("EXP"), help="only this experiment (EXP)")
    runs.add_argument("--pipeline", default=setting("PIPELINE"), help="only this pipeline")
    runs.add_argument("--limit", default=setting("LIMIT", "20"), help="newest runs (LIMIT; 0 all)")
    compare = commands.add_parser("compare", help="show two or more local runs side by side")
    compare.add_argument("--runs", default=setting("RUNS"), help='run ids (RUNS="a b")')
    ui = commands.add_parser("ui", help="open the MLflow UI on the local runs")
    ui.add_argument("--port", default=setting("UI_PORT", "5000"), help="host port (UI_PORT)")
    terminal = command("terminal", "open a shell in the experiment image with run mounts")
    terminal.add_argument("--cmd", default=setting("CMD"), help="run this instead (CMD)")
    jupyter = command("jupyter", "open Jupyter Lab in the experiment image with run mounts")
    jupyter.add_argument("--port", default=setting("PORT", "8888"), help="host port (PORT)")
    commands.add_parser("experiments", help="list the experiments under src/")
    commands.add_parser("pipelines", help="list the pipelines under pipelines/ (.yaml or .yml)")
    notebooks = command("notebooks", "execute every notebook under notebooks/ with papermill")
    runtime_option(notebooks)
    pipeline = pipeline_command("pipeline-local", "run a pipeline locally as a parallel DAG")
    runtime_options(pipeline, "override a pipeline input (INPUTS='raw=path'); repeatable")
    pipeline.add_argument(
        "--jobs", default=setting("JOBS"), help="steps at once (JOBS; default: cores)"
    )
    pipeline.add_argument(
        "--force",
        default=setting("FORCE"),
        help="re-run every step (FORCE=1) or these steps (FORCE='a b'), reusing the rest",
    )
    pipeline.add_argument(
        "--steps", default=setting("STEPS"), help="run only these steps (STEPS='a b')"
    )
    pipeline.add_argument(
        "--from",
        dest="from_step",
        default=setting("FROM"),
        help="run this step and everything downstream of it (FROM=a)",
    )
    pipeline.add_argument(
        "--dry-run",
        action="store_true",
        default=settings.flag("DRY_RUN") if settings else False,
        help="print the plan: each step run or reuse, and why (DRY_RUN=1)",
    )
    step = pipeline_command("step-local", "run one pipeline step with earlier upstream outputs")
    step.add_argument("--step", default=setting("STEP"), help="the step's name (STEP)")
    runtime_options(step, "override one of the step's inputs (INPUTS='data=path'); repeatable")
    graph = pipeline_command("pipeline-graph", "draw the pipeline's DAG (text, mermaid or dot)")
    graph.add_argument(
        "--format", default=setting("FORMAT", "text"), help="text, mermaid or dot (FORMAT)"
    )
    prune = commands.add_parser("prune", help="list, or remove, old runs, venvs and images")
    prune.add_argument(
        "--keep", default=setting("KEEP", "10"), help="newest runs kept of each kind (KEEP)"
    )
    prune.add_argument(
        "--yes",
        action="store_true",
        default=settings.flag("YES") if settings else False,
        help="remove them; without it prune only lists (YES=1)",
    )
    _cloud_commands(command, pipeline_command, setting, settings)
    return parser


def _cloud_commands(command: Any, pipeline_command: Any, setting: Any, settings: Any) -> None:
    """job, pipeline, step, publish and validate: the Azure ML targets."""

    def flag(key: str) -> bool:
        return settings.flag(key) if settings else False

    def switch(sub: argparse.ArgumentParser, key: str, text: str) -> None:
        """--some-key, on by default when the setting KEY=1."""
        option = "--" + key.lower().replace("_", "-")
        sub.add_argument(option, action="store_true", default=flag(key), help=f"{text} ({key}=1)")

    def cloud_options(sub: argparse.ArgumentParser, inputs_help: str) -> None:
        sub.add_argument(
            "--input", action="append", default=None, metavar="NAME=VALUE", help=inputs_help
        )
        switch(sub, "DRY_RUN", "write the native v2 YAML, submit nothing")
        switch(sub, "STREAM", "stream the logs; exit with the job's status")

    job = command("job", "submit the experiment to Azure ML as a command (or sweep) job")
    cloud_options(job, "an input path (local or azureml:...) or literal (INPUTS='a=x')")
    job.add_argument(
        "--job",
        default=setting("JOB"),
        help="another job file in src/<exp>/ (JOB=sweep.yaml), or without EXP any job or"
        " command component file (JOB=path relative to the project)",
    )
    notebook = command("notebook-job", "submit one notebook as a command job in EXP's environment")
    notebook.add_argument("--nb", default=setting("NB"), help="notebooks/<name>.ipynb (NB)")
    cloud_options(notebook, "one of EXP's inputs (INPUTS='data=azureml:wine:1')")
    pipeline = pipeline_command("pipeline", "submit the pipeline to Azure ML as a pipeline job")
    cloud_options(pipeline, "override a pipeline input (INPUTS='raw=azureml:wine:1')")
    step = pipeline_command("step", "submit one pipeline step to Azure ML as a command job")
    step.add_argument("--step", default=setting("STEP"), help="the step's name (STEP)")
    step.add_argument(
        "--from-job",
        default=setting("FROM_JOB"),
        help="pipeline job whose outputs feed the step (FROM_JOB; default: the latest sent)",
    )
    cloud_options(step, "one of the step's inputs (INPUTS='data=azureml:...'); repeatable")
    publish = pipeline_command(
        "publish", "register the pipeline as a component and deploy it to a batch endpoint"
    )
    publish.add_argument(
        "--version", default=setting("VERSION"), help="pipeline component version (VERSION)"
    )
    publish.add_argument(
        "--endpoint", default=setting("ENDPOINT"), help="batch endpoint name (ENDPOINT)"
    )
    publish.add_argument(
        "--schedule", default=setting("SCHEDULE"), help="also schedule it: a cron line (SCHEDULE)"
    )
    switch(publish, "DEFAULT", "make this the endpoint's default deployment")
    switch(publish, "DRY_RUN", "write the YAML, publish nothing")
    command("install-sdk", "pip install the Azure ML SDK that AML_SDK names", exp=False)
    pull = command("data-pull", "download the Azure data job.yaml's inputs name into data/")
    switch(pull, "FORCE", "replace existing local folders")
    push = command("data-push", "upload a folder and register it as a data asset", exp=False)
    push.add_argument("--dir", default=setting("DIR"), help="the local folder (DIR)")
    push.add_argument("--name", default=setting("NAME"), help="the data asset's name (NAME)")
    push.add_argument("--version", default=setting("VERSION"), help="its version (VERSION)")
    datastore = command(
        "datastore",
        "register a blob container as a datastore (DATASTORE, ACCOUNT, CONTAINER;"
        " key from AZURE_STORAGE_KEY in .env)",
        exp=False,
    )
    switch(datastore, "DRY_RUN", "say what would be registered, register nothing")
    validate = command(
        "validate", "check every job.yaml and pipeline, offline and in the workspace", exp=False
    )
    switch(validate, "OFFLINE", "skip the workspace checks")


def _dispatch(args: argparse.Namespace, project: Project) -> int:
    if args.command == "pipelines":
        print("\n".join(project.pipelines()))
        return 0
    if args.command == "experiments":
        from amlops.names import experiment_name_problem

        print("\n".join(project.experiments()))
        for folder in project.experiment_folders():
            problem = experiment_name_problem(folder.name)
            if problem:
                print(
                    f"amlops: src/{folder.name}/ is not usable as EXP ({problem})", file=sys.stderr
                )
        return 0
    if args.command in ("runs", "compare", "ui"):
        return _tracking_dispatch(args, project)
    if args.command == "prune":
        from amlops.local.prune import parse_keep, prune

        return prune(project, parse_keep(args.keep), args.yes)
    if args.command in PIPELINE_COMMANDS:
        return _pipeline_dispatch(args, project)
    if args.command in CLOUD_COMMANDS:
        return _cloud_dispatch(args, project)
    if args.command == "datastore":
        from amlops.cloud.datastore import register_datastore

        return register_datastore(project, args.dry_run)
    if args.command == "data-pull":
        from amlops.cloud.data import data_pull

        project.experiment_dir(args.exp)
        return data_pull(project, args.exp, args.force)
    if args.command == "data-push":
        from amlops.cloud.data import data_push

        return data_push(project, args.dir, args.name, args.version)
    if args.command == "install-sdk":
        from amlops.cloud.packages import install_sdk

        return install_sdk(project)
    if args.command == "publish":
        from amlops.cloud.publish import PublishRequest, publish

        request = PublishRequest(
            args.pipeline, args.version, args.endpoint, args.schedule, args.default, args.dry_run
        )
        return publish(project, request)
    if args.command == "validate":
        from amlops.cloud.validate import run_validate

        return run_validate(project, args.offline)
    if args.command == "new-exp":
        from amlops.newexp import create_experiment

        create_experiment(project.root, args.exp, kind=args.kind)
        return 0
    if args.command == "notebooks":
        from amlops.notebooks.run import run_notebooks

        experiment = args.exp or project.settings.get("NOTEBOOK_EXP")
        project.experiment_dir(experiment)
        return run_notebooks(project, experiment, args.runtime)
    if args.command == "local" and args.job and not args.exp:  # JOB=<any file>
        from amlops.local.run import run_local

        return run_local(project, "", args.runtime, _inputs(args, project), args.job)
    project.experiment_dir(args.exp)  # validates EXP before anything else
    if args.command == "build-exp":
        from amlops.jobspec import load_experiment
        from amlops.local.images import engine_required
        from amlops.local.runtimes.docker import DockerRuntime

        runtime = DockerRuntime(project, load_experiment(project, args.exp, args.job))
        with engine_required("build-exp"):
            built = runtime.prepare()
        print(f"amlops: image {runtime.tag} {'built' if built else 'up to date'}")
        return 0
    if args.command == "local":
        from amlops.local.run import run_local

        return run_local(project, args.exp, args.runtime, _inputs(args, project), args.job)
    from amlops.local.interactive import run_interactive

    return run_interactive(
        project, args.exp, args.command, getattr(args, "cmd", ""), getattr(args, "port", "")
    )


def _tracking_dispatch(args: argparse.Namespace, project: Project) -> int:
    if args.command == "ui":
        from amlops.tracking.ui import run_ui

        return run_ui(project, args.port)
    from amlops.tracking import report

    if args.command == "compare":
        return report.compare(project, args.runs)
    return report.show_runs(project, args.exp, args.pipeline, args.limit)


def _inputs(args: argparse.Namespace, project: Project) -> List[str]:
    """INPUTS from the settings, then --input flags (later ones win)."""
    from amlops.inputs import split_overrides

    flags = args.input if args.input is not None else []
    return split_overrides(project.settings.get("INPUTS")) + flags


def _pipeline_dispatch(args: argparse.Namespace, project: Project) -> int:
    if args.command == "pipeline-graph":
        from amlops.pipelines.graph import draw
        from amlops.pipelines.spec import load_pipeline

        print(draw(load_pipeline(project, args.pipeline), args.format), end="")
        return 0
    if args.command == "step-local":
        from amlops.pipelines.step_local import run_step_local

        inputs = _inputs(args, project)
        return run_step_local(project, args.pipeline, args.step, args.runtime, inputs)
    from amlops.pipelines.run_local import Selection, parse_jobs, run_pipeline_local

    jobs = parse_jobs(args.jobs)
    inputs = _inputs(args, project)
    selection = Selection(steps=args.steps, from_step=args.from_step, force=args.force)
    return run_pipeline_local(
        project, args.pipeline, args.runtime, jobs, selection, inputs, dry_run=args.dry_run
    )


def _cloud_dispatch(args: argparse.Namespace, project: Project) -> int:
    from amlops.cloud.submit import Request, submit

    job_file = getattr(args, "job", "") if args.command == "job" else ""
    request = Request(
        target=args.command,
        job_file=job_file,
        name=args.exp if args.command in ("job", "notebook-job") else args.pipeline,
        inputs=_inputs(args, project),
        dry_run=args.dry_run,
        stream=args.stream,
        step=getattr(args, "step", ""),
        from_job=getattr(args, "from_job", ""),
    )
    if args.command in ("job", "notebook-job") and (args.exp or not job_file):
        project.experiment_dir(args.exp)
    if args.command == "notebook-job":
        from amlops.cloud.notebook_job import submit_notebook

        return submit_notebook(project, request, args.nb)
    return submit(project, request)


def main(argv: Optional[List[str]] = None) -> int:
    """Parse, run, and turn UserError into one line on stderr (its exit code).

    Everything that reads user files - finding the project, config.env and .env for
    the option defaults - happens inside the error path. Returns 130 when interrupted
    (Ctrl-C, SIGTERM or SIGHUP, see amlops.local.procs.handle_stop_signals)."""
    from amlops.local.procs import handle_stop_signals

    handle_stop_signals()
    try:
        try:
            project: Optional[Project] = Project.find()
        except UserError:
            project = None  # --help works outside a project; commands say why below
        parser = _parser(project)
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 0
        if project is None:
            project = Project.find()
        from amlops.cloud.v1.environment import reexec_for_v1

        reexec_for_v1(project, args.command, sys.argv[1:] if argv is None else argv)
        return _dispatch(args, project)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
