"""What an Azure ML YAML file is, by its content, as Azure ML itself tells: `$schema`
first, then `type`, then the fields only one kind has.

Azure ML's CLI is told the kind by the command (`az ml job create`, `az ml component
create`, ...) and its docs name each file's schema in `$schema`
(https://azuremlschemas.azureedge.net/latest/<name>.schema.json); Microsoft's examples
keep a pipeline beside its component, conda, environment and data files. So the
project finds its job files, pipelines and the rest by what they hold, never by where
they sit or how they are named."""

import re
from pathlib import Path
from typing import Any

from amlops.errors import UserError
from amlops.yamlfile import load_yaml

# Kinds. Jobs are what EXP/JOB run and PIPELINE lists; the rest is validated as itself.
COMMAND, SWEEP, PIPELINE, PARALLEL, SPARK = "command", "sweep", "pipeline", "parallel", "spark"
JOB_KINDS = frozenset({COMMAND, SWEEP, PIPELINE, PARALLEL, SPARK})
COMPONENT_KINDS = frozenset(
    {"command_component", "parallel_component", "spark_component", "pipeline_component"}
)
INVALID = "invalid"  # not readable YAML: listed where it sits, so the checks say why
OTHER = ""  # YAML that is no Azure ML file (a config of some other tool)

# $schema file names (without .schema.json) -> kind; sources: the schema names used in
# Azure ML's docs and azureml-examples, e.g. latest/commandJob.schema.json.
SCHEMA_KINDS = {
    "commandjob": COMMAND,
    "sweepjob": SWEEP,
    "pipelinejob": PIPELINE,
    "paralleljob": PARALLEL,
    "sparkjob": SPARK,
    "commandcomponent": "command_component",
    "parallelcomponent": "parallel_component",
    "sparkcomponent": "spark_component",
    "pipelinecomponent": "pipeline_component",
    "environment": "environment",
    "data": "data",
    "model": "model",
    "managedonlineendpoint": "online_endpoint",
    "kubernetesonlineendpoint": "online_endpoint",
    "managedonlinedeployment": "online_deployment",
    "kubernetesonlinedeployment": "online_deployment",
    "batchendpoint": "batch_endpoint",
    "batchdeployment": "batch_deployment",
    "modelbatchdeployment": "batch_deployment",
    "pipelinecomponentbatchdeployment": "batch_deployment",
    "schedule": "schedule",
}
SCHEMA_NAME = re.compile(r"([A-Za-z]+)\.schema\.json\s*$")
# `type:` of a job or component file (azure-ai-ml's JobType / NodeType names).
TYPE_KINDS = {"command": COMMAND, "sweep": SWEEP, "pipeline": PIPELINE}
TYPE_KINDS.update({"parallel": PARALLEL, "spark": SPARK})
MODEL_TYPES = ("custom_model", "mlflow_model", "triton_model")
DATA_TYPES = ("uri_file", "uri_folder", "mltable")


def kind_of_document(raw: Any) -> str:
    """The kind of a loaded YAML document (see the module docstring); OTHER for
    anything that is no Azure ML file (a list, a conda file is "conda")."""
    if not isinstance(raw, dict):
        return OTHER
    match = SCHEMA_NAME.search(str(raw.get("$schema") or ""))
    if match and match.group(1).lower() in SCHEMA_KINDS:
        return SCHEMA_KINDS[match.group(1).lower()]
    kind = str(raw.get("type") or "")
    component = "version" in raw and "experiment_name" not in raw
    if kind in TYPE_KINDS or _job_shape(raw):
        job = TYPE_KINDS.get(kind) or _job_shape(raw)
        return f"{job}_component" if component and job != SWEEP else job
    if kind in MODEL_TYPES and "path" in raw:
        return "model"
    if kind in DATA_TYPES and "path" in raw:
        return "data"
    if "dependencies" in raw and ("channels" in raw or "name" in raw):
        return "conda"
    if "auth_mode" in raw and "command" not in raw:
        return "online_endpoint"
    if "endpoint_name" in raw:
        batch = {"mini_batch_size", "output_action", "compute"} & set(raw)
        return "batch_deployment" if batch else "online_deployment"
    if ("build" in raw or "image" in raw) and "command" not in raw:
        return "environment"
    if "create_job" in raw and "trigger" in raw:
        return "schedule"
    return OTHER


def _job_shape(raw: dict) -> str:
    """A job kind from fields only that kind has, for files without `type`."""
    if "jobs" in raw:
        return PIPELINE
    if "trial" in raw and ("search_space" in raw or "sampling_algorithm" in raw):
        return SWEEP
    if "task" in raw and ("mini_batch_size" in raw or "input_data" in raw):
        return PARALLEL
    if "entry" in raw and "conf" in raw:
        return SPARK
    if "command" in raw:
        return COMMAND
    return ""


def kind_of(path: Path, shown_as: str = "") -> str:
    """The kind of the YAML file at `path`; INVALID when it cannot be read as YAML."""
    try:
        return kind_of_document(load_yaml(path, shown_as or str(path)))
    except UserError:
        return INVALID


def is_job_file(path: Path, shown_as: str = "") -> bool:
    """Whether `path` is a job file EXP/JOB can run (command, sweep, parallel or spark)."""
    return kind_of(path, shown_as) in (JOB_KINDS - {PIPELINE})


def yaml_files(folder: Path) -> list:
    """The .yaml/.yml files directly in `folder`, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
