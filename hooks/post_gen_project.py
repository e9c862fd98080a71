"""Prune the options not chosen and bake the first experiment."""

import json
import shutil
import sys
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")
PROJECT = Path.cwd()

CI_FILES = {
    "github": [".github"],
    "azure-devops": ["azure-pipelines.yml"],
}


def prune_ci(provider: str) -> None:
    """Keep only the chosen CI provider's files."""
    for name, paths in CI_FILES.items():
        if name == provider:
            continue
        for rel in paths:
            target = PROJECT / rel
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()


def bake_sample_experiments(first: str) -> None:
    """Render the experiment sub-template, exactly as `make new-exp` does: the
    first experiment, and `prepare`, the data step of pipelines/training.yaml."""
    sys.path.insert(0, str(PROJECT))
    from amlops.newexp import create_experiment

    create_experiment(PROJECT, "prepare", quiet=True, kind="prepare")
    create_experiment(PROJECT, first, quiet=True)


if __name__ == "__main__":
    prune_ci(ANSWERS["ci_provider"])
    bake_sample_experiments(ANSWERS["first_experiment"])
