"""Experiment names become Python packages, Docker tags and Azure ML names."""

import re

from amlops.errors import UserError

EXPERIMENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
NAME_RULE = "a lowercase letter then lowercase letters, digits or _ (max 40)"
# Folders under .runs/ and src/ that are not experiments.
RESERVED = {
    "common": "src/common is shared code",
    "pipelines": ".runs/pipelines holds pipeline runs",
    "azure": ".runs/azure holds cloud submissions, and it would shadow the azure SDK packages",
    "notebooks": ".runs/notebooks holds make notebooks runs",
}
PIPELINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
STEP_NAME = re.compile(r"[a-z_][a-z0-9_]{0,254}")


def check_experiment_name(name: str, option: str = "EXP") -> str:
    """Return `name` if it is a valid experiment name, else raise UserError."""
    if not name:
        raise UserError(f"{option} is required, e.g. make <target> {option}=train")
    if not EXPERIMENT_NAME.fullmatch(name):
        raise UserError(f"invalid {option} {name!r}: use {NAME_RULE}")
    if name in RESERVED:
        raise UserError(f"{option}={name} is reserved ({RESERVED[name]}); pick another name")
    return name
