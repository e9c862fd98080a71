"""`make pipeline` of a pipelines/<name>.py: what is sent is the SDK's own PipelineJob
(the module-level pipeline_job, built by spec/python_pipeline.py), with what `make
pipeline` sets on any pipeline: INPUTS=..., the compute (COMPUTE, else the file's
default_compute, else AML_COMPUTE), experiment_name when the file sets none, and the
provenance tags. The SDK uploads each node's code as the file gives it
(MLClient.jobs.create_or_update(PipelineJob)); the YAML build of the same job is
still written and loaded back first (DRY_RUN and validate check it)."""

from pathlib import Path
from typing import Any, Dict, Optional

from amlops.cloud.native import pipeline_compute
from amlops.project import Project
from amlops.spec.pipeline import PipelineSpec
from amlops.spec.python_pipeline import built_job
from amlops.yamlfile import dump_yaml, plain

SENT_FILE = "pipeline_sdk.yaml"  # the SDK object as sent, beside the YAML build
SCALARS = {"string", "integer", "number", "boolean"}


def sdk_job(
    project: Project, spec: PipelineSpec, overrides: Dict[str, str], tags: Dict[str, str]
) -> Optional[Any]:
    """The PipelineJob to send for `spec` when it was built from a .py file (else None),
    with the submission's settings applied (azure.ai.ml.entities.PipelineJob: .inputs,
    .settings.default_compute, .experiment_name, .tags)."""
    job = built_job(spec.file)
    if job is None:
        return None
    from azure.ai.ml import Input

    for name, value in overrides.items():
        kind = spec.inputs[name].type
        # InputsAttrDict.__setattr__ wraps the value in a PipelineInput (item assignment
        # would store it bare and fail when the job is serialised)
        setattr(job.inputs, name, value if kind in SCALARS else Input(type=kind, path=value))
    compute = pipeline_compute(project, spec)
    if compute:
        job.settings.default_compute = compute
    if not job.experiment_name:
        job.experiment_name = f"{project.slug}-{spec.name}"
    job.tags = {**(job.tags or {}), **tags, "pipeline": spec.name}
    return job


def write_sent(job: Any, folder: Path) -> Path:
    """The SDK object as sent (PipelineJob._to_dict(), what PipelineJob.dump() writes),
    in the submission folder, for the record."""
    path = folder / SENT_FILE
    dump_yaml(path, plain(job._to_dict()))
    return path
