"""Pick the local runtime: Docker when an engine answers, else a venv (with a notice)."""

from amlops.console import say
from amlops.errors import UserError
from amlops.images import EngineUnavailable
from amlops.project import Project
from amlops.runtimes import Runtime
from amlops.runtimes.docker import DockerRuntime
from amlops.runtimes.venv import VenvRuntime

RUNTIMES = ("auto", "docker", "venv")


def prepared_runtime(project: Project, experiment: str, choice: str) -> Runtime:
    """A runtime whose environment is built and ready."""
    if choice not in RUNTIMES:
        raise UserError(f"RUNTIME={choice!r}: use one of {', '.join(RUNTIMES)}")
    venv = VenvRuntime(project, experiment)
    if choice in ("auto", "docker"):
        docker = DockerRuntime(project, experiment)
        if not (docker.context / "Dockerfile").is_file():
            raise UserError(f"src/{experiment}/docker/Dockerfile is missing")
        try:
            docker.prepare()
            return docker
        except EngineUnavailable as err:
            if choice == "docker":
                raise UserError(f"RUNTIME=docker but no Docker engine: {err}") from None
            why_not = venv.unavailable()
            if why_not:
                raise UserError(
                    f"no Docker engine ({err}) and no venv fallback: {why_not}"
                ) from None
            say(
                f"no Docker engine ({err}); running in a Python venv instead"
                " (RUNTIME=venv; inputs are checked unchanged after the run)"
            )
    else:
        why_not = venv.unavailable()
        if why_not:
            raise UserError(f"RUNTIME=venv: {why_not}")
    venv.prepare()
    return venv
