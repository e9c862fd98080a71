"""Experiment images: Docker's variable forms in FROM, .dockerignore honoured in the tag and
the context (checked against Docker itself), one build per tag across processes, no
container left by a failed build, and an unpullable base image remembered."""

import subprocess
import sys
import uuid

import pytest

from tests.helpers import TEMPLATE_PROJECT, error_lines
from tests.test_local_docker import UNPULLABLE, built_tag

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.local.dockerignore import DockerIgnore, context_files, read_patterns  # noqa: E402
from amlops.local.images import base_images, expand  # noqa: E402

DOCKERFILE = "src/train/docker/Dockerfile"


@pytest.mark.parametrize(
    "text, values, expected",
    [
        ("${PY:-python}:3.11-slim", {"PY": "python"}, "python:3.11-slim"),
        ("${PY:-python}:3.11-slim", {}, "python:3.11-slim"),
        ("${PY:-python}:3.11-slim", {"PY": ""}, "python:3.11-slim"),
        ("${PY-python}:3.11", {"PY": ""}, ":3.11"),
        ("${PY-python}:3.11", {}, "python:3.11"),
        ("${PY:+custom}:1", {"PY": "x"}, "custom:1"),
        ("${PY:+custom}:1", {}, ":1"),
        ("$REG/$NAME:${TAG}", {"REG": "r.io", "NAME": "n", "TAG": "1"}, "r.io/n:1"),
        ("${A:-${B:-deep}}", {}, "deep"),
        ("\\$A", {"A": "x"}, "$A"),
    ],
)
def test_dockerfile_variables_expand_as_docker_does(text, values, expected):
    assert expand(text, values) == expected


def test_from_with_a_default_expansion_names_the_real_base_image():
    dockerfile = "ARG PY=python\nARG VER\nFROM ${PY:-python}:${VER:-3.11}-slim AS build\n"
    dockerfile += "FROM build\nFROM ${REG-mcr.microsoft.com}/azureml/base\n"
    assert base_images(dockerfile, []) == [
        "python:3.11-slim",
        "mcr.microsoft.com/azureml/base",
    ]
    assert base_images(dockerfile, ["PY=pypy", "VER=3.10"]) == [
        "pypy:3.10-slim",
        "mcr.microsoft.com/azureml/base",
    ]


def test_dockerignore_patterns_follow_docker_not_gitignore():
    rules = DockerIgnore(read_patterns("# c\n*.csv\n**/*.log\n/big\nsub/*\n!sub/keep.txt\n"))
    assert rules.excluded("a.csv") and not rules.excluded("train/a.csv")  # root only
    assert rules.excluded("x.log") and rules.excluded("a/b/x.log")
    assert rules.excluded("big/deep/file.bin")  # a matched folder takes its content
    assert rules.excluded("sub/drop.txt") and not rules.excluded("sub/keep.txt")
    assert not rules.excluded("Dockerfile")


def image_files(tag):
    done = subprocess.run(
        ["docker", "run", "--rm", tag, "cat", "/ctx-files"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return sorted(line[len("/ctx/") :] for line in done.stdout.split())


PATTERNS = """# what Docker leaves out, compared with what amlops hashes
*.csv
**/*.log
/big
sub/*
!sub/keep.txt
a?c.txt
[xy].md
  spaced.txt
nested/**/deep.bin
"""
FILES = [
    "a.csv", "train/a.csv", "x.log", "one/two/x.log", "big/blob.bin", "sub/drop.txt",
    "sub/keep.txt", "abc.txt", "abbc.txt", "x.md", "z.md", "spaced.txt", "nested/deep.bin",
    "nested/k/l/deep.bin", "nested/keep.bin", "requirements.txt",
]  # fmt: skip


@pytest.mark.docker
def test_dockerignore_matching_agrees_with_what_docker_build_sends(tmp_path, docker_base_image):
    context = tmp_path / "context"
    for rel in FILES:
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        (context / rel).write_text(rel)
    (context / ".dockerignore").write_text(PATTERNS)
    (context / "Dockerfile").write_text(
        f"FROM {docker_base_image}\nCOPY . /ctx\n" "RUN find /ctx -type f | sort > /ctx-files\n"
    )
    tag = f"amlops-test-dockerignore:{uuid.uuid4().hex[:12]}"
    built = subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], capture_output=True)
    assert built.returncode == 0, built.stderr
    try:
        sent = image_files(tag)
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
    ours = [p.relative_to(context).as_posix() for p in context_files(context)]
    assert sent == sorted(ours)
    assert "sub/keep.txt" in sent and "big/blob.bin" not in sent


@pytest.mark.docker
def test_files_dockerignore_excludes_change_no_tag_and_are_not_sent(docker_baked):
    docker = docker_baked.path / "src" / "train" / "docker"
    (docker / ".dockerignore").write_text("checkpoints/\n*.tmp\n")
    # appended: Docker's cache keeps the requirements install (not what this tests)
    docker_baked.append(DOCKERFILE, f"LABEL t={uuid.uuid4().hex}\nCOPY . /ctx\n")
    first = docker_baked.make("build-exp", EXP="train")
    assert first.returncode == 0, first.stdout + first.stderr
    tag = built_tag(first.stdout)
    (docker / "checkpoints").mkdir()
    (docker / "checkpoints" / "model.bin").write_bytes(b"x" * 1_000_000)
    (docker / "scratch.tmp").write_text("notes")
    again = docker_baked.make("build-exp", EXP="train")
    assert again.returncode == 0 and built_tag(again.stdout) == tag
    assert f"image {tag} up to date" in again.stdout
    (docker / "requirements.txt").write_text("numpy\n")  # a file Docker sends: new tag
    changed = docker_baked.make("build-exp", EXP="train")
    assert changed.returncode == 0 and built_tag(changed.stdout) != tag
    listed = subprocess.run(
        ["docker", "run", "--rm", built_tag(changed.stdout), "ls", "-a", "/ctx"],
        capture_output=True,
        text=True,
    )
    assert "requirements.txt" in listed.stdout
    assert "checkpoints" not in listed.stdout and "scratch.tmp" not in listed.stdout


@pytest.mark.docker
def test_two_commands_needing_one_unbuilt_image_build_it_once(docker_baked):
    docker_baked.append(DOCKERFILE, f"RUN sleep 4 && echo {uuid.uuid4().hex}\n")
    procs = [docker_baked.start("build-exp", EXP="train") for _ in range(2)]
    results = [proc.communicate(timeout=600) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], results
    errs = "".join(err for _, err in results)
    assert errs.count("building image") == 1, errs
    assert "waiting for another build of" in errs
    assert "was built meanwhile by another command; using it" in errs
    assert built_tag(results[0][0]) == built_tag(results[1][0])


def containers_with_command(text):
    done = subprocess.run(
        ["docker", "ps", "-a", "--no-trunc", "--format", "{{.Command}}"],
        capture_output=True,
        text=True,
    )
    return [line for line in done.stdout.splitlines() if text in line]


@pytest.mark.docker
def test_a_failed_image_build_leaves_no_container(docker_baked):
    token = uuid.uuid4().hex
    docker_baked.edit(DOCKERFILE, "ENV PATH=", f"RUN echo {token} && exit 3\nENV PATH=")
    result = docker_baked.make("build-exp", EXP="train")
    assert result.returncode != 0 and len(error_lines(result.stderr)) == 1
    assert containers_with_command(token) == []


@pytest.mark.docker
def test_an_unpullable_base_image_is_remembered_and_told_once(docker_baked):
    docker_baked.env.update(BASE_IMAGE=UNPULLABLE, RUNTIME="docker")
    first = docker_baked.make("local", EXP="train")
    (line,) = error_lines(first.stderr)
    assert f"base image {UNPULLABLE} cannot be pulled (" in line
    assert "to stay in Docker, set BASE_IMAGE= in config.env to an image you have" in line
    assert "Error response from daemon" not in first.stdout + first.stderr  # no raw pull output
    assert "pulling base image" in first.stderr
    second = docker_baked.make("local", EXP="train")
    (line,) = error_lines(second.stderr)
    assert "pulling base image" not in second.stderr, "the failure is remembered"
    assert "connection refused" in line and "as found at" in line
