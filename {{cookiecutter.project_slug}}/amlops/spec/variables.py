"""Names of a job's `environment_variables`, checked before anything runs or is sent.

Azure ML sets each one in the job's container, whose shell runs the command; a name
that is not a portable variable name - letters, digits and `_`, not starting with a
digit (POSIX, IEEE Std 1003.1 "Environment Variables", section 8.1) - cannot be used by
that command (`$A-B` is `$A` then `-B`), and one holding `=` or NUL cannot be set at all
(Python refuses it: "illegal environment variable name"; Docker's `-e` splits at `=`)."""

import re
from typing import Any, Callable, Mapping

from amlops.errors import UserError

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_variable_names(variables: Mapping[Any, Any], shown: str) -> None:
    """Raise UserError `shown:line: environment_variables: ...` for the first key of
    `variables` (a mapping loaded by amlops.yamlfile, so its keys' lines are known)
    that is not a portable variable name."""
    _refuse_first(
        variables,
        shown,
        lambda name: isinstance(name, str) and bool(VARIABLE_NAME.fullmatch(name)),
        "is not a variable name (letters, digits and _, not starting with a digit); the"
        " job's shell could not use it - rename it",
    )


def check_settable_names(variables: Mapping[Any, Any], shown: str) -> None:
    """Raise UserError `shown:line: environment_variables: ...` for the first key of
    `variables` that no process environment can hold: empty, or holding `=` or NUL
    (POSIX environ entries are `name=value` strings; Python refuses such a name with
    "illegal environment variable name", Docker's `-e` would split it at `=`).

    For a deployment's environment_variables: the inference server reads them from its
    environment and no shell does, so any other name (`A-B`, `1ST`) works in Azure ML
    and here."""
    _refuse_first(
        variables,
        shown,
        lambda name: bool(str(name)) and "=" not in str(name) and "\0" not in str(name),
        "cannot be a variable name (empty, or holding = or a NUL byte: no environment can"
        " hold it) - rename it",
    )


def _refuse_first(
    variables: Mapping[Any, Any], shown: str, acceptable: Callable[[Any], bool], why: str
) -> None:
    """Raise UserError naming the first key of `variables` not `acceptable`, its line and
    `why`."""
    lines = getattr(variables, "lines", {})
    for name in variables:
        if acceptable(name):
            continue
        line = lines.get(name, 0)
        where = f"{shown}:{line}" if line else shown
        raise UserError(f"{where}: environment_variables: {str(name)!r} {why}")
