"""Experiment images: tagged by a hash of their build context, built only when missing.

Two commands needing the same unbuilt tag (two `make local`, two pipelines) build it
once: the build holds a file lock per tag, and the second waits and reuses the image.
A base image that cannot be pulled is remembered for PULL_RETRY_S, so later
commands do not try (and print the daemon's error) again."""

import hashlib
import json
import re
import shlex
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from amlops.console import log_tail, say, verbose
from amlops.errors import UserError
from amlops.jsonfile import write_json
from amlops.local.dockerignore import context_files
from amlops.local.procs import INTERRUPTED, run_tee, telling_line, telling_log_line

PULL_RETRY_S = 15 * 60  # how long a failed base-image pull is remembered
PULL_MEMO = "pull-failures.json"  # in .runs/.builds/
STAY_IN_DOCKER = (
    "to stay in Docker, set BASE_IMAGE= in config.env to an image you have (for Dockerfiles"
    " with ARG BASE_IMAGE), or LOCAL_IMAGE=<image> to run any job in an image of yours"
)


class DockerUnavailable(Exception):
    """Docker cannot run experiments here; str() says why in a few words."""


class EngineUnavailable(DockerUnavailable):
    """No Docker engine answers (no CLI, daemon down, or no permission)."""

    def __str__(self) -> str:
        return f"no Docker engine ({self.args[0]})"


STAY_IN_DOCKER_IMAGE = (
    "to stay in Docker, set LOCAL_IMAGE=<image> to run this job in an image you have"
)


class BaseImageUnavailable(DockerUnavailable):
    """A base image is neither present nor pullable (offline, private registry, typo).
    args: (image, why[, advice]); advice defaults to STAY_IN_DOCKER."""

    kind = "base image"

    def __str__(self) -> str:
        image, why = self.args[:2]
        advice = self.args[2] if len(self.args) > 2 else STAY_IN_DOCKER
        return f"{self.kind} {image} cannot be pulled{_curated_hint(image)} ({why}; {advice})"


class JobImageUnavailable(BaseImageUnavailable):
    """The image an `image:` environment names (no Dockerfile: BASE_IMAGE cannot reach
    it) is neither present nor pullable."""

    kind = "image"


def _curated_hint(image: str) -> str:
    """` (did you mean '<closest curated image>'?)` for a curated image amlops does not
    know (a misspelt name), else ""."""
    from amlops.local.curated import curated_name, did_you_mean, shipped_names

    return did_you_mean(image, curated_name(image=image), shipped_names())


@contextmanager
def engine_required(target: str) -> Iterator[None]:
    """Turn DockerUnavailable into the one-line error of a Docker-only make target."""
    try:
        yield
    except DockerUnavailable as err:
        raise UserError(f"make {target} needs Docker, but {err}") from None


def context_hash(context: Path, build_args: List[str]) -> str:
    """12 hex digits: a digest of the build arguments and of every file `docker build`
    sends from `context` (its .dockerignore honoured, see dockerignore.py)."""
    digest = hashlib.sha256()
    for arg in build_args:
        digest.update(arg.encode() + b"\0")
    for path in context_files(context):
        if "__pycache__" in path.parts or not path.is_file():
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


_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VARIABLE = re.compile(rf"\$(?:\{{(?P<braced>{_NAME})(?P<op>:?[-+?])?|(?P<bare>{_NAME}))")


def expand(text: str, values: Dict[str, str]) -> str:
    """`text` with Dockerfile variables replaced as Docker does: `$VAR`, `${VAR}`,
    `${VAR:-default}` (default when unset or empty), `${VAR-default}` (when unset),
    `${VAR:+alt}` / `${VAR+alt}` (alt when set), `${VAR:?msg}` / `${VAR?msg}` (empty);
    defaults may hold variables themselves; `\\$` is a literal `$`. Unset is ""."""
    out = []
    i = 0
    while i < len(text):
        if text.startswith("\\$", i):
            out.append("$")
            i += 2
            continue
        match = _VARIABLE.match(text, i) if text[i] == "$" else None
        if not match:
            out.append(text[i])
            i += 1
            continue
        if match.group("bare"):
            out.append(values.get(match.group("bare"), ""))
            i = match.end()
            continue
        name, op = match.group("braced"), match.group("op") or ""
        depth, j = 1, match.end()
        while j < len(text) and depth:  # the word runs to the matching brace
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        word = expand(text[match.end() : j - 1], values) if op else ""
        value = values.get(name)
        is_set = value is not None
        if op in (":-", ":+", ":?"):
            is_set = bool(value)
        if op.endswith("-"):
            out.append(value if is_set else word)
        elif op.endswith("+"):
            out.append(word if is_set else "")
        else:
            out.append(value or "")
        i = j
    return "".join(out)


def base_images(dockerfile: str, build_args: List[str]) -> List[str]:
    """The images the Dockerfile's FROM lines name, after the ARGs before the first FROM
    (their defaults, or `--build-arg NAME=value`) are substituted as Docker does (see
    expand()); earlier stages and scratch left out."""
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
        if keyword == "ARG" and not seen_from:
            for word in words[1:]:
                name, has_default, default = word.partition("=")
                if name in given:
                    values[name] = given[name]
                elif has_default:
                    values[name] = expand(default.strip("\"'"), values)
        elif keyword == "FROM":
            seen_from = True
            words = [w for w in words[1:] if not w.startswith("--")]
            if not words:
                continue
            image = expand(words[0], values)
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2].lower())
            if image and image.lower() not in stages and image not in images:
                images.append(image)
    return images


def _pull_memo(log: Path) -> Path:
    return log.parent / PULL_MEMO


def _remembered_failure(image: str, log: Path) -> Optional[str]:
    """Why `image` could not be pulled, if that was less than PULL_RETRY_S ago."""
    try:
        entry = json.loads(_pull_memo(log).read_text(encoding="utf-8")).get(image) or {}
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(entry, dict):
        return None  # a damaged memo: try the pull
    at = entry.get("at", 0)
    if not isinstance(at, (int, float)) or time.time() - at > PULL_RETRY_S:
        return None
    when = time.strftime("%H:%M", time.localtime(at))
    retry = time.strftime("%H:%M", time.localtime(at + PULL_RETRY_S))
    return f"{entry.get('why', 'failed')}; as found at {when}; will try again after {retry}"


def _remember_pull(image: str, log: Path, why: str) -> None:
    """Record (why="") or forget a failed pull of `image`."""
    memo = _pull_memo(log)
    try:
        entries = json.loads(memo.read_text(encoding="utf-8"))
        entries = entries if isinstance(entries, dict) else {}
    except (OSError, ValueError):
        entries = {}
    if why:
        entries[image] = {"at": time.time(), "why": why}
    elif entries.pop(image, None) is None:
        return
    write_json(memo, entries)


def known_unpullable(images: List[str], log: Path) -> Optional[str]:
    """Why one of `images` is absent and could not be pulled lately (else None); asks
    the engine, pulls nothing (a plan uses it to foresee the venv fallback)."""
    for image in images:
        if not image_exists(image):
            remembered = _remembered_failure(image, log)
            if remembered:
                return f"base image {image} cannot be pulled{_curated_hint(image)} ({remembered})"
    return None


def pull_missing(images: List[str], log: Path, echo: bool = True) -> None:
    """`docker pull` each image that is not present; BaseImageUnavailable if one fails.

    The pull's output goes to `log` only (the reason is in the exception); a failure
    is remembered for PULL_RETRY_S in .runs/.builds/pull-failures.json and not
    retried until then (a `docker pull` of your own, or any present image, wins)."""
    for image in images:
        if image_exists(image):
            continue
        log.parent.mkdir(parents=True, exist_ok=True)
        remembered = _remembered_failure(image, log)
        if remembered:
            raise BaseImageUnavailable(image, remembered)
        if echo:
            say(f"pulling base image {image} (log: {log})")
        code = run_tee(["docker", "pull", image], log, echo=False)
        if code == INTERRUPTED:
            raise UserError(f"pulling {image} was interrupted", INTERRUPTED)
        if code != 0:
            why = telling_log_line(log).replace("Error response from daemon: ", "")
            _remember_pull(image, log, why)
            raise BaseImageUnavailable(image, why)
        _remember_pull(image, log, "")


def pip_install_layer(packages: List[str]) -> str:
    """A Dockerfile line that pip-installs `packages`, each quoted so that a pin like
    `papermill>=2.5` reaches pip instead of being a shell redirection."""
    return f"RUN python -m pip install --no-cache-dir {shlex.join(packages)}"


@contextmanager
def build_lock(tag: str, log: Path) -> Iterator[None]:
    """Hold the cross-process lock of building `tag` (a file beside its build log);
    says once when another process holds it."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(log.with_suffix(".lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        say(f"waiting for another build of {tag} to finish")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def build_image(
    tag: str, context: Path, build_args: List[str], extra: List[str], log: Path, echo: bool = True
) -> bool:
    """`docker build --force-rm` the context into `tag`, logging the output; with `echo`
    one line names the log (VERBOSE=1 streams the output too) and a failure prints the
    log's last lines. A failed build leaves no container behind. False (and no build) when another
    process built `tag` while this one waited for the build lock.

    Raises UserError with the build's telling line and the log path when it fails
    (exit code 130 when it was interrupted)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(tag, log):
        if image_exists(tag):
            say(f"image {tag} was built meanwhile by another command; using it")
            return False
        argv = ["docker", "build", "--force-rm", "-t", tag]
        for arg in build_args:
            argv += ["--build-arg", arg]
        argv += [*extra, str(context)]
        if echo:
            say(f"building image {tag} (log: {log}; VERBOSE=1 streams it)")
        code = run_tee(argv, log, echo=echo and verbose())
    if code == INTERRUPTED:
        raise UserError(f"docker build of {tag} was interrupted", INTERRUPTED)
    if code != 0:
        if echo and not verbose():  # the build's own words, which the one line cannot hold
            print(log_tail(log), file=sys.stderr, flush=True)
        raise UserError(
            f"docker build of {context} failed (exit {code}): {telling_log_line(log)}; log: {log}",
            code,
        )
    return True
