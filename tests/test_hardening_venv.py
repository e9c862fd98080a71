"""The venv runtime keeps inputs read-only where the OS allows it (a private read-only bind
mount on Linux, write bits removed elsewhere), names the files that changed where it
cannot, and does not count the run's own output folder as an input change."""

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import TEMPLATE_PROJECT
from tests.test_local_docker import set_command

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.local.readonly import ChmodGuard, mechanism  # noqa: E402

WRITE = "python -c \"open('${{inputs.data}}/extra.csv', 'w').write('a')\""


def modes(root: Path):
    """relative path -> permission bits of everything under `root` except .runs."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] != ".runs" and not path.is_symlink():
            found[rel.as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.mark.skipif(mechanism() != "namespace", reason="no mount namespace on this machine")
def test_a_venv_run_cannot_write_into_its_input(baked):
    set_command(baked, WRITE)
    data = baked.path / "data" / "wine"
    before = modes(data)
    result = baked.make("local", EXP="train", RUNTIME="venv")
    assert result.returncode != 0
    run = baked.latest_run("train")
    assert "Read-only file system" in (run / "logs" / "std_log.txt").read_text()
    assert not (data / "extra.csv").exists()
    assert modes(data) == before, "the files themselves were never touched"
    assert json.loads((run / "run.json").read_text())["status"] == "failed"


def test_where_inputs_cannot_be_protected_the_changed_files_are_named(baked):
    set_command(
        baked,
        "python -c \"import pathlib; d = pathlib.Path('${{inputs.data}}');"
        " (d / 'extra.csv').write_text('a'); (d / 'wine.csv').write_text('b')\"",
    )
    baked.env["AMLOPS_READONLY_INPUTS"] = "none"
    result = baked.make("local", EXP="train", RUNTIME="venv")
    assert result.returncode != 0
    expected = (
        "amlops: input(s) changed during the run: data (added extra.csv, modified wine.csv);"
        " inputs are read-only (write to an output instead)"
    )
    assert expected in result.stderr
    assert expected in (baked.latest_run("train") / "logs" / "std_log.txt").read_text()


@pytest.mark.parametrize("how", ["namespace", "chmod", "none"])
def test_an_input_holding_the_runs_own_output_folder_is_no_input_change(baked, how):
    if how == "namespace" and mechanism() != "namespace":
        pytest.skip("no mount namespace on this machine")
    set_command(
        baked,
        "python -c \"import pathlib; out = pathlib.Path('${{outputs.model}}');"
        " out.mkdir(parents=True, exist_ok=True); (out / 'm.txt').write_text('ok')\"",
    )
    baked.env["AMLOPS_READONLY_INPUTS"] = how
    before = modes(baked.path)
    result = baked.make("local", EXP="train", RUNTIME="venv", INPUTS="data=.")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "changed during the run" not in result.stderr
    run = baked.latest_run("train")
    assert (run / "outputs" / "model" / "m.txt").read_text() == "ok"
    assert modes(baked.path) == before, "permissions are restored"
    assert not list((baked.path / ".runs" / ".readonly").glob("*.json"))


def test_chmod_guard_keeps_an_input_read_only_until_its_last_run_ends(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "a.csv").write_text("1")
    (data / "b.csv").write_text("2")
    (data / "b.csv").chmod(0o640)
    before = modes(data)
    state = tmp_path / "state"
    first = ChmodGuard(data, [], state).__enter__()
    second = ChmodGuard(data, [], state).__enter__()  # a parallel pipeline step
    assert all(mode & 0o222 == 0 for mode in modes(data).values())
    first.__exit__(None, None, None)
    assert all(mode & 0o222 == 0 for mode in modes(data).values()), "second still runs"
    second.__exit__(None, None, None)
    assert modes(data) == before
    assert not list(state.glob("*.json"))


def test_a_run_killed_while_its_input_was_read_only_is_repaired_by_the_next(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("1")
    before = modes(data)
    state = tmp_path / "state"
    code = (
        "import sys, os; sys.path.insert(0, sys.argv[1]);"
        "from pathlib import Path; from amlops.local.readonly import ChmodGuard;"
        "ChmodGuard(Path(sys.argv[2]), [], Path(sys.argv[3])).__enter__(); os._exit(9)"
    )
    died = subprocess.run(
        [sys.executable, "-c", code, str(TEMPLATE_PROJECT), str(data), str(state)]
    )
    assert died.returncode == 9
    assert all(mode & 0o222 == 0 for mode in modes(data).values())  # left read-only
    guard = ChmodGuard(data, [], state).__enter__()
    guard.__exit__(None, None, None)
    assert modes(data) == before


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to act as another user"
)
def test_chmod_guard_stops_a_non_root_process_from_writing(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("1")
    tmp_path.chmod(0o755)
    for path in (data, data / "a.csv"):
        os.chown(path, 65534, 65534)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c"]
    write = "echo x >> a.csv && touch new.csv"
    with ChmodGuard(data, [], tmp_path / "state"):
        refused = subprocess.run([*as_nobody, write], cwd=data, capture_output=True, text=True)
    assert refused.returncode != 0 and "Permission denied" in refused.stderr
    assert (data / "a.csv").read_text() == "1" and not (data / "new.csv").exists()
    allowed = subprocess.run([*as_nobody, write], cwd=data, capture_output=True, text=True)
    assert allowed.returncode == 0, "the write bits are back after the run"


def tiny_wheel(folder: Path, name: str) -> Path:
    """A pure-Python wheel of module `name` (NAME = name), made by hand: pip installs it
    with --no-index, so no registry is needed."""
    import base64
    import hashlib
    import zipfile

    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": f"NAME = {name!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join(record + [f"{dist}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


INSTALLS = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
code: .
command: >-
  pip install --no-index --quiet ${{inputs.wheel}}
  && python -c "import importlib, sys; print('imported', importlib.import_module(sys.argv[1]).NAME)"
  ${{inputs.module}}
environment:
  build:
    path: docker
inputs:
  wheel:
    type: uri_file
    path: ./tiny_a-1.0-py3-none-any.whl
  module: tiny_a
"""


def test_concurrent_runs_that_pip_install_leave_the_shared_venv_unchanged(baked, shared_venvs):
    """Issue 24.4: in Azure each job (each sweep trial) has its own container; here each
    run's installs go to its own overlay, and the venv the runs share stays as built."""
    folder = baked.path / "src" / "train"
    for name in ("tiny_a", "tiny_b"):
        tiny_wheel(folder, name)
    (folder / "installs.yaml").write_text(INSTALLS)
    env = {**os.environ, **baked.env}
    runs = [
        subprocess.Popen(
            ["make", "--no-print-directory", "-C", str(baked.path), "local", "EXP=train",
             "JOB=installs.yaml", "RUNTIME=venv", f"PYTHON={sys.executable}",
             f"INPUTS=wheel=src/train/{name}-1.0-py3-none-any.whl module={name}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        for name in ("tiny_a", "tiny_b")
    ]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (out, err), name in zip(runs, outputs, ("tiny_a", "tiny_b")):
        assert run.returncode == 0, out + err
        assert "the job installed packages" in err and "shared venv is unchanged" in err
        logs = sorted((baked.path / ".runs" / "train").glob("*/logs/std_log.txt"))
        assert any(f"imported {name}" in log.read_text() for log in logs)
    installed = list(shared_venvs.glob("*/lib/python*/site-packages/tiny_*"))
    assert installed == []  # neither run changed the venv both used
    again = baked.make("local", EXP="train", JOB="installs.yaml", RUNTIME="venv")
    assert again.returncode == 0, again.stderr
    assert "building" not in again.stderr  # the venv was not found changed and rebuilt


def test_the_read_only_probe_is_asked_once_per_boot_and_kept(tmp_path, monkeypatch):
    from amlops.local import readonly

    if not sys.platform.startswith("linux"):
        pytest.skip("the namespace probe runs on Linux only")
    calls = []
    monkeypatch.setattr(readonly, "_probed", {})
    monkeypatch.setattr(readonly, "_probe", lambda: calls.append(1) or True)
    assert readonly.namespace_works(tmp_path) and calls == [1]
    monkeypatch.setattr(readonly, "_probed", {})  # a new process
    assert readonly.namespace_works(tmp_path) and calls == [1], "read from the cache"
    (tmp_path / readonly.PROBE_CACHE).write_text('{"another boot": false}')
    monkeypatch.setattr(readonly, "_probed", {})
    assert readonly.namespace_works(tmp_path) and calls == [1, 1], "probed again"
