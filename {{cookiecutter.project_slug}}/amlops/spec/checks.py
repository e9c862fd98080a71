"""Checks every Azure ML file kind shares: `file:line:` errors, known fields, names.

Used by every reader in amlops/spec/; imports nothing of amlops but errors and
yamlfile."""

import difflib
import re
from typing import Any, Dict, Set

from amlops.console import say
from amlops.errors import UserError
from amlops.yamlfile import line_of

# Fields every Azure ML job file (command, sweep or pipeline) may have.
COMMON_JOB_FIELDS = {
    "$schema",
    "type",
    "name",
    "display_name",
    "description",
    "tags",
    "experiment_name",
}
# Fields every Azure ML component file (command, parallel, spark or pipeline) may have
# (azure-ai-ml's ComponentSchema); each kind adds its own.
COMMON_COMPONENT_FIELDS = {
    "$schema",
    "type",
    "name",
    "version",
    "display_name",
    "description",
    "tags",
    "properties",
    "inputs",
    "outputs",
}
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Azure ML's rule for experiment (and job) names, as the service states it: 1-256
# letters, digits, `-` and `_`, starting with a letter or digit.
AZURE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,255}")
# The SDK's rule for a component's name.
COMPONENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,254}")


def fail_at(spec_file: str, line: int, message: str) -> UserError:
    """A UserError that starts with `file:line:`."""
    where = f"{spec_file}:{line}" if line else spec_file
    return UserError(f"{where}: {message}")


def check_known_fields(raw: Dict[str, Any], allowed: Set[str], shown: str, schema: str) -> None:
    """Refuse a key outside `allowed`, suggesting the closest known one."""
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"see the {schema}"
            raise fail_at(shown, line_of(raw, key), f"unknown field {key!r} ({hint})")


def warn_unknown_fields(raw: Dict[str, Any], allowed: Set[str], shown: str, kept_by: str) -> None:
    """One warning line per key outside `allowed` (with the closest known one), for a
    mapping whose unknown keys Azure ML keeps and sends (`kept_by` says who): the file
    still runs and is sent as written."""
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            say(
                f"warning: {shown}:{line_of(raw, key)}: unknown field {key!r}{hint}: ignored"
                f" here, sent as written ({kept_by})"
            )


def check_names(raw: Dict[str, Any], shown: str, kind: str = "job") -> None:
    """`name` and `experiment_name` follow Azure ML's naming rule (AZURE_NAME); a
    component's name follows the SDK's component rule (COMPONENT_NAME)."""
    if kind == "component" and raw.get("name") is not None:
        if not COMPONENT_NAME.fullmatch(str(raw["name"])):
            raise fail_at(
                shown,
                line_of(raw, "name"),
                f"name {raw['name']!r}: a component name is a lowercase letter, then"
                " lowercase letters, digits or _ (Azure ML's rule)",
            )
    for key in ("name", "experiment_name") if kind != "component" else ():
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not AZURE_NAME.fullmatch(value):
            raise fail_at(
                shown,
                line_of(raw, key),
                f"{key} {value!r}: Azure ML allows letters, digits, '-' and '_',"
                " starting with a letter or digit, at most 256 characters",
            )


def section(raw: Dict[str, Any], key: str, shown: str) -> Dict[str, Any]:
    """`raw[key]` as a mapping (empty when absent)."""
    found = raw.get(key) or {}
    if not isinstance(found, dict):
        raise fail_at(shown, line_of(raw, key), f"'{key}' must be a mapping")
    return found
