"""Shared fixtures: baked projects, and a real Docker engine with an offline base image.

`make test` runs the suite on several workers (pytest-xdist, `--dist loadgroup`). Every
test that uses Docker runs on one worker, one at a time and in file order, as before:
those tests check `docker ps`, and `make prune` removes images that other Docker tests
build. The tests of a file with a module- or class-scoped fixture stay together on one
worker, in their order (they share that fixture's project, and some check what the
file's other tests left, e.g. with `pgrep`). Other tests are spread one by one: each
has its own project, its own processes (named by its pid where a test looks for them)
and the locked shared caches (VENV_DIR, the tools cache)."""

import getpass
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.helpers import REPO, Baked, default_project, named_images_lock

# Every Python the tests start (make -> amlops, jobs in the shared venvs, MLflow and
# azure-ai-ml in .venv) compiles what it imports once per machine, into one folder
# outside the projects, instead of on every start: with PYTHONDONTWRITEBYTECODE set
# (this machine) and a .venv that uv installed without bytecode, each cloud command
# compiled azure-ai-ml (5.8 s CPU against 2.3 s) and each tracked run MLflow (4.8 s
# against 1.8 s). Importlib writes these files atomically, so workers may share them.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ.setdefault(
    "PYTHONPYCACHEPREFIX",
    str(Path(tempfile.gettempdir()) / f"amlops-tests-pyc-{getpass.getuser()}"),
)

BASE_IMAGE = os.environ.get("TEST_BASE_IMAGE", "amlops-test-base:bookworm")
IN_CI = bool(os.environ.get("CI"))
RECORDED_CURATED = REPO / "tests/cases/curated"
# amlops commands of `baked` projects run through the fork server (tests/helpers.py
# forkserver_python); AMLOPS_TEST_FORKSERVER=0 runs every one as a fresh process.
PRELOAD = os.environ.get("AMLOPS_TEST_FORKSERVER", "1") != "0"
DOCKER_FIXTURES = {"docker_base_image", "docker_baked"}


def _uses_docker(item: pytest.Item) -> bool:
    """Whether a test needs the Docker engine: a Docker fixture, the docker mark, or a
    parameter named docker (tests that ask for docker_baked only for that parameter)."""
    if DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    if item.get_closest_marker("docker"):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "docker" in callspec.id.replace("[", "-").split("-")


def _shares_a_fixture(item: pytest.Item) -> bool:
    """Whether a test uses a fixture shared with its file's other tests (module, class
    or package scope). Without pytest's fixture info, assume it does."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return True
    scopes = {d.scope for defs in info.name2fixturedefs.values() for d in defs}
    return bool(scopes & {"module", "class", "package"})


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (it runs after this)
def pytest_collection_modifyitems(config, items):
    """The xdist group of each test: `docker` for tests that use Docker, its file for
    tests that share a fixture with their file, none (spread freely) for the rest."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        if _uses_docker(item):
            item.add_marker(pytest.mark.xdist_group(name="docker"))
        elif _shares_a_fixture(item):
            item.add_marker(pytest.mark.xdist_group(name=item.nodeid.split("::")[0]))


def pytest_collection_finish(session):
    """On an xdist worker with --dist loadgroup, stop if the groups did not take: xdist
    groups tests by a suffix it adds to their ids, which pytest 9 ignores (the tests
    would then run spread out, Docker tests at the same time)."""
    if not session.config.getoption("loadgroup", False):
        return
    lost = [
        item.nodeid
        for item in session.items
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid
    ]
    if lost:
        raise pytest.UsageError(
            f"pytest-xdist --dist loadgroup did not group {lost[0]} (pytest"
            f" {pytest.__version__}): install requirements-dev.txt's pytest"
        )


@pytest.fixture(autouse=True)
def _no_public_image_names_meanwhile(request):
    """A test that does not use Docker runs while no Docker test has local images tagged
    under public names (helpers.named_images_lock)."""
    if _uses_docker(request.node):
        yield
        return
    with named_images_lock(exclusive=False):
        yield


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
    """One venv cache for every baked project of the session (same requirements), shared
    by the xdist workers (amlops locks a venv while it builds it)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # <basetemp>/popen-gw<N>: the parent is the session's
    venvs = base / "venvs"
    venvs.mkdir(exist_ok=True)
    return venvs


@pytest.fixture
def baked(tmp_path, shared_venvs) -> Baked:
    """A fresh default project (a copy of one bake per worker: a default bake does not
    depend on its folder, tests/test_bake.py checks), set up to run without network
    pulls: curated environments get recorded package lists (tests/cases/curated/), the
    packages of the train experiment's venv, instead of Microsoft's published ones."""
    env = {"VENV_DIR": str(shared_venvs), "CURATED_ENVIRONMENTS": str(RECORDED_CURATED)}
    return Baked(default_project(tmp_path), env=env, preload=PRELOAD)


@pytest.fixture
def docker_baked(baked, docker_base_image) -> Baked:
    """A fresh default project whose images build on the offline base image."""
    baked.env.update(
        BASE_IMAGE=docker_base_image, DOCKER_BUILD_ARGS="--network host", RUNTIME="docker"
    )
    return baked
