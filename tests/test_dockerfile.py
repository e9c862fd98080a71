"""The experiment Dockerfile the template bakes: it builds in a real engine on the offline
base image, a changed requirement rebuilds only the install layer, and it keeps to the
syntax Azure ML's own image builder takes."""

import re
import subprocess
import uuid

import pytest

from tests.helpers import TEMPLATE_PROJECT

DOCKERFILE = TEMPLATE_PROJECT / "templates/experiment/{{cookiecutter.exp_name}}/docker/Dockerfile"


def test_the_dockerfile_uses_no_buildkit_only_syntax():
    """Azure ML builds environment images on ACR Tasks or an image-build cluster, whose
    builder is the classic one: `RUN --mount`, heredocs and `# syntax=` would fail there."""
    text = DOCKERFILE.read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    instructions = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "--mount" not in instructions and "<<" not in instructions
    assert "ARG BASE_IMAGE=mcr.microsoft.com/azureml/" in instructions


@pytest.mark.docker
def test_the_dockerfile_builds_here_and_a_new_requirement_rebuilds_only_the_install(
    docker_baked,
):
    first = docker_baked.make("build-exp", EXP="train")
    assert first.returncode == 0, first.stdout + first.stderr

    requirements = docker_baked.path / "src/train/docker/requirements.txt"
    # A unique comment makes a context no earlier test run built (images are tagged by
    # content hash), so this build really runs.
    requirements.write_text(requirements.read_text() + f"six  # {uuid.uuid4().hex}\n")
    # a whole build, as Azure ML makes it (a layered one is tests/test_layered_builds.py)
    again = docker_baked.make("build-exp", EXP="train", LAYERED_BUILDS="0", VERBOSE="1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "built over the previous image" not in again.stderr
    steps = again.stdout.split("Step ")
    venv_step = next(s for s in steps if "python3 -m venv /opt/venv" in s)
    install_step = next(s for s in steps if "uv pip install" in s)
    assert "Using cache" in venv_step, "the pip + uv layer does not depend on requirements"
    assert "Using cache" not in install_step

    tag = again.stdout.split("image ", 1)[1].split()[0]
    probe = "import six, sklearn, mlflow; import shutil; print(shutil.which('pip'))"
    ran = subprocess.run(
        ["docker", "run", "--rm", "-u", "1000:1000", tag, "python", "-c", probe],
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "/opt/venv/bin/pip", "pip stays for the notebooks layer"
