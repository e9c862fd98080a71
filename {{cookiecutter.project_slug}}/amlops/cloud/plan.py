"""What `make job`, `make pipeline`, `make step` and `make publish` are asked to do, and
how each builds its native v2 job: shared by SDK v2 (cloud/submit.py, cloud/publish.py)
and SDK v1 (cloud/v1/), which submits the same native job through azureml-core."""

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

from amlops.cloud import native, pipeline_jobs
from amlops.cloud.packages import backend
from amlops.cloud.submission import Submission
from amlops.cloud.sweep import native_job
from amlops.errors import UserError
from amlops.inputs import check_override, parse_overrides
from amlops.project import Project
from amlops.provenance import submission_tags
from amlops.spec.job import JobSpec, load_experiment
from amlops.spec.pipeline import PipelineSpec
from amlops.spec.pipeline_loader import load_pipeline

NAME_LIMIT = 32  # endpoint and deployment names: letters, digits, -, at most 32


@dataclass
class Request:
    """What to submit and how."""

    target: str  # job, pipeline or step
    name: str  # experiment, pipeline (or its default) and step
    inputs: List[str]
    dry_run: bool = False
    stream: bool = False
    step: str = ""
    from_job: str = ""
    # JOB: another job file of the experiment (sweep.yaml), or without EXP any job or
    # command component file (a path relative to the project)
    job_file: str = ""


@dataclass
class PublishRequest:
    pipeline: str
    version: str = ""
    endpoint: str = ""
    schedule: str = ""
    make_default: bool = False
    dry_run: bool = False


# azure.ai.ml's EndpointConfigurations: NAME_REGEX_PATTERN, 3 to 32 characters.
ENDPOINT_RULE = re.compile(r"[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?")


def endpoint_name(*parts: str) -> str:
    """A valid endpoint, deployment or schedule name made of `parts`: a letter, then
    letters, digits and - (not last), 3 to NAME_LIMIT (32) characters.

    A name that must be cut keeps its start and ends in `-` plus 6 hex digits of a
    hash of the whole name, so names that differ only after the cut stay apart."""
    full = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    name = full if full[:1].isalpha() else f"p-{full}"
    if len(name) <= NAME_LIMIT:
        return name.ljust(3, "0")  # at least 3
    digest = hashlib.sha256(full.encode()).hexdigest()[:6]
    return f"{name[: NAME_LIMIT - 7].rstrip('-')}-{digest}"


def checked_endpoint(name: str) -> str:
    """`name` (the ENDPOINT setting) if Azure accepts it as an endpoint name, else
    UserError saying the rule."""
    if not ENDPOINT_RULE.fullmatch(name) or not 3 <= len(name) <= NAME_LIMIT:
        raise UserError(
            f"ENDPOINT={name!r}: use a letter, then letters, digits or - (not last),"
            f" 3 to {NAME_LIMIT} characters"
        )
    return name


Build = Callable[[], Dict[str, Any]]


def job_plan(project: Project, req: Request) -> Tuple[JobSpec, Submission, Build]:
    """`make job`'s job file, submission folder and how to build its native job (both
    SDKs)."""
    spec = load_experiment(project, req.name, req.job_file)
    overrides = parse_overrides(req.inputs, spec)
    if spec.parallel is not None:
        raise UserError(
            f"{spec.shown_as} is a parallel job: Azure ML runs parallel jobs only as pipeline"
            " nodes; put it in a pipeline as a type: parallel node (make pipeline), or run it"
            f" here with make local"
        )
    if spec.sweep is not None and backend(project) == "v1":
        raise UserError(
            f"{spec.shown_as} is a sweep job: submitting sweeps needs AML_SDK=v2 (SDK v1's"
            " HyperDrive is not built here)"
        )
    sub = Submission(project, "jobs", spec.experiment)
    tags = submission_tags(project.root)
    return spec, sub, lambda: native_job(project, spec, sub, overrides, tags)


def pipeline_plan(
    project: Project, req: Request, flat: bool = False
) -> Tuple[PipelineSpec, Submission, Build]:
    """`make pipeline`'s pipeline, submission folder and native job builder (both SDKs)."""
    spec = load_pipeline(project, req.name)
    overrides = pipeline_overrides(spec, req.inputs)
    sub = Submission(project, "pipelines", spec.name)
    tags = submission_tags(project.root)
    translate = native.flat_pipeline_job if flat else pipeline_jobs.pipeline_job
    return spec, sub, lambda: translate(project, spec, sub, overrides, tags)


def pipeline_overrides(spec: PipelineSpec, items: List[str]) -> Dict[str, str]:
    overrides: Dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in spec.inputs:
            declared = ", ".join(sorted(spec.inputs)) or "none"
            raise UserError(
                f"INPUTS {item!r}: {spec.shown_as} has no input {name!r} (inputs: {declared})"
            )
        item = spec.inputs[name]
        check_override(item, value, spec.where(item.line))  # as a local run checks it
        overrides[name] = value
    return overrides
