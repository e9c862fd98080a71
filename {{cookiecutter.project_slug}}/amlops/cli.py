"""Command line: `python -m amlops <command>`; each Makefile target calls one.

Options default to the settings (config.env, .env, environment), so
`make local EXP=x` and `python -m amlops local --exp x` are the same call."""

import argparse
import sys
from typing import List, Optional

from amlops.errors import UserError
from amlops.project import Project


def _parser(project: Optional[Project]) -> argparse.ArgumentParser:
    settings = project.settings if project else None

    def setting(key: str, default: str = "") -> str:
        return settings.get(key, default) if settings else default

    parser = argparse.ArgumentParser(prog="python -m amlops", description=__doc__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--exp", default=setting("EXP"), help="experiment name (EXP)")
        return sub

    command("new-exp", "create src/<exp>/ from templates/experiment/")
    command("build-exp", "build the experiment's Docker image if its context changed")
    local = command("local", "run the experiment locally (Docker, or a venv)")
    local.add_argument(
        "--runtime", default=setting("RUNTIME", "auto"), help="auto, docker or venv (RUNTIME)"
    )
    local.add_argument(
        "--input",
        action="append",
        default=None,
        metavar="NAME=VALUE",
        help="override an input path or literal (INPUTS='a=x b=y'); repeatable",
    )
    terminal = command("terminal", "open a shell in the experiment image with run mounts")
    terminal.add_argument("--cmd", default=setting("CMD"), help="run this instead (CMD)")
    jupyter = command("jupyter", "open Jupyter Lab in the experiment image with run mounts")
    jupyter.add_argument("--port", default=setting("PORT", "8888"), help="host port (PORT)")
    commands.add_parser("experiments", help="list the experiments under src/")
    return parser


def _dispatch(args: argparse.Namespace, project: Project) -> int:
    if args.command == "experiments":
        print("\n".join(project.experiments()))
        return 0
    if args.command == "new-exp":
        from amlops.newexp import create_experiment

        create_experiment(project.root, args.exp)
        return 0
    project.experiment_dir(args.exp)  # validates EXP before anything else
    if args.command == "build-exp":
        from amlops.images import EngineUnavailable
        from amlops.runtimes.docker import DockerRuntime

        runtime = DockerRuntime(project, args.exp)
        try:
            built = runtime.prepare()
        except EngineUnavailable as err:
            raise UserError(f"make build-exp needs a Docker engine: {err}") from None
        print(f"amlops: image {runtime.tag} {'built' if built else 'up to date'}")
        return 0
    if args.command == "local":
        from amlops.local_run import run_local
        from amlops.resolve import split_overrides

        overrides = args.input if args.input is not None else []
        overrides = split_overrides(project.settings.get("INPUTS")) + overrides
        return run_local(project, args.exp, args.runtime, overrides)
    from amlops.interactive import run_interactive

    return run_interactive(
        project, args.exp, args.command, getattr(args, "cmd", ""), getattr(args, "port", "")
    )


def main(argv: Optional[List[str]] = None) -> int:
    """Parse, run, and turn UserError into one line on stderr."""
    try:
        project: Optional[Project] = Project.find()
    except UserError:
        project = None
    parser = _parser(project)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        if project is None:
            project = Project.find()
        return _dispatch(args, project)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
