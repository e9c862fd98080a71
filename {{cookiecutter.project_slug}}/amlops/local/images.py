"""Experiment images: tagged by a hash of their build context, built only when missing."""

import hashlib
import re
import shlex
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List

from amlops.console import say
from amlops.errors import UserError
from amlops.local.procs import run_tee, telling_line, telling_log_line


class DockerUnavailable(Exception):
    """Docker cannot run experiments here; str() says why in a few words."""


class EngineUnavailable(DockerUnavailable):
    """No Docker engine answers (no CLI, daemon down, or no permission)."""

    def __str__(self) -> str:
        return f"no Docker engine ({self.args[0]})"


class BaseImageUnavailable(DockerUnavailable):
    """A base image is neither present nor pullable (offline, private registry, typo)."""

    def __str__(self) -> str:
        image, why = self.args
        return f"base image {image} cannot be pulled ({why})"


@contextmanager
def engine_required(target: str) -> Iterator[None]:
    """Turn DockerUnavailable into the one-line error of a Docker-only make target."""
    try:
        yield
    except DockerUnavailable as err:
        raise UserError(f"make {target} needs Docker, but {err}") from None


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
    name = re.sub(r"[^a-z0-9._-]+", "-", experiment.lower()).strip("-._") or "job"
    return f"{slug}-{name}"


def _docker(args: List[str]) -> "subprocess.CompletedProcess[str]":
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise EngineUnavailable("the docker command is not installed") from None


def check_engine() -> None:
    """Raise EngineUnavailable unless a Docker daemon answers."""
    result = _docker(["version", "--format", "{{.Server.Version}}"])
    if result.returncode != 0:
        raise EngineUnavailable(telling_line(result.stderr, "docker failed"))


def image_exists(tag: str) -> bool:
    """Whether `tag` is present; raises EngineUnavailable when no engine answers."""
    result = _docker(["image", "inspect", "--format", "{{.Id}}", tag])
    if result.returncode == 0:
        return True
    if "no such image" in result.stderr.lower():
        return False
    raise EngineUnavailable(telling_line(result.stderr, "docker failed"))


def base_images(dockerfile: str, build_args: List[str]) -> List[str]:
    """The images the Dockerfile's FROM lines name, after ARG defaults and
    `--build-arg` values are substituted; earlier stages and scratch left out."""
    text = re.sub(r"\\\n", " ", dockerfile)
    values: Dict[str, str] = {}
    given = dict(arg.split("=", 1) for arg in build_args if "=" in arg)
    images: List[str] = []
    stages = {"scratch"}
    seen_from = False
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        keyword = words[0].upper()
        if keyword == "ARG" and not seen_from and len(words) > 1:
            name, _, default = words[1].partition("=")
            values[name] = given.get(name, default.strip("\"'"))
        elif keyword == "FROM":
            seen_from = True
            words = [w for w in words[1:] if not w.startswith("--")]
            if not words:
                continue
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), ""), words[0])
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2].lower())
            if image and image.lower() not in stages and image not in images:
                images.append(image)
    return images


def pull_missing(images: List[str], log: Path, echo: bool = True) -> None:
    """`docker pull` each image that is not present; BaseImageUnavailable if one fails."""
    for image in images:
        if image_exists(image):
            continue
        log.parent.mkdir(parents=True, exist_ok=True)
        if echo:
            say(f"pulling base image {image} (log: {log})")
        if run_tee(["docker", "pull", image], log, echo=echo) != 0:
            why = telling_log_line(log)
            raise BaseImageUnavailable(image, why.replace("Error response from daemon: ", ""))


def pip_install_layer(packages: List[str]) -> str:
    """A Dockerfile line that pip-installs `packages`, each quoted so that a pin like
    `papermill>=2.5` reaches pip instead of being a shell redirection."""
    return f"RUN python -m pip install --no-cache-dir {shlex.join(packages)}"


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
        raise UserError(
            f"docker build of {context} failed (exit {code}): {telling_log_line(log)}; log: {log}",
            code,
        )
