"""Bad input to `make local`: one clear line, non-zero exit, nothing modified or left behind."""

import os
import stat
import subprocess
import sys

import pytest

from tests.helpers import error_lines, tree_digest

JOB = "src/train/job.yaml"


def fake_docker(folder):
    """A docker CLI whose daemon never answers."""
    folder.mkdir()
    script = folder / "docker"
    script.write_text(
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.'"
        " >&2\nexit 1\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


CASES = {
    "missing EXP": ({}, None, {}, "EXP is required"),
    "bad EXP": ({"EXP": "../etc"}, None, {}, "invalid EXP '../etc'"),
    "unknown experiment": ({"EXP": "nope"}, None, {}, "unknown experiment 'nope'"),
    "misspelt experiment": ({"EXP": "trian"}, None, {}, "'trian' (did you mean 'train'?)"),
    "yaml syntax": (
        {"EXP": "train"},
        ("compute: azureml:", "compute: [azureml:"),
        {},
        "src/train/job.yaml:19: YAML syntax error: expected ',' or ']', but got ':'"
        " (while parsing a flow sequence, line 18)",
    ),
    "unknown field": (
        {"EXP": "train"},
        ("compute: azureml:", "comptue: azureml:"),
        {},
        "src/train/job.yaml:18: unknown field 'comptue' (did you mean 'compute'?)",
    ),
    "missing build folder": (
        {"EXP": "train"},
        ("    path: docker", "    path: dockr"),
        {},
        "src/train/job.yaml:17: build path 'dockr' does not exist",  # its own line, not 15
    ),
    "unknown environment field": (
        {"EXP": "train"},
        ("  build:\n    path: docker", "  build:\n    path: docker\n  imagee: x"),
        {},
        "src/train/job.yaml:18: environment: unknown field 'imagee'",
    ),
    "undeclared input": (
        {"EXP": "train"},
        ("--n-estimators ${{inputs.n_estimators}}", "--n-estimators ${{inputs.trees}}"),
        {},
        "uses ${{inputs.trees}} but inputs declares no 'trees'",
    ),
    "missing input folder": (
        {"EXP": "train"},
        ("path: ../../data/wine", "path: ../../data/absent"),
        {},
        "input 'data': no local data at data/absent",
    ),
    "asset without local copy": (
        {"EXP": "train"},
        ("path: ../../data/wine", "path: azureml:sales:3"),
        {},
        "no local data at data/sales (data/sales/ by convention)",
    ),
    "unknown override": (
        {"EXP": "train", "INPUTS": "trees=3"},
        None,
        {},
        "declares no input 'trees'",
    ),
    "bad runtime": ({"EXP": "train", "RUNTIME": "podman"}, None, {}, "RUNTIME='podman'"),
    "docker runtime without engine": (
        {"EXP": "train", "RUNTIME": "docker"},
        None,
        {"fake_docker": True},
        "RUNTIME=docker but no Docker engine (Cannot connect to the Docker daemon",
    ),
    "no engine and no venv fallback": (
        {"EXP": "train", "VENV_PYTHON": "/nonexistent/python3"},
        None,
        {"fake_docker": True},
        "no Docker engine (Cannot connect to the Docker daemon",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_fails_cleanly(baked, tmp_path, case):
    variables, edit, options, message = CASES[case]
    if edit:
        baked.edit(JOB, *edit)
    if options.get("fake_docker"):
        baked.env["PATH"] = fake_docker(tmp_path / "bin")
    src_before = tree_digest(baked.path / "src")
    data_before = tree_digest(baked.path / "data")
    result = baked.make("local", **variables)
    assert result.returncode != 0
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert message in errors[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert tree_digest(baked.path / "src") == src_before
    assert tree_digest(baked.path / "data") == data_before
    assert baked.run_dirs("train") == [], "a run that never started leaves no run folder"


def test_missing_data_of_a_job_yml_is_told_by_that_files_name(baked):
    """The advice names the file that declares the input, job.yml here (it said
    "job.yaml" whatever the file's name: new-user trial)."""
    baked.edit(JOB, "path: ../../data/wine", "path: ../../data/absent")
    (baked.path / JOB).rename(baked.path / "src/train/job.yml")
    result = baked.make("local", EXP="train", RUNTIME="venv")
    assert result.returncode != 0
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: src/train/job.yml:"), errors[0]
    assert "set a local path: in src/train/job.yml, or pass INPUTS=" in errors[0]
    assert "job.yaml" not in errors[0]


@pytest.mark.parametrize("beside", [None, "other.yml"])
def test_an_unreadable_job_file_by_another_name_is_told_not_skipped(baked, beside):
    """A job file named other than job.yaml is found by its content; one with a YAML error
    has no content to tell, and was left out: "unknown experiment" (alone) or the other
    job file run in its place, without a word (new-user trial). Now its own error."""
    job = baked.path / JOB
    job.write_text(job.read_text().replace("compute: azureml:", "compute: [azureml:"))
    job.rename(baked.path / "src/train/hello.yml")
    if beside:
        (baked.path / "src/train" / beside).write_text("command: echo hi\n")
    result = baked.make("local", EXP="train", RUNTIME="venv")
    assert result.returncode != 0
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert "src/train/hello.yml:19: YAML syntax error" in errors[0], errors[0]
    assert baked.run_dirs("train") == []


def test_a_python_without_the_projects_dependencies_is_told_to_run_make_setup(baked):
    """`make` falls back to python3 before `make setup`: a missing dependency is one line."""
    hide = (
        "import runpy, sys; sys.modules['pathspec'] = None;"
        " sys.argv = ['amlops', 'local', '--exp', 'train', '--runtime', 'venv'];"
        " runpy.run_module('amlops', run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide], cwd=baked.path, capture_output=True, text=True
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "amlops needs 'pathspec'" in result.stderr and "run make setup" in result.stderr
