"""batch-score: a batch model deployment of endpoints/<name>/ run locally over a folder with
the parallel driver (amlops/parallel/batch.py). No Azure SDK is imported."""

import argparse

from amlops.cli.options import Commands, Options, given_inputs
from amlops.project import Project


def register(commands: Commands, options: Options) -> None:
    score = options.command(
        commands,
        "batch-score",
        "score a folder locally with a batch endpoint's model deployment",
        exp=False,
    )
    score.add_argument(
        "--endpoint", default=options.setting("ENDPOINT"), help="endpoints/<name>/ (ENDPOINT)"
    )
    score.add_argument(
        "--deployment",
        default=options.setting("DEPLOYMENT"),
        help="the deployment (DEPLOYMENT; default: the endpoint's default or only one)",
    )
    options.runtime(score)
    options.inputs(score, "the folder to score (INPUTS='data=path')")
    score.set_defaults(func=_batch_score)


def _batch_score(args: argparse.Namespace, project: Project) -> int:
    from amlops.parallel.batch import batch_score

    return batch_score(
        project, args.endpoint, args.deployment, args.runtime, given_inputs(args, project)
    )
