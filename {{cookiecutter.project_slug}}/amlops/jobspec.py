"""A job.yaml (Azure ML v2 command job) read and checked for what runs need.

These checks are our own and offline; they catch what the SDK's own
validation misses (a `${{inputs.x}}` naming an undeclared input)."""

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

from amlops.errors import UserError
from amlops.project import Project
from amlops.yamlfile import line_of, load_yaml

PATH_TYPES = {
    "uri_folder",
    "uri_file",
    "mltable",
    "custom_model",
    "mlflow_model",
    "triton_model",
}
LITERAL_TYPES = {"string", "integer", "number", "boolean"}
# Fields every Azure ML job file (command or pipeline) may have.
COMMON_JOB_FIELDS = {
    "$schema",
    "type",
    "name",
    "display_name",
    "description",
    "tags",
    "experiment_name",
}
JOB_FIELDS = COMMON_JOB_FIELDS | {
    "properties",
    "command",
    "code",
    "environment",
    "environment_variables",
    "inputs",
    "outputs",
    "compute",
    "resources",
    "distribution",
    "limits",
    "identity",
    "services",
    "queue_settings",
    "parent_job_name",
}
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
REFERENCE = re.compile(r"(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class InputSpec:
    """One declared input: a literal value or a path-like data input."""

    name: str
    type: str
    value: Any = None
    path: Optional[str] = None
    mode: str = ""
    line: int = 0

    @property
    def is_path(self) -> bool:
        return self.type in PATH_TYPES


@dataclass
class OutputSpec:
    """One declared output."""

    name: str
    type: str = "uri_folder"
    mode: str = ""
    line: int = 0


@dataclass
class JobSpec:
    """The parts of a command job that local and cloud runs share."""

    file: Path
    shown_as: str
    command: str
    inputs: Dict[str, InputSpec] = field(default_factory=dict)
    outputs: Dict[str, OutputSpec] = field(default_factory=dict)
    environment_variables: Dict[str, str] = field(default_factory=dict)
    raw: Dict[str, Any] = field(default_factory=dict)

    def where(self, line: int) -> str:
        """`file:line` for messages."""
        return f"{self.shown_as}:{line}" if line else self.shown_as

    def references(self) -> List[str]:
        """Every `inputs.x` / `outputs.y` the command refers to, in order."""
        return [expr for expr in EXPRESSION.findall(self.command)]


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


def _check_fields(raw: Dict[str, Any], shown: str) -> None:
    check_known_fields(raw, JOB_FIELDS, shown, "commandJob schema")
    if raw.get("type", "command") != "command":
        raise fail_at(shown, line_of(raw, "type"), f"type must be 'command', got {raw['type']!r}")
    command = raw.get("command")
    if not isinstance(command, str) or not command.strip():
        raise fail_at(shown, line_of(raw, "command"), "'command' must be a non-empty string")


def parse_input(name: str, value: Any, line: int, shown: str) -> InputSpec:
    """One `inputs:` entry of a job or pipeline file."""
    if not IDENTIFIER.fullmatch(str(name)):
        raise fail_at(shown, line, f"input name {name!r} must be letters, digits or _")
    if not isinstance(value, dict):
        kind = {bool: "boolean", int: "integer", float: "number"}.get(type(value), "string")
        return InputSpec(name, kind, value=value, line=line)
    kind = str(value.get("type", "uri_folder"))
    if kind in LITERAL_TYPES:
        literal = value.get("value", value.get("default"))
        return InputSpec(name, kind, value=literal, line=line)
    if kind not in PATH_TYPES:
        allowed = ", ".join(sorted(PATH_TYPES | LITERAL_TYPES))
        raise fail_at(shown, line, f"input {name!r}: unknown type {kind!r} (use {allowed})")
    path = value.get("path")
    return InputSpec(
        name,
        kind,
        path=None if path is None else str(path),
        mode=str(value.get("mode", "")),
        line=line,
    )


def _parse_output(name: str, value: Any, line: int, shown: str) -> OutputSpec:
    if not IDENTIFIER.fullmatch(str(name)):
        raise fail_at(shown, line, f"output name {name!r} must be letters, digits or _")
    value = value or {}
    if not isinstance(value, dict):
        raise fail_at(shown, line, f"output {name!r} must be a mapping (type, mode)")
    kind = str(value.get("type", "uri_folder"))
    if kind not in PATH_TYPES:
        raise fail_at(shown, line, f"output {name!r}: unknown type {kind!r}")
    return OutputSpec(name, kind, mode=str(value.get("mode", "")), line=line)


def section(raw: Dict[str, Any], key: str, shown: str) -> Dict[str, Any]:
    """`raw[key]` as a mapping (empty when absent)."""
    section = raw.get(key) or {}
    if not isinstance(section, dict):
        raise fail_at(shown, line_of(raw, key), f"'{key}' must be a mapping")
    return section


def check_references(spec: JobSpec) -> None:
    """Every `${{...}}` in the command names a declared input or output."""
    line = line_of(spec.raw, "command")
    for expression in spec.references():
        match = REFERENCE.fullmatch(expression)
        if not match:
            raise fail_at(
                spec.shown_as,
                line,
                f"command uses ${{{{{expression}}}}}: only ${{{{inputs.<name>}}}}"
                " and ${{outputs.<name>}} are allowed in a command job",
            )
        kind, name = match.groups()
        declared = spec.inputs if kind == "inputs" else spec.outputs
        if name not in declared:
            names = ", ".join(sorted(declared)) or "none"
            raise fail_at(
                spec.shown_as,
                line,
                f"command uses ${{{{{kind}.{name}}}}} but {kind} declares no"
                f" {name!r} (declared: {names}); add it under {kind}:",
            )


def load_job(path: Path, shown_as: str = "") -> JobSpec:
    """Read and check one job.yaml."""
    shown = shown_as or str(path)
    raw = load_yaml(path, shown)
    if not isinstance(raw, dict):
        raise fail_at(shown, 1, "expected a mapping of command job fields")
    _check_fields(raw, shown)
    inputs_raw = section(raw, "inputs", shown)
    outputs_raw = section(raw, "outputs", shown)
    env_raw = section(raw, "environment_variables", shown)
    spec = JobSpec(
        file=path,
        shown_as=shown,
        command=raw["command"].strip(),
        inputs={
            str(n): parse_input(n, v, line_of(inputs_raw, n), shown) for n, v in inputs_raw.items()
        },
        outputs={
            str(n): _parse_output(n, v, line_of(outputs_raw, n), shown)
            for n, v in outputs_raw.items()
        },
        environment_variables={str(k): str(v) for k, v in env_raw.items()},
        raw=raw,
    )
    check_references(spec)
    return spec


def load_experiment(project: Project, experiment: str) -> JobSpec:
    """The checked job.yaml of src/<experiment>."""
    folder = project.experiment_dir(experiment)
    return load_job(folder / "job.yaml", f"src/{experiment}/job.yaml")
