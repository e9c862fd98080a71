"""Checks every Azure ML file kind shares: `file:line:` errors, known fields, names, and
the Collector that gathers a file's problems so they are reported together.

Used by every reader in amlops/spec/; imports nothing of amlops but console, errors and
yamlfile.

Which checks report every problem at once (a Collector): every unknown field of a
mapping (check_known_fields); in a command job, command component or inline command
node (spec/job.py job_from_mapping, so also a sweep's trial and each command node of
a pipeline) the top-level fields, names, sections, every input and output, code,
distribution, resources, environment and every `${{...}}` of the command; in a sweep
(spec/sweep.py, spec/sweep_node.py) its fields, each setting (sampling_algorithm,
each search_space entry, objective, limits, early_termination), the search space's
use and the trial; in a pipeline (spec/pipeline_loader.py) its own fields, settings,
inputs and outputs, each node, and, once those read cleanly, every binding; in an
endpoint folder (spec/endpoints.py) every field of the endpoint and of each
deployment file, then the links between them. Within one field a check still stops
at its first problem, and a check that depends on a part found bad is skipped (it
would only repeat that problem). Anything found only after a file reads cleanly is
the SDK's validation, which lists all it finds."""

import difflib
import re
from typing import Any, Callable, Dict, List, Optional, Set, TypeVar

from amlops.console import say
from amlops.errors import Problems, UserError, problems_of
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


T = TypeVar("T")


def fail_at(spec_file: str, line: int, message: str) -> UserError:
    """A UserError that starts with `file:line:`."""
    where = f"{spec_file}:{line}" if line else spec_file
    return UserError(f"{where}: {message}")


class MissingField(UserError):
    """A required field is absent (`field`). A Collector drops it when the same file's
    unknown field already said "did you mean `field`?": one typo, one line."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def missing_at(spec_file: str, line: int, field: str, message: str) -> MissingField:
    """fail_at() for a required `field` that is absent."""
    where = f"{spec_file}:{line}" if line else spec_file
    return MissingField(f"{where}: {message}", field)


class Collector:
    """The problems of one file, gathered while it is read so that all are reported in
    one run instead of one per run (each stays one line with its file:line and hint).

    `keep(check, default)` runs check() and returns its value; a UserError it raises is
    recorded (each problem of a Problems) and `default` returned, so reading goes on
    with a stand-in. `add(err)` records an error. `raise_if_any()`, once the file is
    read, raises what was recorded: the UserError itself for one problem, Problems for
    several (a problem found twice is listed once)."""

    def __init__(self) -> None:
        self.problems: List[str] = []
        self.suggested: Set[str] = set()  # fields an unknown field's "did you mean" named

    def add(self, err: UserError) -> None:
        if isinstance(err, MissingField) and err.field in self.suggested:
            return  # its misspelling was said: "unknown field 'comand' (did you mean ...)"
        self.suggested |= getattr(err, "suggested", set())
        for problem in problems_of(err):
            if problem not in self.problems:
                self.problems.append(problem)

    def keep(self, check: Callable[[], T], default: Optional[T] = None) -> Optional[T]:
        try:
            return check()
        except UserError as err:
            self.add(err)
            return default

    def raise_if_any(self) -> None:
        if len(self.problems) == 1:
            raise UserError(self.problems[0])
        if self.problems:
            raise Problems(self.problems)


def reworded(err: UserError, word: Callable[[str], str]) -> UserError:
    """`err` with each of its problems reworded by `word` (e.g. to name the pipeline node
    whose file it is in), keeping several problems several lines."""
    problems = [word(problem) for problem in problems_of(err)]
    if len(problems) == 1:
        return UserError(problems[0], err.exit_code)
    return Problems(problems, err.exit_code)


def check_known_fields(raw: Dict[str, Any], allowed: Set[str], shown: str, schema: str) -> None:
    """Refuse every key outside `allowed` at once (one line each, with the closest known
    one): UserError for one, Problems for several."""
    found = Collector()
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"see the {schema}"
            found.add(fail_at(shown, line_of(raw, key), f"unknown field {key!r} ({hint})"))
            found.suggested.update(c for c in close if c not in raw)
    try:
        found.raise_if_any()
    except UserError as err:
        err.suggested = found.suggested  # type: ignore[attr-defined]  # for Collector.add
        raise


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
