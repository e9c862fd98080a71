"""Shared venvs (amlops.local.venvs): keyed by content, built once by uv, guarded by a
lock across processes, built by pip where uv cannot run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, TEMPLATE_PROJECT, Baked, default_project
from tests.pipelines import latest_record, pipeline_runs

sys.path.insert(0, str(TEMPLATE_PROJECT))
sys.path.insert(0, str(REPO))

from amlops.errors import UserError  # noqa: E402
from amlops.local.venvs import Requirements, Venv, find_uv, python_version  # noqa: E402

SAMPLE = ["scikit-learn>=1.3", "numpy", "mlflow-skinny", "azureml-mlflow"]


def other_path_to_this_python(tmp_path: Path) -> str:
    """Another interpreter of this Python version (the system one when it matches, else
    a symlink): venvs must not care which path ran them."""
    system = shutil.which("python3", path="/usr/bin") or ""
    if system and python_version(system) == python_version(sys.executable):
        return system
    link = tmp_path / "python-elsewhere"
    link.symlink_to(sys.executable)
    return str(link)


def test_venv_key_ignores_comments_order_spelling_and_interpreter_path(tmp_path):
    (tmp_path / "base.txt").write_text("Scikit_Learn >= 1.3   # the model\n")
    train = Requirements(["# Packages of the train image", *SAMPLE, ""], tmp_path)
    prepare = Requirements(
        ["azureml_mlflow", "", "NumPy  ", "-r base.txt", "# prepare", "MLflow.Skinny"], tmp_path
    )
    assert train.install_lines == prepare.install_lines
    ours = Venv(tmp_path / "venvs", train, sys.executable)
    theirs = Venv(tmp_path / "venvs", prepare, other_path_to_this_python(tmp_path))
    assert ours.path == theirs.path and ours.identity() == theirs.identity()
    assert ours.path.name.startswith("py%d%d-" % sys.version_info[:2])

    different = Venv(
        tmp_path / "venvs", Requirements([*SAMPLE, "pandas"], tmp_path), sys.executable
    )
    assert different.path != ours.path, "another requirement set is another venv"
    newer = tmp_path / "python-3.99"
    newer.write_text("#!/bin/sh\necho 3.99\n")
    newer.chmod(0o755)
    assert Venv(tmp_path / "venvs", train, str(newer)).path.name.startswith("py399-")


def test_a_requirements_include_that_names_no_file_is_one_line(tmp_path):
    with pytest.raises(UserError) as err:
        Requirements(["numpy", "-r ../common.txt"], tmp_path, "src/x/docker/requirements.txt")
    assert str(err.value).startswith("src/x/docker/requirements.txt: '-r ../common.txt' names no")


def test_without_uv_venvs_are_built_by_pip_with_a_one_line_notice(tmp_path, capfd):
    cache = tmp_path / "venvs"
    first = Venv(cache, Requirements(["six"], tmp_path), sys.executable, uv="/nonexistent/uv")
    second = Venv(cache, Requirements([], tmp_path), sys.executable, uv="/nonexistent/uv")
    assert first.unavailable() == "", "pip can build it"
    assert first.prepare(echo=False) and second.prepare(echo=False)
    notices = [line for line in capfd.readouterr().err.splitlines() if "uv" in line]
    assert notices == [
        "amlops: UV=/nonexistent/uv is not a program that runs: building venvs with python -m"
        " venv and pip instead (slower; `pip install uv` or `make setup` brings uv)"
    ]
    assert first.ready() and not (cache / ".uv-cache").exists(), "uv never ran"
    check = [str(first.bin_dir / "python"), "-c", "import six"]
    assert subprocess.run(check).returncode == 0
    assert "pip install" in first.log.read_text()


def test_a_uv_binary_that_cannot_run_counts_as_no_uv(tmp_path):
    broken = tmp_path / "uv"
    broken.write_text("#!/nonexistent/interpreter\n")
    broken.chmod(0o755)
    found, why = find_uv(str(broken))
    assert found is None and why.startswith(f"{broken} cannot run")
    assert find_uv()[0], "the uv installed beside amlops (requirements-dev.txt) runs"


@pytest.fixture
def uv_cache(shared_venvs) -> str:
    """One uv cache for the session, so fresh venv folders do not download again."""
    return str(shared_venvs / ".uv-cache")


def test_experiments_with_the_same_requirements_share_one_venv(tmp_path, uv_cache):
    """train and prepare differ in a comment only: one venv, built once, also after
    `make setup` would switch to another interpreter path of the same version."""
    venvs = tmp_path / "venvs"
    baked = Baked(default_project(tmp_path), env={"VENV_DIR": str(venvs), "UV_CACHE_DIR": uv_cache})
    result = baked.make("pipeline-local", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len([p for p in venvs.iterdir() if p.is_dir()]) == 1, "one venv for both steps"
    record = latest_record(baked, "training")
    assert {s["state"] for s in record["steps"].values()} == {"completed"}

    again = baked.make(
        "local", EXP="prepare", RUNTIME="venv", VENV_PYTHON=other_path_to_this_python(tmp_path)
    )
    assert again.returncode == 0, again.stderr
    assert "building venv" not in again.stderr
    assert len([p for p in venvs.iterdir() if p.is_dir()]) == 1


def test_two_concurrent_runs_needing_the_same_unbuilt_venv_both_succeed(tmp_path, uv_cache):
    """Two `make pipeline-local` at once on a fresh clone: one builds, the other waits
    for it and reuses the venv."""
    venvs = tmp_path / "venvs"
    project = default_project(tmp_path / "clone")
    env = {**os.environ, "VENV_DIR": str(venvs), "UV_CACHE_DIR": uv_cache, "RUNTIME": "venv"}
    argv = ["make", "--no-print-directory", "-C", str(project), f"PYTHON={sys.executable}"]
    procs = [
        subprocess.Popen(
            argv + ["pipeline-local"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=900) for proc in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, out.decode() + err.decode()
    errs = "".join(err.decode() for _, err in outputs)
    assert errs.count("waiting for another process to finish building venv") == 1, errs
    assert len([p for p in venvs.iterdir() if p.is_dir()]) == 1
    assert len(pipeline_runs(Baked(project), "training")) == 2
