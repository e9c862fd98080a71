"""An Azure ML v2 command job file (job.yaml / job.yml), read and checked for what runs need.

The one reader of the command-job schema
(https://azuremlschemas.azureedge.net/latest/commandJob.schema.json): local
runs, `make validate` and submission all take a JobSpec from here. The checks
are our own and offline; they catch what the SDK's validation misses (a
`${{inputs.x}}` naming an undeclared input outside `$[[...]]`)."""

import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Optional

from amlops.errors import UserError
from amlops.filekinds import INVALID, JOB_KINDS, PIPELINE, kind_of, yaml_files
from amlops.project import JOB_FILES, Project, job_file_in
from amlops.spec.checks import (
    COMMON_COMPONENT_FIELDS,
    COMMON_JOB_FIELDS,
    IDENTIFIER,
    Collector,
    check_known_fields,
    check_names,
    fail_at,
    missing_at,
    section,
)
from amlops.spec.environment import EnvironmentSpec, parse_environment
from amlops.spec.expressions import REFERENCE, expressions, optional_parts, required_part
from amlops.spec.variables import check_variable_names
from amlops.textfile import read_text
from amlops.yamlfile import line_of, load_yaml, plain

PATH_TYPES = {
    "uri_folder",
    "uri_file",
    "mltable",
    "custom_model",
    "mlflow_model",
    "triton_model",
}
LITERAL_TYPES = {"string", "integer", "number", "boolean"}


def _parses(convert: Any, value: Any) -> bool:
    try:
        convert(value)
        return True
    except (TypeError, ValueError, OverflowError):
        return False


# Whether a value fits a literal input's type. A string is taken where azure-ai-ml's
# Input._parse takes it (entities/_inputs_outputs/input.py: int(float(v)) for integer,
# float(v) for number, "true"/"false" in any case for boolean), as `load_job` does.
LITERAL_CHECKS = {
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, str) and _parses(lambda x: int(float(x)), v)),
    "number": lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool))
    or (isinstance(v, str) and _parses(float, v)),
    "boolean": lambda v: isinstance(v, bool)
    or (isinstance(v, str) and v.lower() in ("true", "false")),
    "string": lambda v: isinstance(v, (str, int, float, bool)),
}
# Data modes (https://learn.microsoft.com/azure/machine-learning/how-to-read-write-data-v2;
# the SDK refuses rw_mount for an input and takes `mount` for rw_mount on an output):
# a downloaded input is the job's own writable copy; the other input modes are read-only.
INPUT_MODES = {"ro_mount", "download", "direct", "eval_mount", "eval_download"}
COPIED_INPUT_MODES = {"download", "eval_download"}
OUTPUT_MODES = {"rw_mount", "mount", "upload", "direct"}
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
# A command component (https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json).
COMPONENT_FIELDS = COMMON_COMPONENT_FIELDS | {
    "is_deterministic",
    "code",
    "command",
    "environment",
    "resources",
    "distribution",
    "additional_includes",
}
# An inline command node of a pipeline job (a command job less the job-only fields).
NODE_FIELDS = (JOB_FIELDS - {"$schema", "name", "experiment_name", "parent_job_name"}) | {
    "component"
}
KINDS = {
    "job": (JOB_FIELDS, "commandJob schema"),
    "component": (COMPONENT_FIELDS, "commandComponent schema"),
    "node": (NODE_FIELDS, "command node fields"),
}
DISTRIBUTION_FIELDS = {
    "pytorch": {"type", "process_count_per_instance"},
    "mpi": {"type", "process_count_per_instance"},
    "tensorflow": {"type", "worker_count", "parameter_server_count"},
}
# `python [options] -m <module>` (any python executable) in a command.
PYTHON_MODULE = re.compile(r"(?:^|[\s;&|(])(?:\S*/)?python[0-9.]*(?:\s+-[A-Za-z]+)*\s+-m\s+(\S+)")


@dataclass
class InputSpec:
    """One declared input: a literal value or a path-like data input."""

    name: str
    type: str
    value: Any = None
    path: Optional[str] = None
    mode: str = ""
    line: int = 0
    optional: bool = False
    raw: Any = None

    @property
    def is_path(self) -> bool:
        return self.type in PATH_TYPES

    @property
    def has_value(self) -> bool:
        """Whether the file gives it a value or path (an unset optional input has none)."""
        return (self.path if self.is_path else self.value) is not None


@dataclass
class OutputSpec:
    """One declared output, with every field the file gives (path, name, version...)."""

    name: str
    type: str = "uri_folder"
    mode: str = ""
    line: int = 0
    raw: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Distribution:
    """`distribution:` of a job: how many processes Azure ML starts per instance."""

    type: str
    process_count_per_instance: int = 1
    worker_count: int = 1
    parameter_server_count: int = 0
    line: int = 0


@dataclass
class JobSpec:
    """A checked command job file. Paths in it are relative to `file`'s folder."""

    file: Path
    shown_as: str
    command: str
    environment: EnvironmentSpec
    code: Optional[str] = None
    inputs: Dict[str, InputSpec] = field(default_factory=dict)
    outputs: Dict[str, OutputSpec] = field(default_factory=dict)
    environment_variables: Dict[str, str] = field(default_factory=dict)
    distribution: Optional[Distribution] = None
    instance_count: int = 1
    raw: Dict[str, Any] = field(default_factory=dict)
    name: str = ""  # what the job is called locally (default: its folder's name)
    kind: str = "job"  # job, component (a command component file) or node (inline)
    # Set on the trial of a sweep job file (amlops/spec/sweep.py SweepSpec): this spec is
    # then the trial template, its command still holding ${{search_space.<name>}}.
    sweep: Any = None
    # Set on a parallel job, component or node (amlops/spec/parallel.py ParallelSpec): the
    # command is then the parallel driver, staged into the code root from `staged_files`
    # (name in the snapshot -> source file).
    parallel: Any = None
    staged_files: Dict[str, Path] = field(default_factory=dict)
    # Set on a Spark job file (amlops/spec/spark.py SparkSpec): the command is then
    # spark-submit in local mode, `raw` the Spark file as written (what is submitted).
    spark: Any = None

    @property
    def folder(self) -> Path:
        """The folder of the job file: `code:`, `path:` and environment paths start here."""
        return self.file.parent

    @property
    def experiment(self) -> str:
        """The job's local name: its folder's (src/<experiment>/job.yaml), or the pipeline
        node's or component's name."""
        return self.name or self.file.parent.name

    def where(self, line: int) -> str:
        """`file:line` for messages."""
        return f"{self.shown_as}:{line}" if line else self.shown_as

    def make_local(self) -> str:
        """The `make local ...` that runs this job file again, for advice in messages:
        EXP=<x> for src/<x>/job.yaml (or job.yml), EXP=<x> JOB=<file> for another job file
        of src/<x>/, else JOB=<path as shown> (a job file anywhere, run with JOB= alone)."""
        parts = Path(self.shown_as).parts
        if self.kind != "node" and not (len(parts) == 3 and parts[0] == "src"):
            return f"make local JOB={self.shown_as}"
        if parts[-1] in JOB_FILES or self.kind == "node":
            return f"make local EXP={self.experiment}"
        return f"make local EXP={parts[1]} JOB={parts[2]}"

    def references(self) -> List[str]:
        """Every `${{...}}` expression in the command, in order."""
        return expressions(self.command)

    def field_line(self, key: str) -> int:
        return line_of(self.raw, key)


def _check_type(raw: Dict[str, Any], shown: str) -> None:
    kind = raw.get("type", "command")
    if kind == "command":
        return
    line = line_of(raw, "type")
    raise fail_at(shown, line, f"type must be 'command' for a job file here, got {kind!r}")


def _check_command(raw: Dict[str, Any], shown: str) -> str:
    command = raw.get("command")
    if "command" not in raw:
        raise missing_at(shown, 0, "command", "'command' must be a non-empty string")
    if not isinstance(command, str) or not command.strip():
        raise fail_at(shown, line_of(raw, "command"), "'command' must be a non-empty string")
    for module in PYTHON_MODULE.findall(required_part(command)):
        bad = [part for part in module.split(".") if not IDENTIFIER.fullmatch(part)]
        if bad and "${{" not in module:
            raise fail_at(
                shown,
                line_of(raw, "command"),
                f"python -m {module} cannot work: {bad[0]!r} is not a Python module name"
                " (letters, digits, _); run the script by path instead"
                f" (python {module.replace('.', '/')}.py) or rename the folder",
            )
    return command.strip()


# The fields of an input / output mapping in any Azure ML file: the union of azure-ai-ml's
# job schemas (_schema/job/input_output_entry.py: type, path, mode, datastore,
# path_on_compute, value; name/version on outputs; the data-transfer database and file
# system fields) and component port schemas (_schema/component/input_output.py:
# description, optional, default, min, max, enum, early_available, is_control). Anything
# else both refuse ("Unknown field"), so a typo is refused here, where it has a line.
TRANSFER_FIELDS = {
    "connection",
    "query",
    "table_name",
    "stored_procedure",
    "stored_procedure_params",
}
INPUT_FIELDS = {
    "type", "path", "mode", "datastore", "path_on_compute", "value", "description",
    "optional", "default", "min", "max", "enum", "intellectual_property",
} | TRANSFER_FIELDS  # fmt: skip
OUTPUT_FIELDS = {
    "type", "path", "mode", "datastore", "path_on_compute", "name", "version",
    "description", "early_available", "is_control", "intellectual_property",
} | TRANSFER_FIELDS  # fmt: skip


def parse_input(name: str, value: Any, line: int, shown: str, schema: str = "") -> InputSpec:
    """One `inputs:` entry of a job, component or pipeline file (`schema` "job": a
    command job's, where Azure ML's schema takes a literal only as a plain value and
    has no `optional`)."""
    if not IDENTIFIER.fullmatch(str(name)):
        raise fail_at(shown, line, f"input name {name!r} must be letters, digits or _")
    if not isinstance(value, dict):
        kind = {bool: "boolean", int: "integer", float: "number"}.get(type(value), "string")
        return InputSpec(name, kind, value=value, line=line, raw=value)
    check_known_fields(value, INPUT_FIELDS, shown, f"fields of input {name!r}")
    kind = str(value.get("type", "uri_folder"))
    if schema == "job" and (kind in LITERAL_TYPES or "optional" in value):
        raise fail_at(
            shown,
            line,
            f"input {name!r}: a command job takes a literal input as a plain value"
            f" ({name}: <value>) and has no optional inputs (the commandJob schema);"
            " {type:, default:, optional:} belong to a command component",
        )
    optional = bool(value.get("optional", False))
    if kind in LITERAL_TYPES:
        literal = value.get("value", value.get("default"))
        return InputSpec(name, kind, value=literal, line=line, optional=optional, raw=value)
    if kind not in PATH_TYPES:
        allowed = ", ".join(sorted(PATH_TYPES | LITERAL_TYPES))
        raise fail_at(shown, line, f"input {name!r}: unknown type {kind!r} (use {allowed})")
    mode = str(value.get("mode", "") or "")
    if mode and mode not in INPUT_MODES:
        modes = ", ".join(sorted(INPUT_MODES))
        raise fail_at(shown, line, f"input {name!r}: unknown mode {mode!r} (use {modes})")
    path = value.get("path")
    return InputSpec(
        name,
        kind,
        path=None if path is None else str(path),
        mode=mode,
        line=line,
        optional=optional,
        raw=value,
    )


def parse_inputs(
    declared: Dict[str, Any], shown: str, schema: str = "", found: Optional[Collector] = None
) -> Dict[str, InputSpec]:
    """Every entry of an `inputs:` section (of a job, component or pipeline). Every bad
    entry is reported: into `found` when given (a bad entry then stands as an untyped
    uri_folder input, so later checks do not call it undeclared), else raised together
    (UserError for one, Problems for several)."""
    collector = found or Collector()
    inputs: Dict[str, InputSpec] = {}
    for name, value in declared.items():
        line = line_of(declared, name)
        parsed = collector.keep(partial(parse_input, name, value, line, shown, schema))
        inputs[str(name)] = parsed or InputSpec(str(name), "uri_folder", line=line)
    if found is None:
        collector.raise_if_any()
    return inputs


def parse_output(name: str, value: Any, line: int, shown: str) -> OutputSpec:
    """One `outputs:` entry; every field is kept for submission."""
    if not IDENTIFIER.fullmatch(str(name)):
        raise fail_at(shown, line, f"output name {name!r} must be letters, digits or _")
    value = value or {}
    if not isinstance(value, dict):
        raise fail_at(shown, line, f"output {name!r} must be a mapping (type, mode, path)")
    check_known_fields(value, OUTPUT_FIELDS, shown, f"fields of output {name!r}")
    kind = str(value.get("type", "uri_folder"))
    if kind not in PATH_TYPES:
        raise fail_at(shown, line, f"output {name!r}: unknown type {kind!r}")
    mode = str(value.get("mode", "") or "")
    if mode and mode not in OUTPUT_MODES:
        modes = ", ".join(sorted(OUTPUT_MODES))
        raise fail_at(shown, line, f"output {name!r}: unknown mode {mode!r} (use {modes})")
    return OutputSpec(name, kind, mode=mode, line=line, raw=plain(value))


def parse_outputs(
    declared: Dict[str, Any], shown: str, found: Optional[Collector] = None
) -> Dict[str, OutputSpec]:
    """Every entry of an `outputs:` section, each bad one reported as parse_inputs does."""
    collector = found or Collector()
    outputs: Dict[str, OutputSpec] = {}
    for name, value in declared.items():
        line = line_of(declared, name)
        parsed = collector.keep(partial(parse_output, name, value, line, shown))
        outputs[str(name)] = parsed or OutputSpec(str(name), line=line)
    if found is None:
        collector.raise_if_any()
    return outputs


def _positive(
    raw: Dict[str, Any], key: str, shown: str, default: int, minimum: int = 1, within: str = ""
) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise fail_at(
            shown,
            line_of(raw, key),
            f"{within}{key} must be a whole number >= {minimum}, got {value!r}",
        )
    return value


def parse_distribution(raw: Dict[str, Any], shown: str) -> Optional[Distribution]:
    """`distribution:` (pytorch, mpi or tensorflow), or None."""
    if "distribution" not in raw:
        return None
    dist = section(raw, "distribution", shown)
    line = line_of(raw, "distribution")
    kind = str(dist.get("type", ""))
    if kind not in DISTRIBUTION_FIELDS:
        raise fail_at(shown, line, f"distribution type {kind!r}: use pytorch, mpi or tensorflow")
    check_known_fields(dist, DISTRIBUTION_FIELDS[kind], shown, f"{kind} distribution")
    return Distribution(
        type=kind,
        process_count_per_instance=_positive(
            dist, "process_count_per_instance", shown, 1, within="distribution."
        ),
        worker_count=_positive(dist, "worker_count", shown, 1, within="distribution."),
        parameter_server_count=_positive(
            dist, "parameter_server_count", shown, 0, minimum=0, within="distribution."
        ),
        line=line,
    )


def check_references(spec: JobSpec) -> None:
    """Every `${{...}}` outside `$[[...]]` names a declared input or output; inside
    `$[[...]]` an undeclared input is allowed (the segment is dropped). Every bad
    reference is reported at once (UserError for one, Problems for several)."""
    found = Collector()
    for expression in spec.references():
        found.keep(partial(_check_reference, spec, expression))
    found.raise_if_any()


def _expression_line(spec: JobSpec, expression: str) -> int:
    """The line of the job file where `expression` (inputs.x) is written in the command, at
    or after the `command:` key's line (a block scalar spans several); that line when the
    file cannot tell (a command not written in this file, or an expression spelt there
    with other spacing)."""
    line = line_of(spec.raw, "command")
    if not line:
        return line
    try:
        text = read_text(spec.file)
    except UserError:  # unreadable now: the file was read once, so this is a race
        return line
    written = re.compile(r"\$\{\{\s*" + re.escape(expression) + r"\s*\}\}")
    for number, source in enumerate(text.splitlines()[line - 1 :], start=line):
        if written.search(source):
            return number
    return line


def _at_expression(spec: JobSpec, expression: str, message: str) -> UserError:
    """fail_at() at the line that writes `expression` (found only now, on a problem: the
    file is read again for it, which a job without problems never pays)."""
    return fail_at(spec.shown_as, _expression_line(spec, expression), message)


def _check_reference(spec: JobSpec, expression: str) -> None:
    optional = {e for part in optional_parts(spec.command) for e in expressions(part)}
    match = REFERENCE.fullmatch(expression)
    if match and match.group(1) == "search_space" and spec.sweep is not None:
        return  # a sweep trial's: checked against search_space by spec/sweep.py
    if not match or match.group(1) == "search_space":
        raise _at_expression(
            spec,
            expression,
            f"command uses ${{{{{expression}}}}}: only ${{{{inputs.<name>}}}}"
            " and ${{outputs.<name>}} are allowed in a command job",
        )
    kind, name = match.groups()
    declared = spec.inputs if kind == "inputs" else spec.outputs
    if name not in declared and expression not in optional:
        names = ", ".join(sorted(declared)) or "none"
        raise _at_expression(
            spec,
            expression,
            f"command uses ${{{{{kind}.{name}}}}} but {kind} declares no"
            f" {name!r} (declared: {names}); add it under {kind}:",
        )
    item = spec.inputs.get(name) if kind == "inputs" else None
    required = expressions(required_part(spec.command))
    if item is not None and expression in required and item.optional and not item.has_value:
        raise _at_expression(
            spec,
            expression,
            f"command uses optional input {name!r} outside $[[...]]: wrap it,"
            f" e.g. $[[--{name} ${{{{inputs.{name}}}}}]], or give it a value",
        )


def job_from_mapping(
    raw: Dict[str, Any],
    path: Path,
    shown: str,
    kind: str = "job",
    sweep: Any = None,
    inline: bool = False,
) -> JobSpec:
    """A checked JobSpec from a command job (`kind` job), command component (component)
    or inline pipeline node (node) mapping declared in `path` (its paths are relative
    to `path`'s folder); `sweep` marks the trial template of a sweep job file. An
    `inline` component (written inside a pipeline node) is anonymous to Azure ML:
    `load_job` does not apply the component name rule to it.

    Every problem of these fields is reported at once (checks.Collector): unknown
    fields, the command, names, sections, each input and output, code, distribution,
    resources, the environment and each `${{...}}`; raises UserError (file:line: ...)
    for one, Problems for several."""
    found = Collector()
    fields, schema = KINDS[kind]
    found.keep(partial(check_known_fields, raw, fields, shown, schema))
    command = found.keep(partial(_check_command, raw, shown), "") or ""
    if not inline:
        found.keep(partial(check_names, raw, shown, kind))
    inputs_raw = found.keep(partial(section, raw, "inputs", shown)) or {}
    outputs_raw = found.keep(partial(section, raw, "outputs", shown)) or {}
    env_raw = found.keep(partial(section, raw, "environment_variables", shown)) or {}
    found.keep(partial(check_variable_names, env_raw, shown))
    resources = found.keep(partial(section, raw, "resources", shown)) or {}
    code = raw.get("code")
    if code is not None and (not isinstance(code, str) or not code.strip()):
        found.add(fail_at(shown, line_of(raw, "code"), "code: must be a path (e.g. code: .)"))
    inputs = parse_inputs(inputs_raw, shown, kind, found)
    outputs = parse_outputs(outputs_raw, shown, found)
    distribution = found.keep(partial(parse_distribution, raw, shown))
    instance_count = found.keep(
        partial(_positive, resources, "instance_count", shown, 1, within="resources."), 1
    )
    environment = found.keep(
        partial(
            parse_environment,
            raw.get("environment"),
            path,
            f"{shown}:{line_of(raw, 'environment') or 1}",
        )
    )
    spec = JobSpec(
        kind=kind,
        file=path,
        shown_as=shown,
        command=command,
        environment=environment,  # type: ignore[arg-type]  # None only when refused below
        code=code,
        inputs=inputs,
        outputs=outputs,
        environment_variables={str(k): str(v) for k, v in env_raw.items()},
        distribution=distribution,
        instance_count=instance_count or 1,
        raw=raw,
        sweep=sweep,
    )
    found.keep(partial(check_references, spec))
    found.raise_if_any()
    return spec


def load_job(path: Path, shown_as: str = "") -> JobSpec:
    """Read and check one command job file, or a command component file (run as a job
    with its inputs' defaults); UserError (file:line: ...) on a problem.

    A sweep job file (`type: sweep`) gives its trial as a command JobSpec whose
    `sweep` is the SweepSpec (amlops/spec/sweep.py)."""
    shown = shown_as or str(path)
    raw = load_yaml(path, shown)
    if not isinstance(raw, dict):
        raise fail_at(shown, 1, "expected a mapping of command job fields")
    if raw.get("type") == "sweep":
        from amlops.spec.sweep import parse_sweep  # only for sweeps: ~5 ms of every run

        return parse_sweep(raw, path, shown, parse_job).trial
    if raw.get("type") == "parallel":
        from amlops.spec.parallel import parallel_job

        return parallel_job(raw, path, shown, job_from_mapping)
    if raw.get("type") == "spark":
        from amlops.spec.spark import spark_job

        return spark_job(raw, path, shown, job_from_mapping)
    if is_component(raw):
        spec = job_from_mapping(raw, path, shown, "component")
        spec.name = str(raw.get("name") or path.stem)
        return spec
    _check_type(raw, shown)
    return job_from_mapping(raw, path, shown)


def parse_job(raw: Dict[str, Any], path: Path, shown: str, sweep: Any = None) -> JobSpec:
    """A command job's fields (`raw`, as loaded from `path`) as a JobSpec; `sweep` marks
    the trial template of a sweep job file."""
    return job_from_mapping(raw, path, shown, sweep=sweep)


def is_component(raw: Dict[str, Any]) -> bool:
    """Whether a mapping is a command component (its $schema says so)."""
    return "commandComponent" in str(raw.get("$schema", ""))


def load_job_file(project: Project, given: str) -> JobSpec:
    """JOB=<path> without EXP: any command job, sweep job or command component file
    (relative to the project)."""
    path = (project.root / given).resolve()
    if not path.is_file():
        raise UserError(f"JOB={given!r}: no such file (give a path relative to the project)")
    spec = load_job(path, project.relative(path))
    if not spec.name and path.name not in ("job.yaml", "job.yml"):
        spec.name = path.stem  # jobs/train.yaml runs as `train`
    return spec


def load_experiment(project: Project, experiment: str, job_file: str = "") -> JobSpec:
    """The checked job file of src/<experiment>: job.yaml (or job.yml), or `job_file`
    (JOB=sweep.yaml), another job file in that folder; without an experiment,
    `job_file` is any job or component file (load_job_file)."""
    if job_file and not experiment:
        return load_job_file(project, job_file)
    if job_file:
        path = _other_job_file(project, experiment, job_file)
    else:
        path = project.job_file(experiment)
    return load_job(path, project.relative(path))


def _other_job_file(project: Project, experiment: str, name: str) -> Path:
    """src/<experiment>/<name>: a .yaml/.yml file directly in the experiment's folder."""
    folder = project.experiment_dir(experiment)
    path = folder / name
    if "/" in name or "\\" in name or not name.endswith((".yaml", ".yml")) or not path.is_file():
        found = sorted(
            p.name for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
        )
        raise UserError(
            f"JOB={name}: no such job file in src/{experiment}/ (its YAML files:"
            f" {', '.join(found) or 'none'})"
        )
    return path


def other_job_files(project: Project, experiment: str) -> List[str]:
    """Job files of src/<experiment>/ besides the one EXP runs (what JOB= picks, e.g. a
    sweep.yaml): .yaml/.yml files there that are jobs by their content (amlops.filekinds:
    a conda, environment, component or data file is none); a file that is not readable
    YAML is listed too, so its check says what is wrong with it."""
    folder = project.src / experiment
    chosen = job_file_in(folder)
    found = []
    for path in yaml_files(folder):
        if path == chosen:
            continue
        kind = kind_of(path, project.relative(path))
        if kind == INVALID or kind in JOB_KINDS - {PIPELINE}:
            found.append(path.name)
    return found
