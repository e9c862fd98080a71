"""Tracking of one local run: the variables it gets, and its MLflow run (see __init__.py).

TRACKING=0 (config.env, .env, the environment or `make local TRACKING=0`) turns it
off: no MLflow run is made and the command gets no MLFLOW_* variable from amlops; the
run still has its folder and run.json, which `make runs` lists. A local sweep needs
tracking (it ranks trials by what they log), so it refuses TRACKING=0 in one line.

MLflow experiment = MLFLOW_EXPERIMENT_NAME when set, else the job's
`experiment_name`, else `<project>-<experiment>` (what `make job` sends); run name
= the run id (the run folder's name); params = the literal inputs (and a sweep
trial's sampled values); tags = git commit, runtime, environment, job file, run
folder and the job's own `tags:`."""

import functools
import os
import re
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional

from amlops.console import say
from amlops.errors import UserError
from amlops.project import Project
from amlops.provenance import submission_tags
from amlops.runs import RUN_ID

if TYPE_CHECKING:  # imported where used: a TRACKING=0 run needs neither (~5 ms)
    from amlops.tracking.relay import MetricsRelay
    from amlops.tracking.store import FileStore, Store

LOCAL_STORE = "mlruns"  # under .runs/
TRACKING_ON = ("", "1", "true", "yes", "on")
TRACKING_OFF = ("0", "false", "no", "off")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
# The run's outcome as MLflow names it.
FINAL_STATUS = {"completed": "FINISHED", "failed": "FAILED"}


def local_store(project: Project) -> "FileStore":
    """The project's own store, `.runs/mlruns`."""
    from amlops.tracking.store import FileStore

    return FileStore(project.runs / LOCAL_STORE)


def tracking_on(project: Project) -> bool:
    """TRACKING: 1 (default) tracks every local run in MLflow, 0 tracks none; anything
    else is a UserError naming the setting."""
    value = project.settings.get("TRACKING").strip().lower()
    if value in TRACKING_ON:
        return True
    if value in TRACKING_OFF:
        return False
    raise UserError(
        f"TRACKING={project.settings.get('TRACKING')!r}: use 1 (track local runs in MLflow)"
        " or 0 (no tracking)"
    )


def mlflow_settings(project: Project) -> Dict[str, str]:
    """Every MLFLOW_* setting (config.env, .env, environment) that has a value."""
    return {k: v for k, v in project.settings.prefixed("MLFLOW_").items() if v}


def tracking_uri(project: Project) -> str:
    """MLFLOW_TRACKING_URI when set, else the URI of `.runs/mlruns`."""
    return mlflow_settings(project).get("MLFLOW_TRACKING_URI") or local_store(project).uri


def shown_uri(uri: str) -> str:
    """A tracking URI without any user:password part, for messages and records."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.password is None and parsed.username is None:
        return uri
    netloc = parsed.hostname or ""
    if parsed.port:
        netloc += f":{parsed.port}"
    return urllib.parse.urlunparse(parsed._replace(netloc=netloc))


def where_tracked(project: Project, uri: str) -> str:
    """A store for messages: `.runs/mlruns` for a local file store, else the URI."""
    from amlops.tracking.store import file_uri_path

    return project.relative(file_uri_path(uri)) if is_file_uri(uri) else shown_uri(uri)


def is_file_uri(uri: str) -> bool:
    scheme = urllib.parse.urlparse(uri).scheme
    return scheme == "file" or not scheme


def experiment_name(project: Project, spec: Any) -> str:
    """MLFLOW_EXPERIMENT_NAME, else the job's experiment_name, else `<project>-<exp>`."""
    return (
        mlflow_settings(project).get("MLFLOW_EXPERIMENT_NAME")
        or str(spec.raw.get("experiment_name") or "")
        or f"{project.slug}-{spec.experiment}"
    )


def run_environment(project: Project, spec: Any, experiment: str = "") -> Dict[str, str]:
    """The tracking variables of a local run: every MLFLOW_* setting, plus
    MLFLOW_TRACKING_URI (the local store unless set), MLFLOW_EXPERIMENT_NAME,
    MLFLOW_ALLOW_FILE_STORE=true for a file store (MLflow 3 refuses one without it)
    and GIT_PYTHON_REFRESH=quiet (MLflow imports GitPython, which prints ~60 lines of
    warnings where an image has no git). With TRACKING=0 only the last."""
    quiet = {"GIT_PYTHON_REFRESH": project.settings.get("GIT_PYTHON_REFRESH", "quiet")}
    if not tracking_on(project):
        return quiet
    env = mlflow_settings(project)
    uri = env.setdefault("MLFLOW_TRACKING_URI", tracking_uri(project))
    env["MLFLOW_EXPERIMENT_NAME"] = experiment or experiment_name(project, spec)
    if is_file_uri(uri):
        env.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    env.update(quiet)
    return env


@functools.lru_cache(maxsize=8)
def git_tags(root: Path) -> Dict[str, str]:
    """mlflow.source.git.commit and amlops.git_dirty (once per command)."""
    found = submission_tags(root)
    if found["git_commit"] == "none":
        return {}
    return {"mlflow.source.git.commit": found["git_commit"], "amlops.git_dirty": found["git_dirty"]}


@dataclass
class TrackedRun:
    """One run's place in a tracking store; `env` goes to the command."""

    uri: str
    experiment: str
    store: Optional["Store"] = None
    experiment_id: str = ""
    run_id: str = ""
    env: Dict[str, str] = field(default_factory=dict)
    notice: str = ""
    relay: Optional["MetricsRelay"] = None

    @property
    def record(self) -> Dict[str, str]:
        """What run.json keeps: where the run's params and metrics are ({} untracked)."""
        if not self.uri:
            return {}
        return {
            "uri": shown_uri(self.uri),
            "experiment": self.experiment,
            "experiment_id": self.experiment_id,
            "run_id": self.run_id,
        }

    def start_relay(self, run_dir: Path) -> Dict[str, str]:
        """Relay the metrics the command hands over (tracking/relay.py) until finish();
        the variable that tells the command it may ({} for an untracked run)."""
        if self.store is None or not self.run_id:
            return {}
        from amlops.tracking.relay import RELAY_VARIABLE, MetricsRelay

        self.relay = MetricsRelay(self.store, self.experiment_id, self.run_id, run_dir)
        self.relay.start()
        return {RELAY_VARIABLE: "1"}

    def stop_relay(self) -> None:
        """Relay what is left (the command has ended); idempotent."""
        relay, self.relay = self.relay, None
        if relay is not None:
            relay.stop()

    def finish(self, status: str) -> None:
        """Record the run's end (completed, failed, or anything else: KILLED), after
        relaying what is left. A store that fails now only costs a warning: the run
        itself is done."""
        self.stop_relay()
        if self.store is None or not self.run_id:
            return
        try:
            self.store.finish_run(
                self.experiment_id, self.run_id, FINAL_STATUS.get(status, "KILLED")
            )
        except UserError as err:
            say(f"warning: could not record the run's end in MLflow: {err}")


def run_tags(
    project: Project, spec: Any, run_dir: Path, runtime: Any, extra: Mapping[str, str]
) -> Dict[str, str]:
    """The MLflow tags of a local run (see the module docstring)."""
    from amlops.tracking.store import user_name

    tags = {str(k): str(v) for k, v in (spec.raw.get("tags") or {}).items()}
    tags.update(git_tags(project.root))
    tags.update(
        {
            "mlflow.source.name": project.relative(spec.file),
            "mlflow.source.type": "LOCAL",
            "mlflow.user": user_name(),
            "amlops.runtime": runtime.name,
            "amlops.environment": runtime.describe(),
            "amlops.declared_environment": spec.environment.describe(),
            "amlops.run_folder": project.relative(run_dir),
        }
    )
    tags.update(extra)
    return tags


def run_id_of(project: Project, run_dir: Path) -> str:
    """The id `make runs` shows: the run folder's path under its experiment (or
    pipeline) folder, e.g. 20261130-101500-a1b2c3 or <sweep id>/trial-03."""
    parts = run_dir.resolve().relative_to(project.runs.resolve()).parts
    for index, part in enumerate(parts):
        if RUN_ID.match(part):
            return "/".join(parts[index:])
    return "/".join(parts)


def check_store(project: Project, spec: Any) -> None:
    """Reach the run's tracking store now (UserError if it cannot be used), so that an
    unreachable server is told before anything is built or staged. Nothing with
    TRACKING=0."""
    if not tracking_on(project):
        return
    from amlops.tracking.store import open_store

    env = run_environment(project, spec)
    store = open_store(env["MLFLOW_TRACKING_URI"], env)
    if store is not None:
        store.experiment_id(env["MLFLOW_EXPERIMENT_NAME"])


def start_run(
    project: Project,
    spec: Any,
    run_dir: Path,
    runtime: Any,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    experiment: str = "",
    echo: bool = True,
) -> TrackedRun:
    """Create the MLflow run of a local run (before its command starts) and the
    variables that hand it to the command; UserError when the store cannot be used.
    With TRACKING=0, an untracked run (no store, an empty record)."""
    env = run_environment(project, spec, experiment)
    if not tracking_on(project):
        return TrackedRun(uri="", experiment="", env=env)
    uri = env["MLFLOW_TRACKING_URI"]
    tracked = TrackedRun(uri=uri, experiment=env["MLFLOW_EXPERIMENT_NAME"], env=env)
    from amlops.tracking.store import open_store

    store = open_store(uri, env)
    if store is None:
        tracked.notice = (
            f"tracking: MLFLOW_TRACKING_URI={shown_uri(uri)} is passed to the run as it is;"
            " amlops creates runs only in a file store or an http(s) MLflow server, so the"
            " script's own mlflow names this run"
        )
        if echo:
            say(tracked.notice)
        return tracked
    tracked.store = store
    tracked.experiment_id = store.experiment_id(tracked.experiment)
    tracked.run_id = store.create_run(
        tracked.experiment_id,
        run_id_of(project, run_dir),
        params,
        run_tags(project, spec, run_dir, runtime, tags),
    )
    env["MLFLOW_EXPERIMENT_ID"] = tracked.experiment_id
    env["MLFLOW_RUN_ID"] = tracked.run_id
    return tracked


def docker_options(env: Dict[str, str], argv: List[str]) -> List[str]:
    """`docker run` arguments that let a container reach the run's tracking store
    (`argv` is the command line so far; `env` may be changed):
    - a file store is bind-mounted at the same absolute path, so the artifact URIs a
      container records are valid on the host (on Windows at /mnt/mlruns);
    - a server on the host's localhost: on Linux `--network host` (the container
      shares the host's loopback, and the server sees the Host header it expects);
      elsewhere (Docker Desktop) the URI's host becomes host.docker.internal with
      --add-host=host.docker.internal:host-gateway. A network the run arguments
      already choose (--network/--net) is left alone."""
    uri = env.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        return []
    if is_file_uri(uri):
        from amlops.tracking.store import file_uri_path

        path = file_uri_path(uri)
        path.mkdir(parents=True, exist_ok=True)
        target = path.as_posix() if os.name != "nt" else "/mnt/mlruns"
        if os.name == "nt":
            env["MLFLOW_TRACKING_URI"] = "file:///mnt/mlruns"
        return ["--mount", f"type=bind,source={path},target={target}"]
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in ("http", "https") or parsed.hostname not in LOCAL_HOSTS:
        return []
    if any(re.match(r"--net(work)?(=|$)", arg) for arg in argv):
        return []
    if sys.platform.startswith("linux"):
        return ["--network", "host"]
    host = "host.docker.internal"
    netloc = parsed.netloc.rpartition("@")[0] + "@" if "@" in parsed.netloc else ""
    netloc += host + (f":{parsed.port}" if parsed.port else "")
    env["MLFLOW_TRACKING_URI"] = urllib.parse.urlunparse(parsed._replace(netloc=netloc))
    return [f"--add-host={host}:host-gateway"]
