"""Hostile inputs and faults end in one line, never a traceback (issue 25 items 5, 9, 10):
an INPUTS value a shell would run, YAML bombs, bad environment variable names, an image
without conda for a conda_file, damaged records under .runs/, and a full disk."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import TEMPLATE_PROJECT, tree_digest
from tests.test_hardening_config import only_error

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.yamlfile import load_yaml  # noqa: E402

ECHO_JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
code: .
command: echo tag=${{inputs.tag}}
environment:
  image: python:3.11-slim
inputs:
  tag: hello
"""
ECHO_PIPELINE = """\
display_name: echo
inputs:
  tag: hello
jobs:
  say:
    experiment: echo
    inputs:
      tag: ${{parent.inputs.tag}}
"""


def add_echo(project, job: str = ECHO_JOB) -> Path:
    """src/echo/: a job that echoes its string input `tag` (no packages to install)."""
    folder = project.path / "src" / "echo"
    folder.mkdir()
    (folder / "job.yaml").write_text(job)
    return folder


# --- 25.10: an override is data, never code ----------------------------------------------

INJECTIONS = ["$(touch {m})", "x;touch {m};#", "`touch {m}`", "x|touch {m}", "a b", "x'y", "*"]


def test_an_input_override_a_shell_would_run_is_refused_in_every_path(baked, tmp_path):
    add_echo(baked)
    (baked.path / "pipelines" / "echo.yaml").write_text(ECHO_PIPELINE)
    marker = tmp_path / "injected"
    targets = [
        ("local", {"EXP": "echo", "RUNTIME": "venv"}),
        ("local", {"EXP": "echo", "RUNTIME": "docker"}),
        ("job", {"EXP": "echo", "DRY_RUN": "1"}),
        ("pipeline-local", {"PIPELINE": "echo", "RUNTIME": "venv"}),
        ("pipeline-local", {"PIPELINE": "echo", "DRY_RUN": "1"}),
        ("pipeline", {"PIPELINE": "echo", "DRY_RUN": "1"}),
    ]
    for template in INJECTIONS:
        value = template.format(m=marker)
        # through the environment, as CI sets it (make would expand $(...) itself)
        baked.env["INPUTS"] = f"tag={json.dumps(value)}"
        for target, variables in targets:
            result = baked.make(target, **variables)
            line = only_error(result)
            assert line.startswith(f"error: INPUTS tag={value!r}: the shell"), (target, line)
            assert "Azure ML puts ${{inputs.tag}} into it unquoted" in line
            assert result.returncode == 2
            assert not marker.exists(), (target, value)
    assert not (baked.path / ".runs" / "echo").exists()  # refused before any run began
    baked.env["INPUTS"] = "tag=feature/x-1.2@a+b:c,d=e%f"
    ran = baked.make("local", EXP="echo", RUNTIME="venv")
    assert ran.returncode == 0, ran.stderr
    assert "tag=feature/x-1.2@a+b:c,d=e%f" in ran.stdout


def test_an_input_override_yaml_cannot_bound_is_one_line(baked):
    """An override is typed as YAML would type it (5 is an integer): `[[[...` thousands
    deep ended that in a RecursionError traceback after seconds of PyYAML's look-ahead."""
    deep = "[" * 3000
    baked.env["INPUTS"] = f"n_estimators={deep}"
    before = tree_digest(baked.path)
    for target, variables in [("local", {"RUNTIME": "venv"}), ("job", {"DRY_RUN": "1"})]:
        result = baked.make(target, EXP="train", **variables)
        line = only_error(result)
        assert line.startswith("error: INPUTS n_estimators=[[[[") and "(3000 characters)" in line
        assert "input 'n_estimators' is integer" in line and len(line) < 400, line
        assert result.returncode == 2
    assert tree_digest(baked.path) == before  # refused before anything was written


def test_a_value_written_in_the_job_file_runs_as_azure_ml_runs_it(baked, tmp_path):
    marker = tmp_path / "from-job-yaml"
    add_echo(baked, ECHO_JOB.replace("tag: hello", f"tag: x;touch {marker}"))
    result = baked.make("local", EXP="echo", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    assert marker.exists()  # reviewed code, as in Azure ML: only overrides are refused


# --- 25.9: YAML that would cost unbounded time or memory ---------------------------------

BOMB_TAGS = "".join(
    f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else '"lol"'] * 9) + "]\n" for i in range(10)
)


@pytest.mark.parametrize(
    "case,text,expected",
    [
        ("flow", "tags: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 100 levels"),
        (
            "block",
            "tags:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(1500)),
            "nested more than 100 levels",
        ),
        ("bomb", "tags:\n" + BOMB_TAGS, "aliases expand to more than 1,000,000 values"),
        ("recursive", "tags: &t\n  self: *t\n", "a recursive alias"),
    ],
    # short ids: pytest puts the id in PYTEST_CURRENT_TEST, which make's children inherit,
    # and a 2 MB variable makes every exec fail (E2BIG)
    ids=lambda value: value if len(value) < 20 else "text",
)
def test_yaml_bombs_are_one_line_not_a_hang(baked, case, text, expected):
    job = baked.path / "src" / "train" / "job.yaml"
    job.write_text(job.read_text() + text)
    result = baked.make("local", EXP="train", RUNTIME="venv", timeout=300)
    line = only_error(result)
    assert line.startswith("error: src/train/job.yaml:") and "YAML refused" in line, line
    assert expected in line
    assert not (baked.path / ".runs" / "train").exists()


def test_merge_keys_and_shared_aliases_still_load(tmp_path):
    path = tmp_path / "job.yaml"
    shared = "base: &b {x: 1, y: [1, 2]}\n" + "".join(f"use{i}: *b\n" for i in range(200))
    path.write_text(shared + "merged:\n  <<: *b\n  y: 3\n")
    data = load_yaml(path)
    assert data["use199"] == {"x": 1, "y": [1, 2]}
    assert data["merged"] == {"x": 1, "y": 3}


# --- 25.9: environment variable names --------------------------------------------------


@pytest.mark.parametrize("name", ["A B", "1ST", "A=B", "A-B", "é"])
def test_an_environment_variable_name_a_shell_cannot_use_is_one_line(baked, name):
    job = baked.path / "src" / "train" / "job.yaml"
    text = job.read_text()
    job.write_text(text + f"environment_variables:\n  OK_1: x\n  {json.dumps(name)}: y\n")
    line_no = len(text.splitlines()) + 3
    for target, variables in [("local", {"RUNTIME": "venv"}), ("job", {"DRY_RUN": "1"})]:
        line = only_error(baked.make(target, EXP="train", **variables))
        assert line.startswith(f"error: src/train/job.yaml:{line_no}: environment_variables:")
        assert f"{name!r} is not a variable name" in line


# --- 25.5: image + conda_file on an image without conda --------------------------------


def test_a_conda_file_on_an_image_without_conda_is_one_line(docker_baked, docker_base_image):
    folder = docker_baked.path / "src" / "condaless"
    folder.mkdir()
    (folder / "job.yaml").write_text(
        "type: command\ncode: .\ncommand: python -c 'print(1)'\nenvironment:\n"
        f"  image: {docker_base_image}\n  conda_file: conda.yaml\n"
    )
    (folder / "conda.yaml").write_text("dependencies:\n  - python=3.11\n  - pip:\n    - six\n")
    result = docker_baked.make("local", EXP="condaless")
    line = only_error(result)
    assert line.startswith(
        f"error: src/condaless/job.yaml:4: image {docker_base_image} has no conda"
    ), line
    assert "LOCAL_IMAGE=<image>" in line and "Azure ML base image" in line
    assert line.endswith("make local EXP=condaless RUNTIME=venv"), line
    # a job file run with JOB= alone is advised the command that runs it (new-user trial:
    # it was told `make local EXP=<file name>`, which fails: no such experiment)
    folder.rename(docker_baked.path / "jobs")
    result = docker_baked.make("local", JOB="jobs/job.yaml")
    assert only_error(result).endswith("make local JOB=jobs/job.yaml RUNTIME=venv")


# --- 25.9: damaged state under .runs/ ---------------------------------------------------


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data)))


def test_damaged_records_are_skipped_with_one_line_never_reused(baked):
    first = baked.make("pipeline-local", RUNTIME="venv")
    assert first.returncode == 0, first.stderr
    assert baked.make("local", EXP="prepare", RUNTIME="venv").returncode == 0
    runs = baked.path / ".runs"
    pipeline_run = next((runs / "pipelines" / "training").glob("2*"))
    local_run = baked.latest_run("prepare")
    # a reuse record whose step folder is gone: moved away, outputs kept where they were
    reuse = [p for p in (runs / ".reuse").glob("*.json") if "prepare" in p.read_text()][0]
    _edit_json(reuse, lambda d: {**d, "step_dir": ".runs/nowhere/prepare"})
    plan = baked.make("pipeline-local", RUNTIME="venv", DRY_RUN="1")
    assert plan.returncode == 0, plan.stderr
    assert f"skipping damaged record .runs/.reuse/{reuse.name}" in plan.stderr
    assert "prepare  run" in plan.stdout
    # a pipeline.json that is a list; a run.json with a wrong type; non-UTF-8 MLflow files
    (pipeline_run / "pipeline.json").write_text("[1, 2]\n")
    _edit_json(local_run / "run.json", lambda d: {**d, "status": [1], "started": "x"})
    for meta in (runs / "mlruns").glob("*/*/meta.yaml"):
        meta.write_bytes(b"\xff\xfe: [")
    for command, variables in [
        ("runs", {}),
        ("prune", {"KEEP": "5"}),
        ("pipeline-local", {"RUNTIME": "venv", "DRY_RUN": "1"}),
        ("step-local", {"STEP": "train", "RUNTIME": "venv"}),
    ]:
        result = baked.make(command, **variables)
        assert "Traceback" not in result.stderr, (command, result.stderr)
        if command != "step-local":
            assert result.returncode == 0, (command, result.stderr)
    listing = baked.make("runs")
    assert "skipping damaged record .runs/pipelines/training/" in listing.stderr
    # the steps' MLflow runs: their rows stay, each unreadable run said in one line
    told = [line for line in listing.stderr.splitlines() if "damaged MLflow run" in line]
    assert told and all(line.endswith("its params and metrics are left out") for line in told)
    assert all("skipping damaged MLflow run .runs/mlruns/" in line for line in told), told
    assert f"skipping damaged record .runs/prepare/{local_run.name}/run.json" in listing.stderr
    assert local_run.name not in listing.stdout
    # step-local cannot take train's input from the damaged pipeline run: it says so
    step = baked.make("step-local", STEP="train", RUNTIME="venv")
    assert step.returncode != 0
    assert "(a JSON list, not an object)" in step.stderr
    assert len([line for line in step.stderr.splitlines() if line.startswith("error:")]) == 1


def test_record_numbers_the_os_cannot_take_are_skipped_with_one_line(baked):
    """JSON holds NaN, Infinity and integers of any size: a run.json whose start time or
    pid is one of them ended make runs and make prune in ValueError/OverflowError (time
    and kill calls); a negative pid named every process to kill(2)."""
    host = socket.gethostname()
    damaged = {
        "20261201-101500-000001": {"started": float("nan")},
        "20261201-101500-000002": {"started": 1e300},
        "20261201-101500-000003": {"status": "running", "pid": 10**23, "host": host},
        "20261201-101500-000004": {"status": "running", "pid": -1, "host": host},
        "20261201-101500-000005": {"duration_s": float("inf")},
    }
    runs = baked.path / ".runs" / "train"
    whole = runs / "20261201-101500-00000a"
    for name, change in {**damaged, whole.name: {}}.items():
        (runs / name).mkdir(parents=True)
        record = {"status": "completed", "started": 1764584100.0, "experiment": "train", **change}
        (runs / name / "run.json").write_text(json.dumps(record))
    before, records = tree_digest(baked.path), tree_digest(runs, ignore=())
    for command, variables in [("runs", {}), ("prune", {"KEEP": "1"})]:
        result = baked.make(command, **variables)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        told = [line for line in result.stderr.splitlines() if "skipping damaged record" in line]
        assert len(told) == len(damaged), result.stderr
        for name in damaged:
            assert any(f".runs/train/{name}/run.json (" in line for line in told), name
    listed = baked.make("runs").stdout
    assert whole.name in listed and not any(name in listed for name in damaged)
    compare = baked.make("compare", RUNS=f"{whole.name} 000002")
    assert "Traceback" not in compare.stderr
    assert compare.returncode != 0 and "no local run '000002'" in only_error(compare)
    assert tree_digest(baked.path) == before  # nothing outside .runs changed
    assert tree_digest(runs, ignore=()) == records  # nor the records (no YES=1)


def test_a_garbled_venv_signature_rebuilds_the_venv(baked, tmp_path):
    baked.env["VENV_DIR"] = str(tmp_path / "venvs")
    add_echo(baked)
    assert baked.make("local", EXP="echo", RUNTIME="venv").returncode == 0
    signatures = list((tmp_path / "venvs").glob("*/.amlops-signature"))
    assert signatures
    for signature in signatures:
        signature.write_bytes(b"\xff\x00garbled")
    again = baked.make("local", EXP="echo", RUNTIME="venv")
    assert again.returncode == 0, again.stderr
    assert "changed since it was built" in again.stderr and "rebuilding" in again.stderr


# --- 25.9: a full disk ------------------------------------------------------------------


@pytest.fixture
def small_runs(baked):
    """The baked project's .runs on a 1 MB tmpfs (root can mount one); unmounted after."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the disk-full tests mount a tmpfs: CI runs them as root")
        pytest.skip("mounting a tmpfs needs root (CI unset): disk-full tests skipped")
    runs = baked.path / ".runs"
    runs.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(runs)])
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("cannot mount a tmpfs for the disk-full tests")
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield runs
    finally:
        subprocess.run(["umount", "-l", str(runs)])


def _fill(folder: Path) -> None:
    """Fill the filesystem of `folder` to the last byte."""
    with open(folder / ".filler", "ab", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass


BIG_OUTPUT = (
    "python -c \"import sys; [sys.stdout.write('x' * 999 + chr(10)) for _ in range(3000)]\""
)


def test_a_full_disk_during_a_run_is_one_line_and_a_failed_record(baked, small_runs):
    add_echo(baked, ECHO_JOB.replace("echo tag=${{inputs.tag}}", BIG_OUTPUT))
    before = tree_digest(baked.path)
    result = baked.make("local", EXP="echo", RUNTIME="venv")
    line = only_error(result)
    run = baked.latest_run("echo")
    rel = run.relative_to(baked.path).as_posix()
    assert line.startswith(f"error: disk full writing {rel}/logs/std_log.txt ("), line
    assert "free there): free some space (make prune removes old local runs)" in line
    assert result.returncode == 2  # make's code for a failed recipe; amlops exits 1
    record = json.loads((run / "run.json").read_text())  # whole JSON, not half a file
    assert record["status"] == "failed" and record["exit_code"] == 1
    assert record["error"] == line[len("error: ") :]
    assert tree_digest(baked.path) == before  # nothing outside .runs changed
    listing = baked.make("runs")
    assert listing.returncode == 0 and "failed" in listing.stdout


@pytest.mark.parametrize(
    "target,variables",
    [
        ("local", {"EXP": "echo", "RUNTIME": "venv"}),
        ("pipeline-local", {"PIPELINE": "echo", "RUNTIME": "venv"}),
        ("job", {"EXP": "echo", "DRY_RUN": "1"}),
        ("local", {"EXP": "train", "JOB": "sweep.yaml", "RUNTIME": "venv"}),
    ],
)
def test_a_disk_already_full_is_one_line_in_every_path(baked, small_runs, target, variables):
    add_echo(baked)
    (baked.path / "pipelines" / "echo.yaml").write_text(ECHO_PIPELINE)
    before = tree_digest(baked.path)
    _fill(small_runs)
    result = baked.make(target, **variables)
    line = only_error(result)
    assert "disk full writing .runs" in line and "(0 B free there)" in line, line
    assert tree_digest(baked.path) == before
    for record in small_runs.rglob("*.json"):
        if record.name in ("run.json", "pipeline.json"):
            assert isinstance(json.loads(record.read_text()), dict)  # never half-written
