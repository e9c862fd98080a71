"""Pick the local runtime: Docker when an engine answers and the base images can be
had, else a venv (with a notice)."""

from typing import Iterable, Optional

from amlops.console import say
from amlops.errors import UserError
from amlops.jobspec import JobSpec
from amlops.local.images import DockerUnavailable, check_engine
from amlops.local.runtimes import Runtime
from amlops.local.runtimes.docker import DockerRuntime
from amlops.local.runtimes.venv import VenvRuntime
from amlops.project import Project

RUNTIMES = ("auto", "docker", "venv")
FALLBACK_NOTICE = (
    "{why}; running in a Python venv instead"
    " (RUNTIME=venv; inputs read-only where the OS allows, and checked after the run)"
)


def _check_choice(choice: str) -> None:
    if choice not in RUNTIMES:
        raise UserError(f"RUNTIME={choice!r}: use one of {', '.join(RUNTIMES)}")


def _without_docker(
    project: Project, spec: Optional[JobSpec], err: DockerUnavailable, choice: str
) -> VenvRuntime:
    """Docker cannot run it: refuse RUNTIME=docker, else the venv fallback (with a notice)."""
    if choice == "docker":
        raise UserError(f"RUNTIME=docker but {err}") from None
    venv = VenvRuntime(project, spec)
    _venv_or_fail(venv, str(err), choice)
    return venv


def _venv_or_fail(venv: VenvRuntime, docker_error: str, choice: str) -> None:
    """Refuse when the venv fallback cannot work either; else say we fall back."""
    why_not = venv.unavailable()
    if choice == "venv":
        if why_not:
            raise UserError(f"RUNTIME=venv: {why_not}")
        return
    if why_not:
        raise UserError(f"{docker_error} and no venv fallback: {why_not}")
    say(FALLBACK_NOTICE.format(why=docker_error))


def runtime_for(kind: str, project: Project, spec: JobSpec) -> Runtime:
    """The runtime object of one job (nothing is built yet)."""
    if kind == "docker":
        return DockerRuntime(project, spec)
    return VenvRuntime(project, spec)


def pick_runtime_kind(project: Project, choice: str, specs: Iterable[JobSpec]) -> str:
    """'docker' or 'venv' for a whole pipeline: asks the engine once and pulls the
    missing base images of the jobs' unbuilt images before any step starts."""
    _check_choice(choice)
    if choice == "venv":
        _venv_or_fail(VenvRuntime(project, None), "", choice)
        return "venv"
    try:
        check_engine()
        pulled = set()
        for spec in specs:
            docker = DockerRuntime(project, spec)
            if docker.tag not in pulled and not docker.ready():
                docker.pull_base()
            pulled.add(docker.tag)
        return "docker"
    except DockerUnavailable as err:
        _without_docker(project, None, err, choice)
        return "venv"


def prepared_runtime(project: Project, spec: JobSpec, choice: str) -> Runtime:
    """A runtime whose environment is built and ready (one job)."""
    _check_choice(choice)
    if choice == "venv":
        venv = VenvRuntime(project, spec)
        _venv_or_fail(venv, "", choice)
    else:
        docker = DockerRuntime(project, spec)
        try:
            docker.prepare()
            return docker
        except DockerUnavailable as err:
            venv = _without_docker(project, spec, err, choice)
    venv.prepare()
    return venv
