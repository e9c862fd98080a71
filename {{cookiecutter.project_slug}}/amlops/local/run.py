"""`make local EXP=x`: run the job file's command locally exactly as Azure ML would."""

import os
import shutil
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from amlops.console import say, verbose
from amlops.diskspace import disk_full_error, is_disk_full
from amlops.errors import UserError
from amlops.local.distribution import process_count
from amlops.local.procs import INTERRUPTED, TIMED_OUT
from amlops.local.resolve import Binding, ResolvedJob, bind_inputs, finish_command, resolve_job
from amlops.local.runtimes import Runtime
from amlops.project import Project
from amlops.runs import RunRecord, make_run_dir, new_run_dir
from amlops.spec.job import JobSpec
from amlops.staging import code_snapshot, stage
from amlops.tracking.local import (
    check_store,
    run_environment,
    start_run,
    tracking_on,
    where_tracked,
)

# Folders Azure ML gives every job in its working directory, kept with the run.
RUN_FOLDERS = ("outputs", "logs")
# Spark's logging for local Spark runs (its log4j2.properties; see spark_variables).
SPARK_CONF_DIR = Path(__file__).resolve().parent / "spark_conf"
SPARK_LOG = "spark.log"


def spark_variables(spec: JobSpec) -> Dict[str, str]:
    """The variables that quiet a Spark job's log (a Spark job only): SPARK_CONF_DIR is
    amlops/local/spark_conf, whose log4j2.properties spark-submit puts on the driver's
    classpath (Spark 3.3+: log4j 2): warnings and errors on the terminal, the whole log
    (INFO and up, as Spark's defaults) in the run's logs/spark.log; with VERBOSE=1 the
    whole log on the terminal too. Empty, so the user's own log settings apply untouched,
    when the job's environment_variables or the shell set SPARK_CONF_DIR, or the job's
    conf names a log4j configuration (e.g. -Dlog4j2.configurationFile in
    spark.driver.extraJavaOptions)."""
    if spec.spark is None or "SPARK_CONF_DIR" in spec.environment_variables:
        return {}
    if os.environ.get("SPARK_CONF_DIR"):
        return {}
    if any("log4j" in f"{key}={value}" for key, value in spec.spark.conf.items()):
        return {}
    level = "info" if verbose() else "warn"
    return {"SPARK_CONF_DIR": str(SPARK_CONF_DIR), "AMLOPS_SPARK_CONSOLE_LEVEL": level}


def job_environment(project: Project, spec: JobSpec, experiment: str = "") -> Dict[str, str]:
    """The job's environment_variables plus the tracking variables (every MLFLOW_*
    setting from config.env/.env/the environment, and the local store's; see
    amlops/tracking/local.py run_environment)."""
    env = dict(spec.environment_variables)
    env.update(run_environment(project, spec, experiment))
    return env


def not_applied_locally(spec: JobSpec) -> str:
    """One line naming the job's fields a local run cannot honour (empty when none)."""
    raw = spec.raw
    missing = []
    if spec.parallel is not None and spec.parallel.instance_count > 1:
        missing.append(
            f"resources.instance_count {spec.parallel.instance_count} (its"
            f" {spec.parallel.workers} worker processes run on this machine)"
        )
    if raw.get("services"):
        missing.append(f"services ({', '.join(str(s) for s in raw['services'])}: not started)")
    if raw.get("identity"):
        kind = (raw["identity"] or {}).get("type", "identity")
        missing.append(f"identity ({kind}: data is read with your own access)")
    if raw.get("queue_settings"):
        missing.append("queue_settings (no queue here)")
    return "not applied locally: " + "; ".join(missing) if missing else ""


# Variables Azure ML sets in every job about its workspace, and the config.env settings
# they come from here (unset settings leave them out: there is no workspace to name).
WORKSPACE_VARIABLES = {
    "AZUREML_ARM_SUBSCRIPTION": "AZURE_SUBSCRIPTION_ID",
    "AZUREML_ARM_RESOURCEGROUP": "AZURE_RESOURCE_GROUP",
    "AZUREML_ARM_WORKSPACE_NAME": "AZURE_ML_WORKSPACE",
}


def azure_variables(project: Project, job: ResolvedJob, run_dir: Path) -> Dict[str, str]:
    """Variables Azure ML sets for every command job: the run id, the workspace
    (AZUREML_ARM_SUBSCRIPTION, _RESOURCEGROUP, _WORKSPACE_NAME, from config.env's
    AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZURE_ML_WORKSPACE where set), and each
    input's and output's path as AZURE_ML_INPUT_<name> / AZURE_ML_OUTPUT_<name>."""
    env = {"AZUREML_RUN_ID": run_dir.name}
    for variable, setting in WORKSPACE_VARIABLES.items():
        value = project.settings.get(setting)
        if value:
            env[variable] = value
    for name, binding in job.inputs.items():
        env[f"AZURE_ML_INPUT_{name}"] = binding.target
    for name, literal in job.literals.items():
        env[f"AZURE_ML_INPUT_{name}"] = literal
    for name, binding in job.outputs.items():
        env[f"AZURE_ML_OUTPUT_{name}"] = binding.target
    return env


def _own_copies(job: ResolvedJob, run_dir: Path, in_container: bool) -> None:
    """`mode: download` inputs: copy the data into the run folder (the job's own,
    writable copy, as Azure ML downloads it); the original is never touched."""
    for name, binding in list(job.inputs.items()):
        if not binding.copy:
            continue
        folder = run_dir / "inputs" / name
        say(f"input {name}: mode download, copying it into the run folder")
        if binding.host.is_dir():
            shutil.copytree(binding.host, folder, symlinks=False)
            copy = folder
        else:
            folder.mkdir(parents=True)
            copy = folder / binding.host.name
            shutil.copy2(binding.host, copy)
        target = binding.target if in_container else str(copy)
        job.inputs[name] = Binding(copy, target, read_only=False, copy=True)
    finish_command(job, quote_paths=not in_container)


def _link_run_folders(code_dir: Path) -> None:
    """`./outputs` and `./logs` in the working directory lead to the run folder's
    outputs/ and logs/ (relative links, so they work in a container too). Files the
    code snapshot has there move into the run folder first."""
    for name in RUN_FOLDERS:
        link = code_dir / name
        if link.is_dir() and not link.is_symlink():
            shutil.copytree(link, code_dir.parent / name, dirs_exist_ok=True)
            shutil.rmtree(link)
        elif link.exists() or link.is_symlink():
            link.unlink()
        os.symlink(os.path.join("..", name), link)


def prepare_run(
    project: Project,
    spec: JobSpec,
    overrides: Dict[str, str],
    in_container: bool,
    run_dir: Optional[Path] = None,
    runs_under: str = "",
) -> Tuple[Path, ResolvedJob]:
    """A run folder (`run_dir`, else new under `.runs/<runs_under or experiment>/`) with
    staged code and every input/output resolved.

    Nothing is left behind when resolution or staging fails (e.g. a missing input,
    a broken symlink in the code)."""
    snap = code_snapshot(project, spec)
    if run_dir:
        run_dir = make_run_dir(run_dir)
    else:
        run_dir = new_run_dir(project.runs, runs_under or spec.experiment)
    try:
        job = resolve_job(spec, project, run_dir / "outputs", overrides, in_container)
        stage(project, snap, run_dir / "src")
        _link_run_folders(run_dir / "src")
        _own_copies(job, run_dir, in_container)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir, job


def execute(
    project: Project,
    spec: JobSpec,
    runtime: Runtime,
    run_dir: Path,
    job: ResolvedJob,
    echo: bool = True,
    params: Optional[Dict[str, str]] = None,
    tags: Optional[Dict[str, str]] = None,
    **fields: Any,
) -> Tuple[int, RunRecord]:
    """Run a prepared job, recording run.json before and after and the run in MLflow
    (params: the literal inputs, plus `params`; `tags` added to the run's tags);
    returns its exit code."""
    context = {f"amlops.{k}": str(fields[k]) for k in ("pipeline", "step") if k in fields}
    tracked = start_run(
        project,
        spec,
        run_dir,
        runtime,
        {**job.literals, **(params or {})},
        {**context, **(tags or {})},
        echo=echo,
    )
    record = RunRecord(
        run_dir,
        experiment=spec.experiment,
        job_file=project.relative(spec.file),
        runtime=runtime.name,
        environment=runtime.describe(),
        declared_environment=spec.environment.describe(),
        command=job.command,
        processes=process_count(spec.distribution, spec.instance_count),
        inputs={n: str(b.host) for n, b in job.inputs.items()},
        literals=job.literals,
        outputs={n: str(b.host) for n, b in job.outputs.items()},
        tracking=tracked.record,
        **({"environment_notice": runtime.notice} if runtime.notice else {}),
        **({"environment_detail": runtime.detail} if runtime.detail else {}),
        **fields,
    )
    env = {
        **spark_variables(spec),
        **dict(spec.environment_variables),
        **tracked.env,
        **tracked.start_relay(run_dir),
        **azure_variables(project, job, run_dir),
        **job.env,
    }
    try:
        code = runtime.run(job, run_dir, env, echo=echo)
    except OSError as err:
        if not is_disk_full(err):
            raise
        failure = disk_full_error(err, run_dir / "logs" / "std_log.txt")
        record.data["error"] = str(failure)
        record.finish(1, "failed")  # room kept by the record's spare (amlops.jsonfile)
        try:
            tracked.finish("failed")
        except OSError:
            pass  # MLflow's files are on the same full disk
        raise failure from None
    finally:
        tracked.stop_relay()
    status = {INTERRUPTED: "interrupted", TIMED_OUT: "timed out"}.get(code, "")
    record.finish(code, status)
    tracked.finish(record.data["status"])
    return code, record


def _spark_runtime(spec: JobSpec, choice: str) -> str:
    """The runtime of a Spark job: the venv (pyspark from PyPI, the system's Java);
    UserError when it cannot run here (jar-only entry, RUNTIME=docker, no Java)."""
    from amlops.spec.spark import java_problem

    problem = spec.spark.local_problem()
    if problem:
        raise UserError(f"{spec.shown_as}: {problem}")
    if choice == "docker":
        raise UserError(
            f"RUNTIME=docker: {spec.shown_as} is a Spark job, and Spark jobs run in the venv"
            " runtime here (RUNTIME=venv, pyspark from PyPI and the system's Java)"
        )
    missing_java = java_problem()
    if missing_java:
        raise UserError(f"{spec.shown_as}: {missing_java}")
    return "venv"


def run_experiment(
    project: Project,
    spec: JobSpec,
    runtime_choice: str,
    overrides: Dict[str, str],
    **fields: Any,
) -> int:
    """Build, stage and run one job with its output on the console."""
    from amlops.local.runtime_choice import prepared_runtime

    if spec.parallel is not None and spec.parallel.local_problem():
        raise UserError(f"{spec.shown_as}: {spec.parallel.local_problem()}")
    if spec.spark is not None:
        runtime_choice = _spark_runtime(spec, runtime_choice)
    # Bad overrides, missing input data and broken code fail before any build.
    bind_inputs(spec, project, overrides, in_container=False)
    snap = code_snapshot(project, spec)
    check_store(project, spec)
    runtime = prepared_runtime(project, spec, runtime_choice)
    run_dir, job = prepare_run(project, spec, overrides, runtime.in_container)
    rel = project.relative(run_dir)
    say(f"run {rel} in {runtime.describe()}")
    if runtime.notice:
        say(runtime.notice)
    if snap.root is None:
        say(f"no code: the job has no `code:`; its working directory {rel}/src starts empty")
    else:
        say(f"code {snap.label} -> {rel}/src (the working directory)")
    if spec.spark is not None:
        say(f"spark: {spec.spark.differs()}")
        if spark_variables(spec) and not verbose():
            log = f"{rel}/logs/{SPARK_LOG}"
            say(f"spark: warnings shown; its whole log in {log} (VERBOSE=1 shows it)")
    skipped = not_applied_locally(spec)
    if skipped:
        say(skipped)
    say(f"$ {job.command}")
    code, record = execute(project, spec, runtime, run_dir, job, **fields)
    duration = record.data["duration_s"]
    verdict = {0: "completed", TIMED_OUT: "timed out (limits.timeout, exit 124)"}.get(
        code, "interrupted" if code == INTERRUPTED else f"FAILED (exit {code})"
    )
    say(f"{spec.experiment} {verdict} in {duration:.1f}s; outputs {rel}/outputs")
    say(f"log {rel}/logs/std_log.txt")
    tracking = record.data.get("tracking") or {}
    if tracking.get("run_id"):
        say(
            f"tracked: MLflow experiment {tracking['experiment']}, run"
            f" {run_dir.name} in {where_tracked(project, tracking['uri'])} (make runs, make ui)"
        )
    elif not tracking_on(project):
        say("not tracked in MLflow (TRACKING=0); make runs lists it from its run.json")
    return code
