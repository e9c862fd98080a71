"""Run a job's command inside the experiment image, as Azure ML would."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

from amlops.local.images import (
    base_images,
    build_image,
    context_hash,
    image_exists,
    image_name,
    pip_install_layer,
    pull_missing,
)
from amlops.local.procs import run_tee
from amlops.local.resolve import ResolvedJob
from amlops.project import Project

CODE_MOUNT = "/mnt/code"
LOG_MOUNT = "/mnt/logs"
# Set in every container: a writable HOME for a non-root user, live logs.
FIXED_ENV = {"HOME": "/tmp", "PYTHONUNBUFFERED": "1", "AMLOPS_LOG_DIR": LOG_MOUNT}


class DockerRuntime:
    """The experiment image built from src/<exp>/docker/, tagged by context hash."""

    name = "docker"
    in_container = True

    def __init__(self, project: Project, experiment: str) -> None:
        settings = project.settings
        self.project = project
        self.experiment = experiment
        self.context = project.src / experiment / "docker"
        base = settings.get("BASE_IMAGE")
        self.build_args = [f"BASE_IMAGE={base}"] if base else []
        self.build_extra = shlex.split(settings.get("DOCKER_BUILD_ARGS"))
        self.run_extra = shlex.split(settings.get("DOCKER_RUN_ARGS"))
        digest = context_hash(self.context, self.build_args)
        self.tag = f"{image_name(project.slug, experiment)}:{digest}"

    def describe(self) -> str:
        return f"image {self.tag}"

    def identity(self) -> str:
        return f"docker:{self.tag}"

    def ready(self) -> bool:
        return image_exists(self.tag)

    @property
    def build_log(self) -> Path:
        return self.project.runs / ".builds" / f"{self.tag.replace(':', '-')}.log"

    def pull_base(self, echo: bool = True) -> None:
        """Pull the Dockerfile's missing base images, so that an unreachable
        registry is told apart from a failing build (BaseImageUnavailable)."""
        given = self.build_args + [
            value
            for flag, value in zip(self.build_extra, self.build_extra[1:])
            if flag == "--build-arg"
        ]
        dockerfile = (self.context / "Dockerfile").read_text(encoding="utf-8")
        pull_missing(base_images(dockerfile, given), self.build_log, echo)

    def prepare(self, echo: bool = True) -> bool:
        """Build the image unless its tag exists; True when a build ran."""
        if self.ready():
            return False
        self.pull_base(echo)
        build_image(self.tag, self.context, self.build_args, self.build_extra, self.build_log, echo)
        return True

    def with_packages(self, suffix: str, packages: List[str]) -> str:
        """The experiment image plus `packages` (tag `<tag>-<suffix>`), built once, so
        tools like JupyterLab or papermill stay out of the image Azure ML runs."""
        tag = f"{self.tag}-{suffix}"
        if image_exists(tag):
            return tag
        context = self.project.runs / ".builds" / suffix
        context.mkdir(parents=True, exist_ok=True)
        dockerfile = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
        dockerfile += pip_install_layer(packages) + "\n"
        (context / "Dockerfile").write_text(dockerfile, encoding="utf-8")
        log = context.parent / f"{tag.replace(':', '-')}.log"
        build_image(tag, context, [f"BASE_IMAGE={self.tag}"], self.build_extra, log)
        return tag

    def docker_argv(
        self, job: ResolvedJob, run_dir: Path, env: Dict[str, str], interactive: bool
    ) -> List[str]:
        """The `docker run` arguments (everything before the command)."""
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
        mounts = [(run_dir / "src", CODE_MOUNT, False), (run_dir / "logs", LOG_MOUNT, False)]
        for binding in (*job.inputs.values(), *job.outputs.values()):
            mounts.append((binding.host, binding.mount_point, binding.read_only))
        for host, target, read_only in mounts:
            spec = f"type=bind,source={host},target={target}"
            argv += ["--mount", spec + (",readonly" if read_only else "")]
        return argv + ["-w", CODE_MOUNT, *self.run_extra]

    def run(self, job: ResolvedJob, run_dir: Path, env: Dict[str, str], echo: bool = True) -> int:
        argv = self.docker_argv(job, run_dir, env, interactive=False)
        argv += [self.tag, "bash", "-c", job.command]
        name = argv[argv.index("--name") + 1]
        return run_tee(
            argv,
            run_dir / "logs" / "std_log.txt",
            env={**os.environ, **env},
            on_interrupt=lambda: _kill(name),
            echo=echo,
        )


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
