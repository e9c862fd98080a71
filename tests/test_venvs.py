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


# --- the per-run check that a venv is as built (issue 23: cheap first, full when needed)


def fake_built_venv(tmp_path: Path) -> Venv:
    """A venv folder as a build leaves it (marker, interpreter link, a package), signed;
    no uv, no download."""
    venv = Venv(tmp_path / "venvs", Requirements(["numpy"], tmp_path), sys.executable)
    package = venv.path / "lib" / "site-packages" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "data.txt").write_text("data\n")
    venv.bin_dir.mkdir()
    (venv.bin_dir / "python").symlink_to(sys.executable)
    (venv.path / ".amlops-ready").write_text("ok\n")
    venv._sign()
    return venv


def fresh_process(monkeypatch) -> None:
    """Forget what this process learnt about venvs, as a new `make local` would."""
    from amlops.local import venvs

    monkeypatch.setattr(venvs, "_checked", {})


def no_full_check(monkeypatch) -> None:
    def refuse(self):
        raise AssertionError("the full signature ran")

    monkeypatch.setattr(Venv, "_scan", refuse)


def test_an_unchanged_venv_is_passed_by_the_cheap_check_alone(tmp_path, monkeypatch):
    venv = fake_built_venv(tmp_path)
    fresh_process(monkeypatch)
    no_full_check(monkeypatch)
    assert venv.unchanged_since_checked()
    assert venv.ready()


@pytest.mark.parametrize("change", ["edited in place", "removed", "added", "chmod"])
def test_a_changed_venv_file_is_still_found_and_rebuilds(tmp_path, monkeypatch, capfd, change):
    venv = fake_built_venv(tmp_path)
    package = venv.path / "lib" / "site-packages" / "pkg"
    if change == "edited in place":  # no folder changes: only the file's own inode
        with open(package / "__init__.py", "a") as handle:
            handle.write("# reformatted by a tool\n")
    elif change == "removed":
        (package / "data.txt").unlink()
    elif change == "added":
        (package / "extra.py").write_text("")
    else:  # no content change: the cheap check sees it, the full one decides
        (package / "data.txt").chmod(0o600)
    fresh_process(monkeypatch)
    monkeypatch.setattr(Venv, "_forget_cached_packages", lambda self: None)
    assert not venv.unchanged_since_checked()
    if change == "chmod":  # mode is no part of the signature: as built, and stamped again
        assert venv.ready()
        assert venv.unchanged_since_checked()
        return
    assert not venv.ready()
    assert "changed since it was built (a tool edited its files?): rebuilding" in (
        capfd.readouterr().err
    )


def test_a_harmless_change_costs_one_full_check_then_the_cheap_one_passes(tmp_path, monkeypatch):
    venv = fake_built_venv(tmp_path)
    # the job ran: Python wrote bytecode, which no check counts
    (venv.path / "lib" / "site-packages" / "pkg" / "__pycache__").mkdir()
    (venv.path / "lib" / "site-packages" / "pkg" / "__pycache__" / "x.pyc").write_text("")
    fresh_process(monkeypatch)
    assert not venv.unchanged_since_checked(), "the package folder changed"
    assert venv.ready(), "the full check finds the files as built"
    fresh_process(monkeypatch)
    no_full_check(monkeypatch)
    assert venv.ready()


@pytest.mark.parametrize("stamp", [None, b"", b"\xff\x00garbled", b"amlops-venv-checked-1 x\n"])
def test_a_missing_or_garbled_stamp_means_the_full_check(tmp_path, monkeypatch, stamp):
    venv = fake_built_venv(tmp_path)
    if stamp is None:
        venv.stamp.unlink()
    else:
        venv.stamp.write_bytes(stamp)
    fresh_process(monkeypatch)
    assert not venv.unchanged_since_checked()
    assert venv.ready()
    assert venv.unchanged_since_checked(), "stamped again by the full check"


def test_a_venv_signed_by_an_older_amlops_is_checked_fully_then_stamped(tmp_path, monkeypatch):
    venv = fake_built_venv(tmp_path)
    venv.stamp.unlink()
    (venv.path / ".amlops-signature").unlink()
    fresh_process(monkeypatch)
    assert venv.ready()
    assert (venv.path / ".amlops-signature").read_text() == venv.signature()
    fresh_process(monkeypatch)
    no_full_check(monkeypatch)
    assert venv.ready()


def test_simple_requirement_lines_read_without_packaging_as_packaging_reads_them():
    from packaging.requirements import InvalidRequirement, Requirement

    from amlops.local.venvs import canonical_requirement, simple_requirement

    lines = [
        "numpy", "scikit-learn>=1.3", "Scikit_Learn >= 1.3", "pandas>=2.0,<3",
        "pandas >=2.0 , <3", "a.b-c_d==1.2.3", "x~=1.4", "x>1,!=1.5,<=3", "x  ==  01.02",
        "x.-_y>=1", "x>=1,<2,!=1.5", "X9==0",
    ]  # fmt: skip
    for line in lines:
        assert simple_requirement(line) == canonical_requirement(Requirement(line)), line
    others = [
        "x~=1", "x>=1,>=1.0", "x==1.*", "x[extra]>=1", "x; python_version<'3'",
        "x @ https://a/b", "x (>=1)", "x>=", "x,", "x>=1,", "x===1", "x>=1.0a1", "X_",
        "_x", "x>=1 <2", "x>=1,,<2",
    ]  # fmt: skip
    for line in others:  # left to packaging, which reads or refuses them
        assert simple_requirement(line) is None, line
        try:
            Requirement(line)
        except InvalidRequirement:
            pass


def test_an_edited_signature_is_no_unchanged_venv(tmp_path, monkeypatch):
    venv = fake_built_venv(tmp_path)
    (venv.path / ".amlops-signature").write_bytes(b"\xff\x00garbled")
    fresh_process(monkeypatch)
    monkeypatch.setattr(Venv, "_forget_cached_packages", lambda self: None)
    assert not venv.unchanged_since_checked()
    assert not venv.ready()


def test_a_rebuild_waits_for_the_runs_using_the_venv(tmp_path, monkeypatch):
    """A venv a tool edited is rebuilt, but never deleted under a job still running in it
    (CI, stop 19: a rebuild removed scikit-learn under another run): the rebuild waits
    for the runs holding the venv as in use, and a run starting meanwhile waits for it."""
    import threading

    from amlops.local import venvs

    venv = fake_built_venv(tmp_path)
    events = []
    holding, release = threading.Event(), threading.Event()

    def a_running_job():
        with venv.in_use():
            holding.set()
            release.wait(30)
            events.append("job ended")

    real_rmtree = shutil.rmtree

    def rmtree(path, *args, **kwargs):
        if Path(path) == venv.path:
            events.append("venv deleted")
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(venvs.shutil, "rmtree", rmtree)
    monkeypatch.setattr(Venv, "_uv", lambda self: "uv")
    rebuild = [sys.executable, "-c", f"import os; os.makedirs({str(venv.bin_dir)!r})"]
    monkeypatch.setattr(Venv, "_steps", lambda self, uv: [("rebuild", rebuild)])
    said = []

    def say(message):  # the job ends once the rebuild has said it waits for it
        said.append(message)
        release.set()

    monkeypatch.setattr(venvs, "say", say)
    job = threading.Thread(target=a_running_job)
    job.start()
    assert holding.wait(30)
    venv._build(echo=False)
    job.join()
    assert events == ["job ended", "venv deleted"]
    assert any("waiting for the runs using venv" in line for line in said), said
    assert (venv.path / ".amlops-ready").is_file()


@pytest.mark.parametrize("dont_write", ["1", ""])
def test_venvs_are_compiled_where_python_would_never_write_bytecode(
    tmp_path, monkeypatch, dont_write
):
    """With PYTHONDONTWRITEBYTECODE set, no run would ever compile the venv's imports:
    uv compiles them at build (pip and the Dockerfile always do). Without it the first run
    writes them, and the build stays uv's quick one."""
    monkeypatch.delenv("UV_COMPILE_BYTECODE", raising=False)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", dont_write)
    venv = Venv(tmp_path / "venvs", Requirements(["numpy"], tmp_path), sys.executable)
    assert venv._env().get("UV_COMPILE_BYTECODE") == ("1" if dont_write else None)
