"""Commands that read the local MLflow runs: runs, compare, ui."""

import argparse

from amlops.cli.options import Commands, Options
from amlops.project import Project


def register(commands: Commands, options: Options) -> None:
    runs = options.command(commands, "runs", "list the local runs, newest first", exp=False)
    runs.add_argument("--exp", default=options.setting("EXP"), help="only this experiment (EXP)")
    runs.add_argument(
        "--pipeline", default=options.setting("PIPELINE"), help="only this pipeline (PIPELINE)"
    )
    runs.add_argument(
        "--limit",
        default=options.setting("LIMIT", "20"),
        help="newest entries (LIMIT; 0 all); a sweep or pipeline run is one",
    )
    runs.set_defaults(func=_runs)
    compare = options.command(
        commands, "compare", "show two or more local runs side by side", exp=False
    )
    compare.add_argument("--runs", default=options.setting("RUNS"), help='run ids (RUNS="a b")')
    compare.set_defaults(func=_compare)
    ui = options.command(commands, "ui", "open the MLflow UI on the local runs", exp=False)
    ui.add_argument(
        "--port", default=options.setting("UI_PORT", "5000"), help="host port (UI_PORT)"
    )
    ui.set_defaults(func=_ui)


def _runs(args: argparse.Namespace, project: Project) -> int:
    from amlops.tracking import report

    return report.show_runs(project, args.exp, args.pipeline, args.limit)


def _compare(args: argparse.Namespace, project: Project) -> int:
    from amlops.tracking import report

    return report.compare(project, args.runs)


def _ui(args: argparse.Namespace, project: Project) -> int:
    from amlops.tracking.ui import run_ui

    return run_ui(project, args.port)
