"""Azure ML parallel jobs: a `parallelJob` file, a parallel component, a `type: parallel`
pipeline node; read and checked offline, and turned into the command job that runs them
locally.

Fields and defaults are azure-ai-ml's (`_schema/job/parameterized_parallel.py`,
`_schema/job/parallel_job.py`, `_schema/component/parallel_component.py`,
`_schema/component/parallel_task.py`, `_schema/component/retry_settings.py`,
`entities/_builders/parallel.py`): logging_level INFO, max_concurrency_per_instance 1,
error_threshold -1, mini_batch_error_threshold -1 (-1: every failure tolerated);
mini_batch_size is a string matching ^\\d+([kKmMgG][bB])*$ (a file count for file
inputs, a size such as 10kb/1mb for tabular ones). Defaults the service applies (Azure ML
docs, "Use parallel jobs in pipelines"): mini_batch_size 10 files, retry_settings
max_retries 3 tries, timeout 60 s.

Locally (amlops/parallel/driver.py, staged into the code root as DRIVER_NAME) the job
runs as a command job whose command is the driver, so it uses the job's own environment,
inputs, outputs, run folder and tracking exactly as command jobs do. Nothing is dropped:
the file itself is what validation and submission send."""

import ast
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from amlops.errors import UserError
from amlops.spec.checks import COMMON_COMPONENT_FIELDS
from amlops.yamlfile import LineMap, line_of

# spec/job.py's job_from_mapping(raw, path, shown, kind) -> JobSpec, handed in by the
# callers (spec/job.py and spec/pipeline_loader.py) so that this module does not import
# job.py back.
JobReader = Callable[..., Any]

DRIVER_NAME = "_amlops_parallel_driver.py"
# The driver script, staged by path: the spec layer imports nothing of amlops.parallel.
DRIVER_SOURCE = Path(__file__).resolve().parent.parent / "parallel" / "driver.py"

PARAMETERIZED = {
    "logging_level",
    "task",
    "mini_batch_size",
    "partition_keys",
    "input_data",
    "resources",
    "retry_settings",
    "max_concurrency_per_instance",
    "error_threshold",
    "mini_batch_error_threshold",
    "environment_variables",
}
JOB_FIELDS = PARAMETERIZED | {
    "$schema",
    "type",
    "name",
    "display_name",
    "description",
    "tags",
    "properties",
    "experiment_name",
    "compute",
    "services",
    "identity",
    "inputs",
    "outputs",
    "parent_job_name",
}
COMPONENT_FIELDS = (
    (PARAMETERIZED - {"environment_variables"}) | COMMON_COMPONENT_FIELDS | {"is_deterministic"}
)
NODE_FIELDS = PARAMETERIZED | {
    "type",
    "component",
    "compute",
    "inputs",
    "outputs",
    "identity",
    "name",
    "display_name",
    "description",
    "tags",
    "properties",
    "comment",
    "experiment_name",
}
KINDS = {
    "job": (JOB_FIELDS, "parallelJob schema"),
    "component": (COMPONENT_FIELDS, "parallelComponent schema"),
    "node": (NODE_FIELDS, "parallel node fields"),
}
TASK_FIELDS = {
    "type",
    "code",
    "entry_script",
    "program_arguments",
    "model",
    "append_row_to",
    "environment",
}
TASK_TYPES = {"run_function", "model", "function"}
LOGGING_LEVELS = {"DEBUG", "INFO", "WARNING"}
RETRY_FIELDS = {"max_retries", "timeout"}
DEFAULT_MINI_BATCH_SIZE = "10"
DEFAULT_MAX_RETRIES = 3
DEFAULT_TIMEOUT_S = 60
DEFAULT_APPEND_ROW_FILE = "parallel_run_step.txt"


@dataclass
class ParallelSpec:
    """A checked parallel job, component or node (paths relative to `file`'s folder).

    `input_data` and `append_row_to` are the names of the input and output they bind
    (`${{inputs.<name>}}`, `${{outputs.<name>}}`); `timeout_s` is seconds a mini-batch
    may take per try, `max_retries` the tries in all."""

    file: Path
    shown_as: str
    raw: Dict[str, Any]
    kind: str
    entry_script: str
    code: Optional[str]
    environment: Any
    input_data: str
    mini_batch_size: str = DEFAULT_MINI_BATCH_SIZE
    error_threshold: int = -1
    mini_batch_error_threshold: int = -1
    max_concurrency_per_instance: int = 1
    instance_count: int = 1
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout_s: int = DEFAULT_TIMEOUT_S
    logging_level: str = "INFO"
    append_row_to: str = ""
    append_row_file_name: str = DEFAULT_APPEND_ROW_FILE
    append_row_is_file: bool = False  # append_row_to binds a uri_file output: the file itself
    output_action: str = "append_row"
    program_arguments: str = ""
    task_type: str = "run_function"
    partition_keys: List[str] = field(default_factory=list)
    input_type: str = "uri_folder"  # the type of the input input_data binds

    @property
    def workers(self) -> int:
        """Worker processes: max_concurrency_per_instance x instance_count."""
        return self.max_concurrency_per_instance * self.instance_count

    def local_problem(self) -> str:
        """Why this cannot run on a laptop (one line), or empty."""
        if self.task_type != "run_function":
            return f"task type {self.task_type!r} does not run locally (run_function does)"
        if self.partition_keys:
            return "partition_keys (mltable partitions) do not run locally"
        if self.input_type == "mltable":
            return (
                "input_data is an mltable (tabular) input: Azure ML hands run() pandas"
                " DataFrames read by the mltable package, which is not available offline here;"
                " run it locally on a uri_folder of files, or in Azure ML (make pipeline)"
            )
        return ""


def fail(shown: str, line: int, message: str) -> UserError:
    return UserError(f"{shown}:{line}: {message}" if line else f"{shown}: {message}")


def _section(raw: Dict[str, Any], key: str, shown: str) -> Dict[str, Any]:
    found = raw.get(key) or {}
    if not isinstance(found, dict):
        raise fail(shown, line_of(raw, key), f"'{key}' must be a mapping")
    return found


def _check_fields(raw: Dict[str, Any], allowed: set, shown: str, schema: str) -> None:
    for key in raw:
        if key not in allowed:
            raise fail(shown, line_of(raw, key), f"unknown field {key!r} (see the {schema})")


def _integer(raw: Dict[str, Any], key: str, shown: str, default: int, minimum: int) -> int:
    value = raw.get(key, default)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise fail(
            shown,
            line_of(raw, key),
            f"{key} must be a whole number >= {minimum}, got {value!r}",
        )
    return value


def _binding(
    text: Any, kind: str, declared: Dict[str, Any], shown: str, line: int, key: str
) -> str:
    """The name in `${{<kind>.<name>}}`, which must be a declared input/output."""
    value = str(text or "").strip()
    prefix, suffix = "${{" + kind + ".", "}}"
    inner = value[len(prefix) : -len(suffix)].strip() if value.startswith(prefix) else ""
    if not value.endswith(suffix) or not inner.isidentifier():
        raise fail(shown, line, f"{key}: give ${{{{{kind}.<name>}}}}, got {value!r}")
    if inner not in declared:
        names = ", ".join(sorted(declared)) or "none"
        raise fail(shown, line, f"{key}: no {kind[:-1]} {inner!r} is declared ({kind}: {names})")
    return inner


def mini_batch_size(value: Any, shown: str, line: int) -> str:
    """mini_batch_size as the SDK takes it: a count or a size (10kb, 1mb, 1gb)."""
    text = str(value).strip()
    digits = text.rstrip("kKmMgGbB")
    unit = text[len(digits) :].lower()
    if not digits.isdigit() or int(digits) < 1 or unit not in ("", "kb", "mb", "gb"):
        raise fail(
            shown,
            line,
            f'mini_batch_size {value!r} does not parse: give a file count ("10") or a'
            ' size ("10kb", "1mb", "1gb")',
        )
    return text


def check_entry_script(path: Path, shown: str, line: int, shown_path: str) -> None:
    """The entry script exists and defines init() and run() at its top level (read
    without running it; a file that does not parse is left to Python to report)."""
    if not path.is_file():
        raise fail(shown, line, f"task.entry_script: {shown_path} does not exist")
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError):
        return
    defined = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.asname or alias.name for alias in node.names]
            if "*" in names:
                return  # a star import may bring them: left to the run to tell
            defined.update(names)
    missing = [f"{name}()" for name in ("init", "run") if name not in defined]
    if missing:
        raise fail(
            shown,
            line,
            f"task.entry_script {shown_path} defines no {' and no '.join(missing)}:"
            " a parallel entry script defines init() and run(mini_batch)",
        )


def parse_parallel(
    raw: Dict[str, Any],
    path: Path,
    shown: str,
    kind: str = "job",
    declared_inputs: Optional[Dict[str, Any]] = None,
    declared_outputs: Optional[Dict[str, Any]] = None,
) -> ParallelSpec:
    """A checked ParallelSpec from a parallel job (`kind` job), component (component) or
    inline node (node) mapping loaded from `path`; the inputs/outputs it binds are
    `raw`'s own unless given. UserError (file:line: field: fix) on a problem."""
    fields, schema = KINDS[kind]
    _check_fields(raw, fields, shown, schema)
    task = _section(raw, "task", shown)
    task_line = line_of(raw, "task")
    if not task:
        raise fail(shown, task_line, "task: is required (type: run_function, code, entry_script)")
    _check_fields(task, TASK_FIELDS, shown, "parallel task fields")
    task_type = str(task.get("type", ""))
    if task_type not in TASK_TYPES:
        raise fail(
            shown,
            line_of(task, "type") or task_line,
            f"task.type must be one of {', '.join(sorted(TASK_TYPES))}, got {task_type!r}",
        )
    if task.get("environment") is None:
        raise fail(shown, task_line, "task.environment: is required (the schema's rule)")
    inputs = declared_inputs if declared_inputs is not None else _section(raw, "inputs", shown)
    outputs = declared_outputs if declared_outputs is not None else _section(raw, "outputs", shown)
    if raw.get("input_data") is None:
        raise fail(shown, 0, "input_data: is required (e.g. input_data: ${{inputs.data}})")
    input_data = _binding(
        raw["input_data"], "inputs", inputs, shown, line_of(raw, "input_data"), "input_data"
    )
    append_row_to = ""
    if task.get("append_row_to") is not None:
        append_row_to = _binding(
            task["append_row_to"],
            "outputs",
            outputs,
            shown,
            line_of(task, "append_row_to"),
            "task.append_row_to",
        )
    bound = outputs.get(append_row_to) if append_row_to else None
    bound_type = bound.get("type") if isinstance(bound, dict) else getattr(bound, "type", None)
    retry = _section(raw, "retry_settings", shown)
    _check_fields(retry, RETRY_FIELDS, shown, "retry_settings fields (max_retries, timeout)")
    resources = _section(raw, "resources", shown)
    level = str(raw.get("logging_level", "INFO")).upper()
    level = "WARNING" if level == "WARN" else level
    if level not in LOGGING_LEVELS:
        raise fail(
            shown,
            line_of(raw, "logging_level"),
            f"logging_level must be DEBUG, INFO or WARNING, got {raw.get('logging_level')!r}",
        )
    code = task.get("code")
    entry = str(task.get("entry_script") or "")
    if task_type == "run_function":
        if not entry:
            raise fail(shown, task_line, "task.entry_script: is required for run_function")
        base = path.parent / (str(code) if code else ".")
        check_entry_script(
            base / entry,
            shown,
            line_of(task, "entry_script") or task_line,
            f"{code or '.'}/{entry}",
        )
    spec = ParallelSpec(
        file=path,
        shown_as=shown,
        raw=raw,
        kind=kind,
        entry_script=entry,
        code=None if code is None else str(code),
        environment=task.get("environment"),
        input_data=input_data,
        mini_batch_size=mini_batch_size(
            raw.get("mini_batch_size", DEFAULT_MINI_BATCH_SIZE),
            shown,
            line_of(raw, "mini_batch_size"),
        ),
        error_threshold=_integer(raw, "error_threshold", shown, -1, -1),
        mini_batch_error_threshold=_integer(raw, "mini_batch_error_threshold", shown, -1, -1),
        max_concurrency_per_instance=_integer(raw, "max_concurrency_per_instance", shown, 1, 1),
        instance_count=_integer(resources, "instance_count", shown, 1, 1),
        max_retries=_integer(retry, "max_retries", shown, DEFAULT_MAX_RETRIES, 1),
        timeout_s=_integer(retry, "timeout", shown, DEFAULT_TIMEOUT_S, 1),
        logging_level=level,
        append_row_to=append_row_to,
        append_row_is_file=bound_type == "uri_file",
        output_action="append_row" if append_row_to else "summary_only",
        program_arguments=str(task.get("program_arguments") or ""),
        task_type=task_type,
        partition_keys=[str(k) for k in raw.get("partition_keys") or []],
    )
    return spec


def driver_command(spec: ParallelSpec, input_ref: str = "", output_ref: str = "") -> str:
    """The command that runs `spec` through the driver in the job's working directory
    (the staged code root); `input_ref`/`output_ref` default to the bindings of the
    spec's own input_data / append_row_to."""
    q = shlex.quote
    input_ref = input_ref or "${{inputs.%s}}" % spec.input_data
    parts = [
        "python",
        DRIVER_NAME,
        "--entry_script",
        q(spec.entry_script),
        "--input_data",
        input_ref,
        "--mini_batch_size",
        q(spec.mini_batch_size),
        "--error_threshold",
        str(spec.error_threshold),
        "--mini_batch_error_threshold",
        str(spec.mini_batch_error_threshold),
        "--max_retries",
        str(spec.max_retries),
        "--timeout",
        str(spec.timeout_s),
        "--workers",
        str(spec.workers),
        "--logging_level",
        spec.logging_level,
        "--output_action",
        spec.output_action,
        "--append_row_file_name",
        q(spec.append_row_file_name),
        "--logs",
        "logs",
    ]
    if spec.append_row_to:
        parts += ["--append_row_to", output_ref or "${{outputs.%s}}" % spec.append_row_to]
        if spec.append_row_is_file:
            parts.append("--append_row_is_file")
    if spec.program_arguments:
        parts += ["--", spec.program_arguments]
    return " ".join(parts)


def command_mapping(spec: ParallelSpec, fields: Dict[str, Any]) -> Dict[str, Any]:
    """The command job/component/node mapping that runs `spec` locally: `fields` (inputs,
    outputs, environment_variables, resources... of the same kind) plus code, environment
    and the driver command; keeps the parallel file's line numbers."""
    mapping = LineMap()
    mapping.lines = dict(getattr(spec.raw, "lines", {}))
    task = spec.raw.get("task") or {}
    for key, value in fields.items():
        mapping[key] = value
    if spec.code is not None:
        mapping["code"] = spec.code
        mapping.lines["code"] = line_of(task, "code")
    mapping["environment"] = spec.environment
    mapping.lines["environment"] = line_of(task, "environment")
    mapping["command"] = driver_command(spec)
    return mapping


def parallel_job(raw: Dict[str, Any], path: Path, shown: str, job_from_mapping: JobReader) -> Any:
    """A parallel job file or parallel component file (`raw`, loaded from `path`) as
    the command JobSpec that runs it locally: its command is the driver, its `parallel`
    the ParallelSpec, its `staged_files` the driver; `raw` stays the file's own.
    `job_from_mapping` is spec/job.py's (handed in: job.py imports this module)."""
    kind = "component" if "parallelComponent" in str(raw.get("$schema", "")) else "job"
    spec = parse_parallel(raw, path, shown, kind)
    keep = ("inputs", "outputs", "environment_variables", "name", "experiment_name", "identity")
    if kind == "component":
        keep = ("inputs", "outputs", "name", "version")
    mapping = command_mapping(spec, {k: raw[k] for k in keep if k in raw})
    job = _with_driver(job_from_mapping(mapping, path, shown, kind), spec)
    if kind == "component":
        job.name = str(raw.get("name") or path.stem)
    return job


def _with_driver(job: Any, spec: ParallelSpec) -> Any:
    bound = job.inputs.get(spec.input_data)
    spec.input_type = bound.type if bound is not None else spec.input_type
    job.parallel = spec
    job.staged_files = {DRIVER_NAME: DRIVER_SOURCE}
    return job


def inline_node_job(
    raw: Dict[str, Any],
    declared_inputs: Dict[str, Any],
    declared_outputs: Dict[str, Any],
    path: Path,
    shown: str,
    job_from_mapping: JobReader,
) -> Any:
    """An inline `type: parallel` pipeline node (`raw`, in the pipeline file `path`) as the
    command JobSpec that runs it locally; its inputs declared from their bindings
    (`declared_inputs`: name -> {type, mode...}) and `declared_outputs` (name -> mapping);
    `job_from_mapping` is spec/job.py's."""
    spec = parse_parallel(raw, path, shown, "node", declared_inputs, declared_outputs)
    fields: Dict[str, Any] = {"inputs": declared_inputs, "outputs": declared_outputs}
    if raw.get("environment_variables"):
        fields["environment_variables"] = raw["environment_variables"]
    return _with_driver(job_from_mapping(command_mapping(spec, fields), path, shown, "node"), spec)


def component_node_job(
    document: Dict[str, Any],
    node: Dict[str, Any],
    path: Path,
    shown: str,
    job_from_mapping: JobReader,
) -> Any:
    """A parallel component (`document`, from `path`) used by pipeline node `node` as the
    command JobSpec that runs it locally: the node's parallel settings win over the
    component's (azure-ai-ml entities/_builders/parallel.py takes the node's value, else
    the component's); `job_from_mapping` is spec/job.py's."""
    merged = LineMap(document.items())
    merged.lines = dict(getattr(document, "lines", {}))
    for key in PARAMETERIZED - {"task", "environment_variables"}:
        if key in node:
            merged[key] = node[key]
    if "task" in node:
        merged["task"] = {**(document.get("task") or {}), **node["task"]}
    spec = parse_parallel(merged, path, shown, "component")
    fields = {k: document[k] for k in ("inputs", "outputs", "name", "version") if k in document}
    if node.get("environment_variables"):
        fields["environment_variables"] = node["environment_variables"]
        kind = "node"
        fields.pop("name", None)
        fields.pop("version", None)
    else:
        kind = "component"
    job = job_from_mapping(command_mapping(spec, fields), path, shown, kind)
    job.name = str(document.get("name") or path.stem)
    return _with_driver(job, spec)


def is_parallel_component(document: Any) -> bool:
    """A parallel component mapping (type: parallel)."""
    return isinstance(document, dict) and str(document.get("type", "")) == "parallel"
