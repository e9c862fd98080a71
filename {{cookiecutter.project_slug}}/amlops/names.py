"""Names that become folders, Docker tags, Python packages and Azure ML names.

An experiment is any folder under src/ with a job file; its name may be what
Azure ML accepts for a code folder (letters, digits, `-`, `_`). `make new-exp`
is stricter: its sample runs `python -m <name>.main`, so the name must also be
a Python package name."""

import re

from amlops.errors import UserError

EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
NAME_RULE = "a letter or digit, then letters, digits, '-' or '_' (max 40)"
PACKAGE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
PACKAGE_RULE = "a lowercase letter then lowercase letters, digits or _ (max 40)"
# Folders under .runs/ and src/ that are not experiments.
RESERVED = {
    "common": "src/common is shared code",
    "pipelines": ".runs/pipelines holds pipeline runs",
    "azure": ".runs/azure holds cloud submissions, and it would shadow the azure SDK packages",
    "notebooks": ".runs/notebooks holds make notebooks runs",
    "endpoints": ".runs/endpoints holds make serve runs",
}
PIPELINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
STEP_NAME = re.compile(r"[a-z_][a-z0-9_]{0,254}")


def experiment_name_problem(name: str) -> str:
    """Why `name` cannot be an experiment (empty when it can)."""
    if not EXPERIMENT_NAME.fullmatch(name):
        return f"use {NAME_RULE}"
    if name.lower() in RESERVED:
        return f"reserved ({RESERVED[name.lower()]}); pick another name"
    return ""


def check_experiment_name(name: str, option: str = "EXP") -> str:
    """Return `name` if it can be an experiment, else raise UserError."""
    if not name:
        raise UserError(f"{option} is required, e.g. make <target> {option}=train")
    if name.lower() in RESERVED:
        raise UserError(
            f"{option}={name} is reserved ({RESERVED[name.lower()]}); pick another name"
        )
    problem = experiment_name_problem(name)
    if problem:
        raise UserError(f"invalid {option} {name!r}: {problem}")
    return name


def check_package_name(name: str, option: str = "EXP") -> str:
    """`make new-exp`: an experiment name that is also a Python package name."""
    check_experiment_name(name, option)
    if not PACKAGE_NAME.fullmatch(name):
        raise UserError(
            f"invalid {option} {name!r} for new-exp: its job runs python -m {name}.main,"
            f" so use {PACKAGE_RULE}"
        )
    return name
