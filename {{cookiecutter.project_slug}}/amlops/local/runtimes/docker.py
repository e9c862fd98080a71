"""Run a job's command inside its environment's image, as Azure ML would.

The image comes from local/environments.py: built from a build context
(tagged by the context's content hash), or an image run as it is (pulled
when absent). Mounts: the code snapshot at /mnt/code (the working
directory), the run's outputs at /mnt/outputs, logs at /mnt/logs, each input
under /mnt/inputs (read-only unless it is the run's own downloaded copy).
`resources.shm_size` and `resources.docker_args` reach `docker run` as in
Azure ML."""

import hashlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

from amlops.console import say
from amlops.errors import UserError
from amlops.local.environments import (
    CONDA_CHECK,
    DockerRecipe,
    declares_base_image,
    docker_recipe,
)
from amlops.local.images import (
    STAY_IN_DOCKER_IMAGE,
    BaseImageUnavailable,
    JobImageUnavailable,
    base_images,
    build_image,
    context_hash,
    image_exists,
    image_name,
    pip_install_layer,
    pull_missing,
)
from amlops.local.layered import LayeredBuild, LayeredBuilds
from amlops.local.procs import INTERRUPTED, run_tee
from amlops.local.resolve import CODE_MOUNT, CONTAINER_OUTPUTS, LOG_MOUNT, ResolvedJob
from amlops.project import Project
from amlops.spec.job import JobSpec
from amlops.textfile import read_text
from amlops.tracking.local import docker_options

# Set in every container: a writable HOME for a non-root user, live logs.
FIXED_ENV = {"HOME": "/tmp", "PYTHONUNBUFFERED": "1", "AMLOPS_LOG_DIR": LOG_MOUNT}


class DockerRuntime:
    """The job's environment as a Docker image (see the module docstring)."""

    name = "docker"
    in_container = True

    def __init__(self, project: Project, spec: JobSpec) -> None:
        settings = project.settings
        self.project = project
        self.spec = spec
        self.recipe: DockerRecipe = docker_recipe(project, spec)
        self.notice = self.recipe.notice
        self.detail = ""
        base = settings.get("BASE_IMAGE")
        # Only to Dockerfiles that declare it: Docker warns of a build arg not consumed.
        self.build_args = [f"BASE_IMAGE={base}"] if base and self._declares_base_image() else []
        self.build_extra = shlex.split(settings.get("DOCKER_BUILD_ARGS"))
        self.run_extra = shlex.split(settings.get("DOCKER_RUN_ARGS"))
        self.tag = self.recipe.image or self._build_tag()
        # Names images derived from this one (JupyterLab, papermill), and prune's key.
        self.local_digest = (
            self.tag.rsplit(":", 1)[1]
            if self.recipe.context
            else (hashlib.sha256(self.tag.encode()).hexdigest()[:12])
        )

    def _declares_base_image(self) -> bool:
        """Whether the Dockerfile built has `ARG BASE_IMAGE` (the BASE_IMAGE setting's hook)."""
        if self.recipe.context is None:
            return False
        text = self.recipe.generated.get(self.recipe.dockerfile)
        if text is None:
            path = self.recipe.context / self.recipe.dockerfile
            text = read_text(path) if path.is_file() else ""
        return declares_base_image(text)

    @property
    def context(self) -> Path:
        assert self.recipe.context is not None
        return self.recipe.context

    def _build_tag(self) -> str:
        """`<project>-<experiment>:<hash of the context, Dockerfile name and build args>`."""
        self._write_generated()
        args = list(self.build_args)
        if self.recipe.dockerfile != "Dockerfile":
            args.append(f"dockerfile={self.recipe.dockerfile}")
        digest = context_hash(self.context, args)
        return f"{image_name(self.project.slug, self.spec.experiment)}:{digest}"

    def _write_generated(self) -> None:
        """Write a generated build context (image + conda) once; its name is its content."""
        if not self.recipe.generated:
            return
        self.context.mkdir(parents=True, exist_ok=True)
        for name, text in self.recipe.generated.items():
            path = self.context / name
            if not path.is_file() or path.read_bytes() != text.encode("utf-8"):
                path.write_text(text, encoding="utf-8")

    def describe(self) -> str:
        if self.recipe.context is None:
            return self.recipe.label
        return f"image {self.tag} ({self.recipe.label})"

    def identity(self) -> str:
        return f"docker:{self.tag}"

    def ready(self) -> bool:
        return image_exists(self.tag)

    @property
    def build_log(self) -> Path:
        return self.project.runs / ".builds" / f"{self.tag.replace(':', '-').replace('/', '_')}.log"

    def needed_images(self) -> List[str]:
        """The images this runtime pulls when absent: the image itself, or the
        Dockerfile's base images."""
        if self.recipe.context is None:
            return [self.tag]
        given = self.build_args + [
            value
            for flag, value in zip(self.build_extra, self.build_extra[1:])
            if flag == "--build-arg"
        ]
        dockerfile = read_text(self.context / self.recipe.dockerfile)
        return base_images(dockerfile, given)

    def pull_base(self, echo: bool = True) -> None:
        """Pull the images the job needs that are not present, so that an unreachable
        registry is told apart from a failing build (BaseImageUnavailable)."""
        try:
            pull_missing(self.needed_images(), self.build_log, echo)
        except BaseImageUnavailable as err:
            if self.recipe.context is None or self.recipe.generated:
                # the job's own image (image:, or image: + conda_file: built on it by
                # amlops): no Dockerfile of the user's for BASE_IMAGE to reach
                raise JobImageUnavailable(*err.args[:2], STAY_IN_DOCKER_IMAGE) from None
            if not self.recipe.notice.startswith("BASE_IMAGE="):
                raise
            # BASE_IMAGE is set but this Dockerfile ignores it: say so, not "set BASE_IMAGE"
            raise BaseImageUnavailable(err.args[0], err.args[1], self.recipe.notice) from None

    def prepare(self, echo: bool = True) -> bool:
        """Build (or pull) the image unless it is present; True when a build ran. A
        built image present already becomes the one a layered build starts from."""
        builds = None
        if self.recipe.context is not None:
            repo = image_name(self.project.slug, self.spec.experiment)
            builds = LayeredBuilds(
                self.project.runs / ".builds", repo, self.context, self.recipe.dockerfile
            )
        if self.ready():
            if builds is not None and builds.last_tag() != self.tag:
                builds.remember(self.tag, self.build_args, 0)
            return False
        self.pull_base(echo)
        if builds is None:
            return False
        layered = None
        if self.project.settings.get("LAYERED_BUILDS", "1") != "0":
            layered = builds.plan(self.build_args, image_exists)
        if layered is not None:
            built = self._build_layered(builds, layered, echo)
            if built is not None:
                return built
        extra = list(self.build_extra)
        if self.recipe.dockerfile != "Dockerfile":
            extra += ["-f", str(self.context / self.recipe.dockerfile)]
        try:
            built = build_image(
                self.tag, self.context, self.build_args, extra, self.build_log, echo
            )
        except UserError as err:
            if self.recipe.no_conda is not None and CONDA_CHECK in str(err):
                raise self.recipe.no_conda from None
            raise
        builds.remember(self.tag, self.build_args, 0)
        return built

    def _build_layered(
        self, builds: LayeredBuilds, layered: LayeredBuild, echo: bool
    ) -> Optional[bool]:
        """Build the image over the previous one (amlops.local.layered); None when that
        build failed and a whole one should follow (said in one line)."""
        builds.generated_path.parent.mkdir(parents=True, exist_ok=True)
        builds.generated_path.write_text(layered.dockerfile, encoding="utf-8")
        extra = [*self.build_extra, "-f", str(builds.generated_path)]
        try:
            built = build_image(
                self.tag, self.context, layered.build_args, extra, self.build_log, echo
            )
        except UserError as err:
            if err.exit_code == INTERRUPTED:
                raise
            say(f"the layered build over {layered.previous} failed ({err}); building whole")
            return None
        say(layered.notice)
        builds.remember(self.tag, self.build_args, layered.depth)
        return built

    def with_packages(self, suffix: str, packages: List[str]) -> str:
        """The job's image plus `packages` (tag `<tag>-<suffix>`), built once, so
        tools like JupyterLab or papermill stay out of the image Azure ML runs."""
        tag = f"{image_name(self.project.slug, self.spec.experiment)}:{self.local_digest}-{suffix}"
        if image_exists(tag):
            return tag
        context = self.project.runs / ".builds" / suffix
        context.mkdir(parents=True, exist_ok=True)
        dockerfile = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
        dockerfile += pip_install_layer(packages) + "\n"
        (context / "Dockerfile").write_text(dockerfile, encoding="utf-8")
        log = context.parent / f"{tag.replace(':', '-').replace('/', '_')}.log"
        build_image(tag, context, [f"BASE_IMAGE={self.tag}"], self.build_extra, log)
        return tag

    def docker_argv(
        self, job: ResolvedJob, run_dir: Path, env: Dict[str, str], interactive: bool
    ) -> List[str]:
        """The `docker run` arguments (everything before the image)."""
        container = container_name(self.project, run_dir)
        argv = ["docker", "run", "--rm", "--name", container]
        if interactive:
            argv.append("-it" if sys.stdin.isatty() else "-i")
        if hasattr(os, "getuid"):
            argv += ["--user", f"{os.getuid()}:{os.getgid()}"]
        for key, value in FIXED_ENV.items():
            argv += ["-e", f"{key}={value}"]
        for key in sorted(env):
            argv += ["-e", key]  # values travel in the CLI's environment, not argv
        mounts = [
            (run_dir / "src", CODE_MOUNT, False),
            (run_dir / "outputs", CONTAINER_OUTPUTS, False),
            (run_dir / "logs", LOG_MOUNT, False),
        ]
        for binding in job.inputs.values():
            mounts.append((binding.host, binding.mount_point, binding.read_only))
        for host, target, read_only in mounts:
            spec = f"type=bind,source={host},target={target}"
            argv += ["--mount", spec + (",readonly" if read_only else "")]
        argv += ["-w", CODE_MOUNT, *resource_args(self.spec), *self.run_extra]
        return argv + docker_options(env, argv)  # the tracking store, or a localhost server

    def run(self, job: ResolvedJob, run_dir: Path, env: Dict[str, str], echo: bool = True) -> int:
        argv = self.docker_argv(job, run_dir, env, interactive=False)
        argv += [self.tag, *job.argv]
        name = argv[argv.index("--name") + 1]
        return run_tee(
            argv,
            run_dir / "logs" / "std_log.txt",
            env={**os.environ, **env},
            on_interrupt=lambda: _kill(name),
            echo=echo,
            timeout=job.timeout,
        )


def resource_args(spec: JobSpec) -> List[str]:
    """`docker run` arguments from `resources:` (shm_size, docker_args), as Azure ML
    passes them to the container."""
    resources = spec.raw.get("resources") or {}
    argv: List[str] = []
    if resources.get("shm_size"):
        argv += ["--shm-size", str(resources["shm_size"])]
    if resources.get("docker_args"):
        argv += shlex.split(str(resources["docker_args"]))
    return argv


def container_name(project: Project, run_dir: Path) -> str:
    """amlops-<run folder under .runs/, dashed>: unique per run, and per pipeline step."""
    try:
        parts = run_dir.resolve().relative_to(project.runs.resolve()).parts
    except ValueError:
        parts = (run_dir.name,)
    return "amlops-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(parts))


def _kill(container: str) -> None:
    """Stop and remove the container now, also one created but never started."""
    subprocess.run(["docker", "rm", "-f", container], capture_output=True)
