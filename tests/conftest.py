"""Shared fixtures: baked projects, and a real Docker engine with an offline base image."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO, Baked, bake

BASE_IMAGE = os.environ.get("TEST_BASE_IMAGE", "amlops-test-base:bookworm")
IN_CI = bool(os.environ.get("CI"))


def _engine_up() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def _unavailable(reason: str):
    """Docker tests must run in CI; elsewhere they skip and say why."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}: .ci/run must start dockerd and build {BASE_IMAGE}")
    pytest.skip(f"{reason} and CI is unset: Docker tests skipped")


@pytest.fixture(scope="session")
def docker_base_image() -> str:
    """The offline base image, built by tests/support/docker_engine.sh if missing."""
    if not _engine_up():
        if os.geteuid() == 0 and shutil.which("dockerd"):
            subprocess.run(["bash", str(REPO / "tests/support/docker_engine.sh"), BASE_IMAGE])
        if not _engine_up():
            _unavailable("no Docker engine answers")
    inspect = ["docker", "image", "inspect", BASE_IMAGE]
    if subprocess.run(inspect, capture_output=True).returncode != 0:
        if shutil.which("debootstrap") and os.geteuid() == 0:
            subprocess.run(["bash", str(REPO / "tests/support/docker_engine.sh"), BASE_IMAGE])
        if subprocess.run(inspect, capture_output=True).returncode != 0:
            _unavailable(f"base image {BASE_IMAGE} is missing and cannot be built")
    return BASE_IMAGE


@pytest.fixture(scope="session")
def shared_venvs(tmp_path_factory) -> Path:
    """One venv cache for every baked project of the session (same requirements)."""
    return tmp_path_factory.mktemp("venvs")


@pytest.fixture
def baked(tmp_path, shared_venvs) -> Baked:
    """A freshly baked default project, set up to run without network pulls."""
    return Baked(bake(tmp_path), env={"VENV_DIR": str(shared_venvs)})


@pytest.fixture
def docker_baked(baked, docker_base_image) -> Baked:
    """A fresh default project whose images build on the offline base image."""
    baked.env.update(
        BASE_IMAGE=docker_base_image, DOCKER_BUILD_ARGS="--network host", RUNTIME="docker"
    )
    return baked
