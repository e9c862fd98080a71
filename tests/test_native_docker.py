"""The native job cases (tests/cases/native/) run in real Docker: every environment form
built or run as Azure ML would, the working directory and mounts, distribution with a
real torch.distributed all-reduce. The images the cases name cannot be pulled here:
the offline test image is tagged under those names first (tests/native_support.py)."""

import json
import subprocess

import pytest

from tests.helpers import containers, error_lines, tree_digest
from tests.native_support import (
    JOB_CASES,
    add_case,
    edit_yaml,
    python_image,
    tag_case_images,
    torch_image,
)

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def case_images(docker_base_image):
    # Built before tag_case_images takes its lock: tests outside Docker wait while it is
    # held, and building the torch image (Debian's PyTorch, from apt) is most of a minute.
    torch_image(docker_base_image)
    yield from tag_case_images(docker_base_image)


@pytest.fixture
def project(baked, case_images):
    """A fresh project whose cases run in Docker on the locally tagged images."""
    baked.env.update(RUNTIME="docker", DOCKER_BUILD_ARGS="--network host")
    return baked


def run_ok(project, exp: str, **variables):
    result = project.make("local", EXP=exp, **variables)
    assert result.returncode == 0, result.stdout + result.stderr
    return result, project.latest_run(exp)


def test_every_case_runs_locally_in_docker(project):
    for case in JOB_CASES:
        add_case(project, case)
    for case in JOB_CASES:
        _, run = run_ok(project, case)
        record = json.loads((run / "run.json").read_text())
        assert record["status"] == "completed" and record["runtime"] == "docker", case
    left = [c for c in containers("amlops-") if c.split("-")[1] in JOB_CASES]
    assert left == [], "every container is removed after its run"


def test_code_folder_is_the_working_directory_in_the_container(project):
    add_case(project, "code_subfolder")
    result, run = run_ok(project, "code_subfolder")
    assert "wrote hi" in result.stdout
    assert (run / "outputs/result/greeting.txt").read_text() == "hi"
    assert "image python:3.11-slim" in result.stderr
    add_case(project, "code_dot_common")
    _, run = run_ok(project, "code_dot_common")
    assert (run / "outputs/report/report.txt").read_text() == "common"
    assert containers(f"amlops-{run.parent.name}") == []


def test_outputs_and_logs_in_the_working_directory(project):
    add_case(project, "outputs_dir")
    _, run = run_ok(project, "outputs_dir")
    assert (run / "outputs/marker.txt").read_text() == "done\n"
    assert (run / "logs/extra.log").read_text() == "line\n"


def test_optional_arguments_in_docker(project):
    add_case(project, "optional_args")
    result, _ = run_ok(project, "optional_args")
    assert "['--n', '3', '--seed', '7']" in result.stdout


def test_build_context_with_its_dockerfile_path(project):
    add_case(project, "env_build_folder")
    result, run = run_ok(project, "env_build_folder")
    assert "built from environment/train.Dockerfile" in result.stdout
    record = json.loads((run / "run.json").read_text())
    assert "environment/train.Dockerfile" in record["environment"]


def test_image_and_curated_environments_run_their_images(project):
    add_case(project, "env_image")
    result, _ = run_ok(project, "env_image")
    assert "3.11" in result.stdout  # the test image's python3 stands in for 3.11-slim
    add_case(project, "env_curated")
    result, run = run_ok(project, "env_curated")
    assert "curated" in result.stdout
    ran = json.loads((run / "run.json").read_text())["environment"]
    assert ran == "image mcr.microsoft.com/azureml/curated/sklearn-1.0-ubuntu20.04-py38-cpu:latest"
    registry = add_case(project, "env_curated", "env_registry")
    (registry / "job_registry.yaml").rename(registry / "job.yaml")
    result, _ = run_ok(project, "env_registry")
    assert "registry" in result.stdout


def test_image_plus_conda_is_built_as_azure_ml_builds_it(project):
    # conda channels are not reachable here: the test image's `conda` is a stand-in
    # (tests/support/images/python/conda) that builds the environment from the conda
    # file's pip section; what is under test is the recipe around it.
    folder = add_case(project, "env_image_conda")
    (folder / "check.py").write_text(
        "import sys, six\nprint('six', six.__version__)\nprint('prefix', sys.prefix)\n"
    )
    result, run = run_ok(project, "env_image_conda")
    assert "six 1.16.0" in result.stdout
    assert "prefix /azureml-envs/azureml_" in result.stdout
    tag = json.loads((run / "run.json").read_text())["environment"].split()[1]
    inspect = ["docker", "image", "inspect", "--format", "{{json .Config.Env}}", tag]
    env = json.loads(subprocess.run(inspect, capture_output=True, text=True).stdout)
    assert any(e.startswith("AZUREML_CONDA_ENVIRONMENT_PATH=/azureml-envs/azureml_") for e in env)


def test_download_mode_is_a_writable_copy_and_ro_mount_is_read_only(project):
    add_case(project, "download_mode")
    before = tree_digest(project.path / "data")
    run_ok(project, "download_mode")
    assert tree_digest(project.path / "data") == before
    edit_yaml(
        project.path / "src/download_mode/job.yaml",
        lambda d: d["inputs"]["data"].update(mode="ro_mount"),
    )
    refused = project.make("local", EXP="download_mode")
    assert refused.returncode != 0
    assert "Read-only file system" in refused.stdout
    assert tree_digest(project.path / "data") == before


def test_distribution_ranks_in_one_container(project):
    add_case(project, "distributed")
    _, run = run_ok(project, "distributed")
    rank1 = eval((run / "outputs/ranks/rank1.txt").read_text())  # noqa: S307
    assert rank1["RANK"] == "1" and rank1["WORLD_SIZE"] == "2" and rank1["LOCAL_RANK"] == "1"
    assert rank1["MASTER_ADDR"] == "127.0.0.1" and rank1["MASTER_PORT"] == "6105"


ALL_REDUCE = """\
import os, pathlib, sys
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
value = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(value)
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
(out / f"rank{dist.get_rank()}.txt").write_text(f"{int(value.item())} of {dist.get_world_size()}")
dist.destroy_process_group()
"""


def test_real_torch_distributed_all_reduce_across_two_processes(project, docker_base_image):
    image = torch_image(docker_base_image)
    folder = add_case(project, "distributed")
    (folder / "ranks.py").write_text(ALL_REDUCE)
    edit_yaml(
        folder / "job.yaml",
        lambda d: d.update(
            environment={"image": image}, command="python ranks.py ${{outputs.ranks}}"
        ),
    )
    _, run = run_ok(project, "distributed")
    results = {p.name: p.read_text() for p in (run / "outputs/ranks").iterdir()}
    assert results == {"rank0.txt": "3 of 2", "rank1.txt": "3 of 2"}


MPI_RANKS = """\
import pathlib, sys
from mpi4py import MPI

world = MPI.COMM_WORLD
total = world.allreduce(world.Get_rank() + 1)
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
(out / f"rank{world.Get_rank()}.txt").write_text(f"{total} of {world.Get_size()}")
"""


def test_mpi_distribution_runs_under_mpirun(project, docker_base_image):
    image = torch_image(docker_base_image)
    folder = add_case(project, "distributed")
    (folder / "ranks.py").write_text(MPI_RANKS)
    edit_yaml(
        folder / "job.yaml",
        lambda d: d.update(
            environment={"image": image},
            command="python ranks.py ${{outputs.ranks}}",
            distribution={"type": "mpi", "process_count_per_instance": 2},
        ),
    )
    _, run = run_ok(project, "distributed")
    results = {p.name: p.read_text() for p in (run / "outputs/ranks").iterdir()}
    assert results == {"rank0.txt": "3 of 2", "rank1.txt": "3 of 2"}
    # an image without mpirun: one line in the log, and the run fails
    edit_yaml(folder / "job.yaml", lambda d: d.update(environment={"image": "python:3.11-slim"}))
    failed = project.make("local", EXP="distributed")
    assert failed.returncode != 0 and "needs mpirun in the environment" in failed.stdout


def test_resources_shm_size_and_docker_args_reach_docker_run(project):
    folder = add_case(project, "env_image")
    edit_yaml(
        folder / "job.yaml",
        lambda d: d.update(
            command="df -m /dev/shm | tail -1 && echo flag=$FROM_DOCKER_ARGS",
            resources={"shm_size": "256m", "docker_args": "-e FROM_DOCKER_ARGS=yes"},
        ),
    )
    result, _ = run_ok(project, "env_image")
    assert " 256 " in result.stdout and "flag=yes" in result.stdout


def test_local_image_stands_in_for_a_workspace_environment(project, docker_base_image):
    folder = add_case(project, "env_image")
    edit_yaml(folder / "job.yaml", lambda d: d.update(environment="azureml:my-env:3"))
    refused = project.make("local", EXP="env_image")
    assert refused.returncode == 2 and len(error_lines(refused.stderr)) == 1
    image = python_image(docker_base_image)
    result, run = run_ok(project, "env_image", LOCAL_IMAGE=image)
    assert f"LOCAL_IMAGE={image} stands in for environment azureml:my-env:3" in result.stderr
    assert json.loads((run / "run.json").read_text())["environment"] == f"image {image}"


def test_an_image_that_cannot_be_pulled_is_one_line(project):
    folder = add_case(project, "env_image")
    edit_yaml(folder / "job.yaml", lambda d: d.update(environment={"image": "localhost:1/nope:1"}))
    result = project.make("local", EXP="env_image")
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "image localhost:1/nope:1 cannot be pulled" in lines[0]
    # an image: job has no Dockerfile for BASE_IMAGE to reach: the advice is LOCAL_IMAGE
    assert "LOCAL_IMAGE=<image>" in lines[0] and "BASE_IMAGE" not in lines[0], lines[0]
    # so is an image + conda_file job (amlops builds on that image; the remembered failure
    # was replayed with the Dockerfile advice: new-user trial)
    (folder / "conda.yaml").write_text("dependencies:\n  - python=3.11\n")
    edit_yaml(folder / "job.yaml", lambda d: d["environment"].update(conda_file="conda.yaml"))
    result = project.make("local", EXP="env_image")
    (line,) = error_lines(result.stderr)
    assert "image localhost:1/nope:1 cannot be pulled" in line
    assert "LOCAL_IMAGE=<image>" in line and "BASE_IMAGE" not in line, line
    done = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True)
    assert done.returncode == 0
