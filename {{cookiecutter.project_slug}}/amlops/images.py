"""Experiment images: tagged by a hash of their build context, built only when missing."""

import hashlib
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List

from amlops.console import say
from amlops.errors import UserError
from amlops.procs import run_tee


class EngineUnavailable(Exception):
    """No Docker engine answers (no CLI, daemon down, or no permission)."""


@contextmanager
def engine_required(target: str) -> Iterator[None]:
    """Turn EngineUnavailable into the one-line error of a Docker-only make target."""
    try:
        yield
    except EngineUnavailable as err:
        raise UserError(f"make {target} needs a Docker engine: {err}") from None


def context_hash(context: Path, build_args: List[str]) -> str:
    """A digest of every file in the build context plus the build arguments."""
    digest = hashlib.sha256()
    for arg in build_args:
        digest.update(arg.encode() + b"\0")
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def image_name(project_slug: str, experiment: str) -> str:
    """A Docker repository name: lowercase, only [a-z0-9._-]."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", project_slug.lower()).strip("-._") or "project"
    return f"{slug}-{experiment}"


def _docker(args: List[str]) -> "subprocess.CompletedProcess[str]":
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise EngineUnavailable("the docker command is not installed") from None


def check_engine() -> None:
    """Raise EngineUnavailable unless a Docker daemon answers."""
    result = _docker(["version", "--format", "{{.Server.Version}}"])
    if result.returncode != 0:
        message = result.stderr.strip()
        raise EngineUnavailable(message.splitlines()[-1] if message else "docker failed")


def image_exists(tag: str) -> bool:
    """Whether `tag` is present; raises EngineUnavailable when no engine answers."""
    result = _docker(["image", "inspect", "--format", "{{.Id}}", tag])
    if result.returncode == 0:
        return True
    message = result.stderr.strip()
    if "no such image" in message.lower():
        return False
    raise EngineUnavailable(message.splitlines()[-1] if message else "docker failed")


def build_image(
    tag: str, context: Path, build_args: List[str], extra: List[str], log: Path, echo: bool = True
) -> None:
    """`docker build` the context into `tag`, streaming and logging the output."""
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = ["docker", "build", "-t", tag]
    for arg in build_args:
        argv += ["--build-arg", arg]
    argv += [*extra, str(context)]
    if echo:
        say(f"building image {tag} (log: {log})")
    code = run_tee(argv, log, echo=echo)
    if code != 0:
        raise UserError(f"docker build of {context} failed (exit {code}); log: {log}", code)
