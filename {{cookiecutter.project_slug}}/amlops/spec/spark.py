"""Azure ML Spark jobs (a `sparkJob` file): read and checked offline, and turned into the
command job that runs them locally on a real Spark in local mode.

Fields are azure-ai-ml's (`_schema/job/spark_job.py`, `_schema/job/parameterized_spark.py`,
`_schema/spark_resource_configuration.py`): code, entry (file, or spark_main_class),
py_files, jars, files, archives, conf, args, environment, inputs, outputs, resources
(instance_type, runtime_version) or compute, identity. The conf rules checked are the
SDK's (`entities/_job/spark_helpers.py` _validate_spark_configurations): without dynamic
allocation spark.driver.cores, spark.driver.memory, spark.executor.cores,
spark.executor.memory and spark.executor.instances are all required; with it
spark.dynamicAllocation.minExecutors/maxExecutors too, 0 < min <= max.

Locally the job is a command job (so it gets the command job's run folder, inputs,
outputs, tracking and venv runtime): its command is
`spark-submit --master local[N] --conf k=v ... [--py-files ...] [--jars ...] [--files ...]
[--archives ...] <entry.file> <args>`, run in the code folder, in a venv whose
requirements are `pyspark==<runtime_version>.*` (default 3.4) plus the pip packages of the
job's conda environment. N (our choice: local mode has one JVM, so it gets the cores
the serverless pool would give the driver and its executors together) is
spark.driver.cores + spark.executor.cores x executors (spark.executor.instances, or
spark.dynamicAllocation.maxExecutors with dynamic allocation). Every conf key is passed
through: spark.driver.memory sizes the one local JVM; executor settings have no effect in
local mode. Nothing is dropped from what is submitted: the file itself is sent.

A `type: spark` pipeline node runs the same way (pipeline_loader.py): inline (the node is a
sparkJob, azure-ai-ml's PipelineSparkJobSchema; its inputs declared from their bindings),
or a node over a spark component (file or inline; SparkSchema), which azure-ai-ml builds as
`entities/_builders/spark.py` Spark.__init__ does: entry, py_files, jars, files,
archives, args, code and environment are the component's (a node's own are not used:
one warning says so), conf is the node's when it has one (the component's driver/executor
sizes filling the keys it lacks), else the component's, and resources (runtime_version)
the node's."""

import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from amlops.console import say
from amlops.errors import UserError
from amlops.yamlfile import LineMap, line_of

# spec/job.py's job_from_mapping, handed in (job.py imports this module).
JobReader = Callable[..., Any]

JOB_FIELDS = {
    "$schema", "type", "name", "display_name", "description", "tags", "properties",
    "experiment_name", "compute", "services", "identity", "inputs", "outputs", "resources",
    "code", "entry", "py_files", "jars", "files", "archives", "conf", "environment", "args",
    "parent_job_name",
}  # fmt: skip
# A spark component (sparkComponent schema; azure-ai-ml _schema/component/spark_component.py).
COMPONENT_FIELDS = {
    "$schema", "type", "name", "version", "display_name", "description", "tags",
    "is_deterministic", "additional_includes", "properties", "inputs", "outputs", "code",
    "entry", "py_files", "jars", "files", "archives", "conf", "args", "environment",
}  # fmt: skip
# A spark node over a component (azure-ai-ml _schema/pipeline/component_job.py SparkSchema
# with BaseNodeSchema's fields); an inline spark node has a sparkJob's fields (JOB_FIELDS).
NODE_FIELDS = {
    "type", "component", "name", "display_name", "description", "tags", "properties",
    "comment", "experiment_name", "compute", "resources", "identity", "inputs", "outputs",
    "conf", "entry", "py_files", "jars", "files", "archives", "args", "code", "environment",
}  # fmt: skip
KINDS = {
    "job": (JOB_FIELDS, "sparkJob schema"),
    "component": (COMPONENT_FIELDS, "sparkComponent schema"),
    "node": (JOB_FIELDS, "spark node fields (an inline node is a sparkJob)"),
    # a component with its node's resources (component_node_job)
    "component_node": (COMPONENT_FIELDS | {"resources"}, "sparkComponent schema"),
}
# What a component node takes from its component whatever the node says.
FROM_COMPONENT = ("entry", "py_files", "jars", "files", "archives", "args", "code", "environment")
# conf keys a node's own conf takes from the component when it lacks them (the SDK's
# driver_cores ... dynamic_allocation_max_executors attributes).
SIZING_KEYS = (
    "spark.driver.cores", "spark.driver.memory", "spark.executor.cores",
    "spark.executor.memory", "spark.executor.instances", "spark.dynamicAllocation.enabled",
    "spark.dynamicAllocation.minExecutors", "spark.dynamicAllocation.maxExecutors",
)  # fmt: skip
ENTRY_FIELDS = {"file", "spark_main_class"}
LISTS = ("py_files", "jars", "files", "archives")
DEFAULT_RUNTIME = "3.4"
# What a local Spark job's venv gets when the job names no environment: an image is needed
# by the command-job reader; only its conda pip packages are used (Azure's serverless Spark
# likewise uses only an environment's conda dependencies).
PLACEHOLDER_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
JAVA_MISSING = (
    "Spark needs a Java runtime: install openjdk-17-jre-headless (apt; or any Java 8/11/17)"
    " or set JAVA_HOME to one"
)
DIFFERS = (
    "differs from Azure's serverless Spark: a single local JVM (local[{cores}]) instead of"
    " a pool; no abfss:// direct access (inputs are local paths); runtime_version {runtime}"
    " is the local pyspark {runtime}.*; resources.instance_type is not used"
)


@dataclass
class SparkSpec:
    """A checked Spark job (paths relative to `file`'s folder). `conf` values are strings
    as spark-submit takes them; `cores` is local[N]'s N."""

    file: Path
    shown_as: str
    raw: Dict[str, Any]
    entry_file: str
    main_class: str
    conf: Dict[str, str]
    cores: int
    runtime_version: str = DEFAULT_RUNTIME
    args: str = ""
    lists: Dict[str, List[str]] = field(default_factory=dict)
    declared_environment: Any = None  # the file's own EnvironmentSpec, when it names one

    def local_problem(self) -> str:
        """Why this cannot run on a laptop (one line), or empty."""
        if not self.entry_file:
            return (
                f"entry.spark_main_class {self.main_class!r} (a jar-only entry) does not run"
                " locally here; give entry.file (a Python file) or submit it with make job"
            )
        return ""

    def differs(self) -> str:
        return DIFFERS.format(cores=self.cores, runtime=self.runtime_version)


def fail(shown: str, line: int, message: str) -> UserError:
    return UserError(f"{shown}:{line}: {message}" if line else f"{shown}: {message}")


def java_problem(env: Optional[Dict[str, str]] = None) -> str:
    """JAVA_MISSING when neither JAVA_HOME/bin/java nor `java` on PATH exists (what
    pyspark's spark-submit looks for), else empty."""
    env = os.environ if env is None else env
    home = env.get("JAVA_HOME")
    if home:
        return (
            ""
            if Path(home, "bin", "java").is_file()
            else f"{JAVA_MISSING} (JAVA_HOME={home} has no bin/java)"
        )
    return "" if shutil.which("java", path=env.get("PATH")) else JAVA_MISSING


def _count(conf: Dict[str, Any], key: str, shown: str, line: int, minimum: int = 1) -> int:
    value = conf[key]
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < minimum:
        raise fail(shown, line, f"conf: {key} must be a whole number >= {minimum}, got {value!r}")
    return int(text)


def check_conf(conf: Dict[str, Any], shown: str, line: int) -> int:
    """The conf's local[N] cores after Azure ML's rules (module docstring); UserError
    naming the key otherwise."""
    dynamic = str(conf.get("spark.dynamicAllocation.enabled", "")).lower() == "true"
    required = ["spark.driver.cores", "spark.driver.memory", "spark.executor.cores"]
    required.append("spark.executor.memory")
    if dynamic:
        required += ["spark.dynamicAllocation.minExecutors", "spark.dynamicAllocation.maxExecutors"]
    else:
        required.append("spark.executor.instances")
    missing = [key for key in required if conf.get(key) in (None, "")]
    if missing:
        why = "with dynamic allocation" if dynamic else "without spark.dynamicAllocation.enabled"
        raise fail(shown, line, f"conf: {', '.join(missing)} required {why} (Azure ML's rule)")
    for key in ("spark.driver.memory", "spark.executor.memory"):
        if not re.fullmatch(r"\d+[kmgt]?", str(conf[key]).strip().lower()):
            raise fail(shown, line, f"conf: {key} must be a size such as 2g, got {conf[key]!r}")
    driver = _count(conf, "spark.driver.cores", shown, line)
    cores = _count(conf, "spark.executor.cores", shown, line)
    if dynamic:
        low = _count(conf, "spark.dynamicAllocation.minExecutors", shown, line)
        high = _count(conf, "spark.dynamicAllocation.maxExecutors", shown, line)
        if low > high:
            raise fail(
                shown,
                line,
                "conf: spark.dynamicAllocation.minExecutors must be <= maxExecutors"
                f" ({low} > {high})",
            )
        executors = high
    else:
        executors = _count(conf, "spark.executor.instances", shown, line, 0)
    return driver + cores * executors


def runtime_version(resources: Any, shown: str) -> str:
    """resources.runtime_version (default DEFAULT_RUNTIME), a Spark version such as 3.4;
    UserError naming it otherwise."""
    if not isinstance(resources, dict):
        return DEFAULT_RUNTIME
    runtime = str(resources.get("runtime_version") or DEFAULT_RUNTIME)
    if not re.fullmatch(r"3\.\d+", runtime):
        raise fail(
            shown,
            line_of(resources, "runtime_version"),
            f"resources.runtime_version: give a Spark version such as 3.4, got {runtime!r}",
        )
    return runtime


def parse_spark(raw: Dict[str, Any], path: Path, shown: str, kind: str = "job") -> SparkSpec:
    """A checked SparkSpec from a sparkJob (`kind` job), spark component (component) or
    inline spark node (node) mapping loaded from `path`; UserError (file:line: field:
    fix) on a problem."""
    fields, schema = KINDS[kind]
    for key in raw:
        if key not in fields:
            raise fail(shown, line_of(raw, key), f"unknown field {key!r} (see the {schema})")
    entry = raw.get("entry")
    entry_line = line_of(raw, "entry")
    if not isinstance(entry, dict) or not (set(entry) & ENTRY_FIELDS):
        raise fail(shown, entry_line, "entry: give file: <python file> (or spark_main_class)")
    for key in entry:
        if key not in ENTRY_FIELDS:
            raise fail(shown, line_of(entry, key) or entry_line, f"entry: unknown field {key!r}")
    conf = raw.get("conf") or {}
    if not isinstance(conf, dict):
        raise fail(shown, line_of(raw, "conf"), "conf: must be a mapping of Spark settings")
    cores = check_conf(conf, shown, line_of(raw, "conf"))
    code = str(raw.get("code") or ".")
    entry_file = str(entry.get("file") or "")
    if entry_file and not (path.parent / code / entry_file).is_file():
        raise fail(
            shown,
            line_of(entry, "file") or entry_line,
            f"entry.file: {code}/{entry_file} does not exist",
        )
    lists: Dict[str, List[str]] = {}
    for key in LISTS:
        value = raw.get(key) or []
        if not isinstance(value, list):
            raise fail(shown, line_of(raw, key), f"{key}: must be a list of paths")
        lists[key] = [str(v) for v in value]
    runtime = runtime_version(raw.get("resources"), shown)
    args = raw.get("args") or ""
    return SparkSpec(
        file=path,
        shown_as=shown,
        raw=raw,
        entry_file=entry_file,
        main_class=str(entry.get("spark_main_class") or ""),
        conf={str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in conf.items()},
        cores=cores,
        runtime_version=runtime,
        args=" ".join(line.strip() for line in str(args).splitlines() if line.strip()),
        lists=lists,
    )


def submit_command(spec: SparkSpec) -> str:
    """`spark-submit --master local[N] ...` for `spec` (run in its code folder); its args
    keep their `${{inputs.x}}`/`${{outputs.y}}` for the command-job resolver."""
    q = shlex.quote
    parts = ["spark-submit", "--master", f"local[{spec.cores}]"]
    for key, value in spec.conf.items():
        parts += ["--conf", q(f"{key}={value}")]
    for key, paths in spec.lists.items():
        if paths:
            parts += [f"--{key.replace('_', '-')}", q(",".join(paths))]
    parts.append(q(spec.entry_file or "-"))
    if spec.args:
        parts.append(spec.args)
    return " ".join(parts)


def _pip_lines(environment: Any) -> List[str]:
    """The pip packages of the job's own environment (its conda file's pip section)."""
    if environment is None or not environment.has_conda:
        return []
    lines: List[str] = []
    for dep in environment.conda_spec().get("dependencies") or []:
        if isinstance(dep, dict):
            lines += [str(item) for item in dep.get("pip") or []]
    return lines


def spark_job(
    raw: Dict[str, Any],
    path: Path,
    shown: str,
    job_from_mapping: JobReader,
    kind: str = "job",
    ports: Optional[Dict[str, Any]] = None,
    inline: bool = False,
) -> Any:
    """A sparkJob file, spark component (`kind` component; component_node: with its
    node's resources) or inline spark node (node), `raw` loaded from `path`, as the
    command JobSpec that runs it locally (its command spark-submit, its environment a
    conda env with pyspark, its `spark` the SparkSpec); `raw` stays the file's own, for
    what is submitted. `ports`: a node's inputs and
    outputs declared from its bindings (default `raw`'s own); `inline`: a component
    written inside a node (anonymous: no name rule)."""
    from amlops.spec.environment import parse_environment

    spec = parse_spark(raw, path, shown, kind)
    declared = None
    if raw.get("environment") is not None:
        declared = parse_environment(
            raw["environment"], path, f"{shown}:{line_of(raw, 'environment') or 1}"
        )
    spec.declared_environment = declared
    pip = [f"pyspark=={spec.runtime_version}.*"] + _pip_lines(declared)
    mapping = LineMap()
    mapping.lines = dict(getattr(raw, "lines", {}))
    keep = {"job": ("name", "experiment_name"), "node": ()}.get(kind, ("name",))
    for key in keep + ("inputs", "outputs", "code"):
        if key in raw:
            mapping[key] = raw[key]
    mapping.update(ports or {})
    mapping["environment"] = {
        "image": PLACEHOLDER_IMAGE,
        "conda_file": {"name": "spark", "dependencies": [{"pip": pip}]},
    }
    mapping["command"] = submit_command(spec)
    reader_kind = "component" if kind.startswith("component") else kind
    job = job_from_mapping(mapping, path, shown, reader_kind, inline=inline)
    job.raw = raw
    job.spark = spec
    return job


def node_conf(component: Dict[str, Any], node: Dict[str, Any]) -> Dict[str, Any]:
    """The conf a spark node over `component` runs with: the node's when it has one, the
    component's driver/executor sizes (SIZING_KEYS) filling the keys it lacks; else the
    component's (azure-ai-ml entities/_builders/spark.py Spark.__init__)."""
    own = node.get("conf")
    base = component.get("conf") or {}
    if not own:
        return base
    if not isinstance(own, dict):
        return own  # refused by parse_spark, with the node's line
    merged = LineMap(own.items())
    merged.lines = dict(getattr(own, "lines", {}))
    if isinstance(base, dict):
        for key in SIZING_KEYS:
            if key not in merged and key in base:
                merged[key] = base[key]
    return merged


def component_node_job(
    document: Dict[str, Any],
    node: Dict[str, Any],
    path: Path,
    shown: str,
    node_shown: str,
    job_from_mapping: JobReader,
    inline: bool = False,
) -> Any:
    """A spark component (`document`, from `path`, shown as `shown`) used by the pipeline
    node `node` (in the pipeline file shown as `node_shown`) as the command JobSpec that
    runs it locally: the node's conf and resources (see node_conf and the module
    docstring); a node's own entry, args... are not used, and one warning says so."""
    conf = node_conf(document, node)
    if node.get("conf"):  # the node's conf is checked where it is written
        if not isinstance(node["conf"], dict):
            raise fail(node_shown, line_of(node, "conf"), "conf: must be a mapping")
        check_conf(conf, node_shown, line_of(node, "conf"))
    runtime_version(node.get("resources"), node_shown)
    ignored = [key for key in FROM_COMPONENT if key in node]
    if ignored:
        say(
            f"warning: {node_shown}:{line_of(node, ignored[0])}: {', '.join(ignored)} of a"
            " spark node over a component are the component's (azure-ai-ml does not use the"
            " node's): set them in the component"
        )
    merged = LineMap(document.items())
    merged.lines = dict(getattr(document, "lines", {}))
    if conf:
        merged["conf"] = conf
    if node.get("resources") is not None:
        merged["resources"] = node["resources"]
    job = spark_job(merged, path, shown, job_from_mapping, "component_node", inline=inline)
    job.raw = document
    job.name = str(document.get("name") or path.stem)
    return job


def inline_node_job(
    raw: Dict[str, Any],
    declared_inputs: Dict[str, Any],
    declared_outputs: Dict[str, Any],
    path: Path,
    shown: str,
    job_from_mapping: JobReader,
) -> Any:
    """An inline `type: spark` pipeline node (`raw`, a sparkJob in the pipeline file `path`)
    as the command JobSpec that runs it locally; its inputs declared from their bindings
    (`declared_inputs`: name -> {type, mode...}) and `declared_outputs` (name -> mapping)."""
    ports = {"inputs": declared_inputs, "outputs": declared_outputs}
    return spark_job(raw, path, shown, job_from_mapping, "node", ports=ports)


def is_spark_component(document: Any) -> bool:
    """A spark component mapping (type: spark)."""
    return isinstance(document, dict) and str(document.get("type", "")) == "spark"
