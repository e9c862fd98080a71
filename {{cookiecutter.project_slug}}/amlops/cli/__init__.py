"""Command line: `python -m amlops <command>`; each Makefile target calls one.

Options default to the settings (config.env, .env, environment), so
`make local EXP=x` and `python -m amlops local --exp x` are the same call."""

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

from amlops import __version__, parsecache
from amlops.cli.options import Options
from amlops.errors import UserError, problems_of
from amlops.project import Project

# Each module declares its commands beside their handlers: register(commands, options).
COMMAND_MODULES = (
    "amlops.cli.project",
    "amlops.cli.local",
    "amlops.cli.tracking",
    "amlops.cli.pipelines",
    "amlops.cli.serving",
    "amlops.cli.cloud",
    "amlops.cli.batch",
)


def build_parser(
    project: Optional[Project], argv: Optional[Sequence[str]] = None
) -> argparse.ArgumentParser:
    """The parser, defaults from `project`'s settings (none outside one).

    With `argv` whose first word names a command, only that command's sub-parser is
    built (the others would cost ~15 ms of every run, make local's included); without
    it, or when that word is no command, every command's, so --help and argparse's
    "invalid choice" list them all."""
    wanted = argv[0] if argv and not argv[0].startswith("-") else None
    if wanted is not None:
        parser, options = _parser(project, wanted)
        if options.built:
            return parser
    return _parser(project, None)[0]


def _parser(project: Optional[Project], wanted: Optional[str]) -> Tuple[Any, Options]:
    parser = argparse.ArgumentParser(prog="python -m amlops", description=__doc__)
    parser.add_argument("--version", action="version", version=f"amlops {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    options = Options(project.settings if project else None, wanted)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands, options)  # type: ignore[attr-defined]
    return parser, options


def main(argv: Optional[List[str]] = None) -> int:
    """Parse, run, and turn UserError into one line on stderr (its exit code).

    Everything that reads user files - finding the project, config.env and .env for
    the option defaults - happens inside the error path. Returns 130 when interrupted
    (Ctrl-C, SIGTERM or SIGHUP, see amlops.local.procs.handle_stop_signals)."""
    from amlops.local.procs import handle_stop_signals

    handle_stop_signals()
    project: Optional[Project] = None
    try:
        try:
            project = Project.find()
        except UserError:
            project = None  # --help works outside a project; commands say why below
        if project is not None:  # parsed files kept by their text (amlops.parsecache)
            parsecache.use(project.runs / ".cache" / "parsed")
        given = sys.argv[1:] if argv is None else argv
        parser = build_parser(project, given)
        args = parser.parse_args(given)
        if not args.command:
            parser.print_help()
            return 0
        if project is None:
            project = Project.find()
        from amlops.cli.workspace import with_workspace
        from amlops.cloud.v1.environment import reexec_for_v1

        reexec_for_v1(project, args.command, given)
        return int(args.func(args, with_workspace(project)))
    except UserError as err:
        for problem in problems_of(err):  # every problem of a file, one line each
            print(f"error: {problem}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # a full disk anywhere (staging, records, DRY_RUN's folder)
        from amlops.diskspace import disk_full_error, is_disk_full

        if not is_disk_full(err):
            raise
        where = project.runs if project is not None else Path.cwd()
        print(f"error: {disk_full_error(err, where)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
