"""`make batch-score ENDPOINT=x INPUTS="data=folder" [DEPLOYMENT=y]`: score a folder with a
batch model deployment locally, as Azure ML's batch endpoint job would: the parallel
driver runs the scoring script in the deployment's environment and writes
outputs/score/<output_file_name> (predictions.csv by default) in a new run folder."""

from typing import List

from amlops.errors import UserError
from amlops.inputs import parse_overrides
from amlops.local.run import run_experiment
from amlops.project import Project
from amlops.spec.batch import find_deployment, scoring_job


def batch_score(
    project: Project, endpoint: str, deployment: str, runtime_choice: str, inputs: List[str]
) -> int:
    """Run the deployment over the one input folder INPUTS names; the run's exit code.

    UserError (one line) for a missing endpoint, deployment, model, scoring script or
    input, before anything starts."""
    chosen = find_deployment(project, endpoint, deployment)
    if len(inputs) != 1 or "=" not in inputs[0]:
        raise UserError(
            'INPUTS="<name>=<folder>": a batch deployment scores one input folder'
            f" (got {' '.join(inputs) or 'none'})"
        )
    name = inputs[0].split("=", 1)[0].strip()
    job = scoring_job(chosen, name)
    overrides = parse_overrides(inputs, job)
    return run_experiment(project, job, runtime_choice, overrides)
