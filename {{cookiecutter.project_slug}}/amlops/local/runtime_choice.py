"""Pick the local runtime: Docker when an engine answers and the base images can be
had, else a venv (with a notice)."""

from typing import TYPE_CHECKING, Dict, List, Optional, Set

from amlops.console import say
from amlops.errors import UserError
from amlops.local.environments import docker_recipe, venv_recipe
from amlops.local.runtimes import Runtime
from amlops.local.runtimes.venv import VenvRuntime
from amlops.project import Project
from amlops.spec.job import JobSpec

if TYPE_CHECKING:  # the Docker modules load only when Docker may run (~30 ms a venv run saves)
    from amlops.local.images import DockerUnavailable

RUNTIMES = ("auto", "docker", "venv")
FALLBACK_NOTICE = (
    "{why}; running in a Python venv instead"
    " (RUNTIME=venv; inputs read-only where the OS allows, and checked after the run)"
)


def _check_choice(choice: str) -> None:
    if choice not in RUNTIMES:
        raise UserError(f"RUNTIME={choice!r}: use one of {', '.join(RUNTIMES)}")


def _without_docker(
    project: Project, spec: Optional[JobSpec], err: "DockerUnavailable", choice: str
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


def environment_notice(kind: str, project: Project, spec: JobSpec) -> str:
    """What the `kind` runtime changes from the job's environment (its runtime's
    notice), read from the recipe alone: no image tag is hashed, no venv key computed."""
    if kind == "docker":
        return docker_recipe(project, spec).notice
    return venv_recipe(project, spec).notice


def runtime_for(kind: str, project: Project, spec: JobSpec) -> Runtime:
    """The runtime object of one job (nothing is built yet)."""
    if kind == "docker":
        from amlops.local.runtimes.docker import DockerRuntime

        return DockerRuntime(project, spec)
    return VenvRuntime(project, spec)


def pick_runtime_kinds(project: Project, choice: str, specs: Dict[str, JobSpec]) -> Dict[str, str]:
    """'docker' or 'venv' for each step of a pipeline (`specs`: step name -> job): asks
    the engine once and pulls the missing base images of the jobs' unbuilt images before
    any step starts. With RUNTIME=auto a step whose image cannot be had runs in a venv
    (one notice naming the steps); the others stay in Docker.

    Raises UserError with RUNTIME=docker when an image cannot be had, or when no
    runtime can run a step."""
    _check_choice(choice)
    if choice == "venv":
        _venv_or_fail(VenvRuntime(project, None), "", choice)
        return {name: "venv" for name in specs}
    from amlops.local.images import DockerUnavailable, check_engine
    from amlops.local.runtimes.docker import DockerRuntime

    try:
        check_engine()
    except DockerUnavailable as err:
        _without_docker(project, None, err, choice)
        return {name: "venv" for name in specs}
    kinds: Dict[str, str] = {}
    failures: Dict[str, DockerUnavailable] = {}  # image tag -> why it cannot be had
    pulled: Set[str] = set()
    without: Dict[str, List[str]] = {}  # why -> steps
    for name, spec in specs.items():
        docker = DockerRuntime(project, spec)
        try:
            if docker.tag in failures:
                raise failures[docker.tag]
            if docker.tag not in pulled and not docker.ready():
                docker.pull_base()
            pulled.add(docker.tag)
            kinds[name] = "docker"
        except DockerUnavailable as err:
            failures[docker.tag] = err
            if choice == "docker":
                raise UserError(f"RUNTIME=docker but step {name!r}: {err}") from None
            kinds[name] = "venv"
            without.setdefault(str(err), []).append(name)
    if without:
        why_not = VenvRuntime(project, None).unavailable()
        if why_not:
            first = next(iter(without))
            raise UserError(f"{first} and no venv fallback: {why_not}")
        for why, steps in without.items():
            listed = ", ".join(steps)
            say(f"step{'s' if len(steps) > 1 else ''} {listed}: {FALLBACK_NOTICE.format(why=why)}")
    return kinds


def kinds_label(kinds: Dict[str, str]) -> str:
    """'docker', 'venv', or e.g. 'docker (venv: fit, score)' for a mixed pipeline."""
    used = set(kinds.values())
    if len(used) <= 1:
        return next(iter(used), "venv")
    return f"docker (venv: {', '.join(n for n, k in kinds.items() if k == 'venv')})"


def prepared_runtime(project: Project, spec: JobSpec, choice: str) -> Runtime:
    """A runtime whose environment is built and ready (one job)."""
    _check_choice(choice)
    if choice == "venv":
        venv = VenvRuntime(project, spec)
        if venv.ready():  # nothing to build: whether uv runs (a subprocess) does not matter
            return venv
        _venv_or_fail(venv, "", choice)
    else:
        from amlops.local.images import DockerUnavailable
        from amlops.local.runtimes.docker import DockerRuntime

        docker = DockerRuntime(project, spec)
        try:
            docker.prepare()
            return docker
        except DockerUnavailable as err:
            venv = _without_docker(project, spec, err, choice)
    venv.prepare()
    return venv
