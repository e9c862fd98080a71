"""`make local EXP=x`: run job.yaml's command locally exactly as Azure ML would."""

import shutil
from pathlib import Path
from typing import Dict, List, Tuple

from amlops.console import say
from amlops.jobspec import JobSpec, load_job
from amlops.procs import INTERRUPTED
from amlops.project import Project
from amlops.resolve import ResolvedJob, bind_inputs, parse_overrides, resolve_job
from amlops.runs import RunRecord, new_run_dir
from amlops.staging import stage_code

PASSED_THROUGH = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")


def load_experiment(project: Project, experiment: str) -> JobSpec:
    """The checked job.yaml of src/<experiment>."""
    folder = project.experiment_dir(experiment)
    return load_job(folder / "job.yaml", f"src/{experiment}/job.yaml")


def job_environment(project: Project, spec: JobSpec) -> Dict[str, str]:
    """job.yaml's environment_variables plus tracking settings from config/.env."""
    env = dict(spec.environment_variables)
    settings = project.settings
    for key in PASSED_THROUGH:
        if settings.get(key):
            env[key] = settings.get(key)
    return env


def prepare_run(
    project: Project,
    spec: JobSpec,
    experiment: str,
    overrides: Dict[str, str],
    in_container: bool,
) -> Tuple[Path, ResolvedJob]:
    """A new run folder with staged code and every input/output resolved.

    Nothing is left behind when resolution fails (e.g. a missing input)."""
    run_dir = new_run_dir(project.runs, experiment)
    try:
        job = resolve_job(spec, project, run_dir / "outputs", overrides, in_container)
    except Exception:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    stage_code(project, experiment, run_dir / "src")
    return run_dir, job


def run_local(project: Project, experiment: str, runtime_choice: str, overrides: List[str]) -> int:
    """Run one experiment locally; returns the command's exit code."""
    from amlops.runtime_choice import prepared_runtime

    spec = load_experiment(project, experiment)
    parsed = parse_overrides(overrides, spec)
    # Bad overrides and missing input data fail before any image or venv build.
    bind_inputs(spec, project, parsed, in_container=False)
    runtime = prepared_runtime(project, experiment, runtime_choice)
    run_dir, job = prepare_run(project, spec, experiment, parsed, runtime.in_container)
    record = RunRecord(
        run_dir,
        experiment=experiment,
        runtime=runtime.name,
        environment=runtime.describe(),
        command=job.command,
        inputs={n: str(b.host) for n, b in job.inputs.items()},
        literals=job.literals,
        outputs={n: str(b.host) for n, b in job.outputs.items()},
    )
    rel = project.relative(run_dir)
    say(f"run {rel} in {runtime.describe()}")
    say(f"$ {job.command}")
    code = runtime.run(job, run_dir, job_environment(project, spec))
    duration = record.finish(code, "interrupted" if code == INTERRUPTED else "")
    verdict = "completed" if code == 0 else f"FAILED (exit {code})"
    say(f"{experiment} {verdict} in {duration:.1f}s; outputs {rel}/outputs")
    say(f"log {rel}/logs/std_log.txt")
    return code
