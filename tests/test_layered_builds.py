"""Layered image builds (amlops/local/layered.py): after lines are only added to a
requirements file, the image is built over its previous build and says so; anything
else builds whole. The plan is checked without Docker; one Docker test compares the
layered image's packages with a whole build of the same context."""

import json
import subprocess
import sys
import uuid

import pytest

from tests.helpers import TEMPLATE_PROJECT

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.local.layered import MAX_DEPTH, LayeredBuilds, parse_dockerfile  # noqa: E402

DOCKERFILE = """# syntax=docker/dockerfile:1
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG EXTRA=0
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# requirements from here on
COPY requirements.txt /tmp/requirements.txt
RUN pip install \\
    # a comment inside a continuation
    -r /tmp/requirements.txt
CMD ["python"]
"""
PRESENT = {"img:old"}


def present(tag):
    return tag in PRESENT


@pytest.fixture
def context(tmp_path):
    folder = tmp_path / "docker"
    folder.mkdir()
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "requirements.txt").write_text("numpy\nscikit-learn>=1.3  # models\n")
    (folder / "helper.sh").write_text("echo hi\n")
    return folder


def builds_of(context):
    return LayeredBuilds(context.parent / "builds", "img", context, "Dockerfile")


def test_dockerfile_instructions_keep_continuations_and_drop_comments():
    directives, instructions = parse_dockerfile(DOCKERFILE)
    assert directives == ["# syntax=docker/dockerfile:1"]
    keywords = [i.keyword for i in instructions]
    assert keywords == ["ARG", "FROM", "ARG", "RUN", "ENV", "COPY", "RUN", "CMD"]
    assert instructions[6].text.count("\n") == 2  # the comment line stays inside


def test_an_added_requirement_builds_over_the_previous_image(context):
    builds = builds_of(context)
    builds.remember("img:old", ["BASE_IMAGE=base:1"], 0)
    with open(context / "requirements.txt", "a") as handle:
        handle.write("toolz\n")
    plan = builds.plan(["BASE_IMAGE=base:1"], present)
    assert plan is not None and plan.previous == "img:old" and plan.depth == 1
    assert plan.dockerfile == (
        "# syntax=docker/dockerfile:1\nFROM img:old\nARG EXTRA=0\n"
        "COPY requirements.txt /tmp/requirements.txt\n"
        "RUN pip install \\\n    # a comment inside a continuation\n"
        "    -r /tmp/requirements.txt\n"
        'CMD ["python"]\n'
    )
    assert plan.build_args == []  # BASE_IMAGE is not an ARG of the layered Dockerfile
    assert "requirements.txt gained toolz" in plan.notice
    assert "Azure ML builds the Dockerfile whole (LAYERED_BUILDS=0" in plan.notice


def test_a_comment_only_change_is_layered_and_said(context):
    builds = builds_of(context)
    builds.remember("img:old", [], 0)
    (context / "requirements.txt").write_text("# pinned later\nnumpy\nscikit-learn>=1.3\n")
    plan = builds.plan([], present)
    assert plan is not None and "changed in comments only" in plan.notice


WHOLE = {
    "a line removed": lambda c: (c / "requirements.txt").write_text("numpy\n"),
    "a line changed": lambda c: (c / "requirements.txt").write_text("numpy\nscikit-learn>=1.4\n"),
    "another file changed": lambda c: (c / "helper.sh").write_text("echo bye\n"),
    "a file added": lambda c: (c / "new.txt").write_text("x\n"),
    "the Dockerfile changed": lambda c: (c / "Dockerfile").write_text(DOCKERFILE + "EXPOSE 1\n"),
}


@pytest.mark.parametrize("change", sorted(WHOLE))
def test_anything_but_added_lines_builds_whole(context, change):
    builds = builds_of(context)
    builds.remember("img:old", [], 0)
    WHOLE[change](context)
    with open(context / "requirements.txt", "a") as handle:
        handle.write("toolz\n")
    assert builds.plan([], present) is None


TAILS = {
    "USER in the tail": DOCKERFILE + "USER app\n",
    "WORKDIR in the tail": DOCKERFILE + "WORKDIR /app\n",
    "ENV reading a variable in the tail": DOCKERFILE + "ENV PATH=/x:$PATH\n",
    "several stages": DOCKERFILE.replace("FROM ${BASE_IMAGE}", "FROM a AS b\nFROM b"),
    "a heredoc": DOCKERFILE + "RUN <<EOF\necho\nEOF\n",
    "an escape directive": "# escape=`\n" + DOCKERFILE,
}


@pytest.mark.parametrize("case", sorted(TAILS))
def test_a_tail_that_would_not_mean_the_same_builds_whole(context, case):
    (context / "Dockerfile").write_text(TAILS[case])
    builds = builds_of(context)
    builds.remember("img:old", [], 0)
    with open(context / "requirements.txt", "a") as handle:
        handle.write("toolz\n")
    assert builds.plan([], present) is None


def test_whole_again_after_max_depth_or_without_the_previous_image(context):
    builds = builds_of(context)
    builds.remember("img:old", [], MAX_DEPTH)
    with open(context / "requirements.txt", "a") as handle:
        handle.write("toolz\n")
    assert builds.plan([], present) is None
    builds.remember("img:gone", [], 0)
    with open(context / "requirements.txt", "a") as handle:
        handle.write("tabulate\n")
    assert builds.plan([], present) is None
    builds.remember("img:old", ["A=1"], 0)
    with open(context / "requirements.txt", "a") as handle:
        handle.write("wcwidth\n")
    assert builds.plan(["A=2"], present) is None, "a changed build argument builds whole"


def _packages(tag):
    done = subprocess.run(
        ["docker", "run", "--rm", tag, "python", "-m", "pip", "list", "--format", "freeze"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return sorted(line for line in done.stdout.splitlines() if not line.startswith("pip=="))


def _names(packages):
    return sorted(p.split("==")[0].lower() for p in packages)


@pytest.mark.docker
def test_layered_image_has_the_packages_of_a_whole_build(docker_baked):
    first = docker_baked.make("build-exp", EXP="train")
    assert first.returncode == 0, first.stderr
    # a new context, so an image of an earlier test run is not simply reused
    once = uuid.uuid4().hex
    docker_baked.edit("src/train/docker/requirements.txt", "numpy\n", f"numpy\ntoolz  # {once}\n")
    second = docker_baked.make("build-exp", EXP="train")
    assert second.returncode == 0, second.stderr
    assert "requirements.txt gained toolz; Azure ML builds the Dockerfile whole" in second.stderr
    tag = second.stdout.strip().split()[-2]
    whole = f"{tag}-whole"
    built = subprocess.run(
        ["docker", "build", "-q", "--network", "host", "-t", whole]
        + ["--build-arg", f"BASE_IMAGE={docker_baked.env['BASE_IMAGE']}"]
        + [str(docker_baked.path / "src/train/docker")],
        capture_output=True,
        text=True,
    )
    try:
        assert built.returncode == 0, built.stderr
        layered = _packages(tag)
        assert any(p.startswith("toolz==") for p in layered)
        # The same distributions; not the same versions: an unpinned requirement resolves
        # to what the index holds when its layer is built, and the layered image keeps the
        # earlier build's layer (as Docker's layer cache would). A CI run once saw
        # databricks-sdk 0.162 in one and 0.167 in the other.
        assert _names(layered) == _names(_packages(whole))
        env = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{json .Config.Env}}", tag],
            capture_output=True,
            text=True,
        )
        assert json.loads(env.stdout)[0].count("/opt/venv/bin") == 1
    finally:
        subprocess.run(["docker", "image", "rm", "-f", whole], capture_output=True)
    run = docker_baked.make("local", EXP="train")
    assert run.returncode == 0, run.stderr
    assert "building image" not in run.stderr, "the layered image is the experiment's image"
