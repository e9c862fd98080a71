"""`make local EXP=x`: run job.yaml's command locally exactly as Azure ML would."""

import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from amlops.console import say
from amlops.jobspec import JobSpec, load_experiment
from amlops.local.procs import INTERRUPTED
from amlops.local.resolve import ResolvedJob, bind_inputs, parse_overrides, resolve_job
from amlops.local.runs import RunRecord, make_run_dir, new_run_dir
from amlops.local.runtimes import Runtime
from amlops.project import Project
from amlops.staging import stage_code

PASSED_THROUGH = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")


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
    run_dir: Optional[Path] = None,
    runs_under: str = "",
) -> Tuple[Path, ResolvedJob]:
    """A run folder (`run_dir`, else new under `.runs/<runs_under or experiment>/`) with
    staged code and every input/output resolved.

    Nothing is left behind when resolution fails (e.g. a missing input)."""
    if run_dir:
        run_dir = make_run_dir(run_dir)
    else:
        run_dir = new_run_dir(project.runs, runs_under or experiment)
    try:
        job = resolve_job(spec, project, run_dir / "outputs", overrides, in_container)
    except Exception:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    stage_code(project, experiment, run_dir / "src")
    return run_dir, job


def execute(
    project: Project,
    spec: JobSpec,
    runtime: Runtime,
    run_dir: Path,
    job: ResolvedJob,
    echo: bool = True,
    **fields: Any,
) -> Tuple[int, RunRecord]:
    """Run a prepared job, recording run.json before and after; returns its exit code."""
    record = RunRecord(
        run_dir,
        experiment=spec.file.parent.name,
        runtime=runtime.name,
        environment=runtime.describe(),
        command=job.command,
        inputs={n: str(b.host) for n, b in job.inputs.items()},
        literals=job.literals,
        outputs={n: str(b.host) for n, b in job.outputs.items()},
        **fields,
    )
    code = runtime.run(job, run_dir, job_environment(project, spec), echo=echo)
    record.finish(code, "interrupted" if code == INTERRUPTED else "")
    return code, record


def run_local(project: Project, experiment: str, runtime_choice: str, overrides: List[str]) -> int:
    """Run one experiment locally; returns the command's exit code."""
    spec = load_experiment(project, experiment)
    return run_experiment(project, spec, runtime_choice, parse_overrides(overrides, spec))


def run_experiment(
    project: Project,
    spec: JobSpec,
    runtime_choice: str,
    overrides: Dict[str, str],
    **fields: Any,
) -> int:
    """Build, stage and run one experiment with its output on the console."""
    from amlops.local.runtime_choice import prepared_runtime

    experiment = spec.file.parent.name
    # Bad overrides and missing input data fail before any image or venv build.
    bind_inputs(spec, project, overrides, in_container=False)
    runtime = prepared_runtime(project, experiment, runtime_choice)
    run_dir, job = prepare_run(project, spec, experiment, overrides, runtime.in_container)
    rel = project.relative(run_dir)
    say(f"run {rel} in {runtime.describe()}")
    say(f"$ {job.command}")
    code, record = execute(project, spec, runtime, run_dir, job, **fields)
    duration = record.data["duration_s"]
    verdict = "completed" if code == 0 else f"FAILED (exit {code})"
    say(f"{experiment} {verdict} in {duration:.1f}s; outputs {rel}/outputs")
    say(f"log {rel}/logs/std_log.txt")
    return code
