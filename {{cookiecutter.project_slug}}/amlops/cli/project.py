"""Commands about the project's files: experiments, pipelines, new-exp, prune."""

import argparse
import sys

from amlops.cli.options import Commands, Options
from amlops.project import Project


def register(commands: Commands, options: Options) -> None:
    new_exp = options.command(commands, "new-exp", "create src/<exp>/ from templates/experiment/")
    new_exp.add_argument(
        "--kind",
        default=options.setting("KIND", "train"),
        help="train, or a folder of templates/kinds/ (KIND)",
    )
    new_exp.set_defaults(func=_new_exp)
    options.command(
        commands, "experiments", "list the experiments under src/", exp=False
    ).set_defaults(func=_experiments)
    options.command(
        commands, "pipelines", "list the pipelines under pipelines/ (.yaml or .yml)", exp=False
    ).set_defaults(func=_pipelines)
    prune = options.command(
        commands, "prune", "list, or remove, old runs, venvs and images", exp=False
    )
    prune.add_argument(
        "--keep", default=options.setting("KEEP", "10"), help="newest runs kept of each kind (KEEP)"
    )
    options.switch(prune, "YES", "remove them; without it prune only lists")
    prune.set_defaults(func=_prune)


def _new_exp(args: argparse.Namespace, project: Project) -> int:
    from amlops.newexp import create_experiment

    create_experiment(project.root, args.exp, kind=args.kind)
    return 0


def _experiments(args: argparse.Namespace, project: Project) -> int:
    from amlops.names import experiment_name_problem

    print("\n".join(project.experiments()))
    for folder in project.experiment_folders():
        problem = experiment_name_problem(folder.name)
        if problem:
            print(f"amlops: src/{folder.name}/ is not usable as EXP ({problem})", file=sys.stderr)
    return 0


def _pipelines(args: argparse.Namespace, project: Project) -> int:
    print("\n".join(project.pipelines()))
    return 0


def _prune(args: argparse.Namespace, project: Project) -> int:
    from amlops.local.prune import parse_keep, prune
    from amlops.serving.servers import environments_in_use

    return prune(project, parse_keep(args.keep), args.yes, environments_in_use(project))
