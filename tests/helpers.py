"""Bake projects and drive their make targets from tests."""

import atexit
import fcntl
import hashlib
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_PROJECT = REPO / "{{cookiecutter.project_slug}}"
DEFAULT_SLUG = "azure-ml-project"


def bake(output_dir: Path, **answers: str) -> Path:
    """Bake the template with these answers (the rest default); return the project."""
    from cookiecutter.main import cookiecutter

    return Path(
        cookiecutter(str(REPO), no_input=True, extra_context=answers, output_dir=str(output_dir))
    )


_DEFAULT_BAKE: List[Path] = []


def default_project(output_dir: Path) -> Path:
    """A project with default answers in `output_dir`, as `bake(output_dir)` makes it:
    a copy of one bake per test process (copying is ~50x cheaper than baking). Tests of
    baking itself call bake(). The copy's amlops/ comes with its bytecode already in
    PYTHONPYCACHEPREFIX (tests/conftest.py), so its make calls do not compile it."""
    if not _DEFAULT_BAKE:
        _DEFAULT_BAKE.append(bake(Path(tempfile.mkdtemp(prefix="amlops-default-bake-"))))
        atexit.register(shutil.rmtree, _DEFAULT_BAKE[0].parent, True)
        for source in (_DEFAULT_BAKE[0] / "amlops").rglob("*.py"):
            py_compile.compile(str(source), cfile=str(_bytecode_path(source)), doraise=True)
    target = Path(output_dir) / _DEFAULT_BAKE[0].name
    shutil.copytree(_DEFAULT_BAKE[0], target, symlinks=True)  # keeps mtimes: pyc stay valid
    compiled = _bytecode_path(_DEFAULT_BAKE[0] / "amlops" / "x.py").parent
    if compiled.is_dir():
        shutil.copytree(compiled, _bytecode_path(target / "amlops" / "x.py").parent)
    return target


def _bytecode_path(source: Path) -> Path:
    """Where Python looks for the bytecode of `source` under PYTHONPYCACHEPREFIX (PEP 3147
    names in a mirror of the source's absolute path; importlib.util.cache_from_source)."""
    prefix = Path(os.environ.get("PYTHONPYCACHEPREFIX", tempfile.gettempdir()))
    folder = source.resolve().parent.relative_to(Path(source.resolve().anchor))
    tag = sys.implementation.cache_tag
    return prefix / folder / f"{source.stem}.{tag}.pyc"


def bake_cli(output_dir: Path, **answers: str) -> "subprocess.CompletedProcess[str]":
    """Bake through the cookiecutter command line, capturing what a user sees."""
    argv = [sys.executable, "-m", "cookiecutter", str(REPO), "--no-input", "-o", str(output_dir)]
    argv += [f"{key}={value}" for key, value in answers.items()]
    return subprocess.run(argv, capture_output=True, text=True)


def tree_digest(root: Path, ignore: tuple = (".runs", "__pycache__", ".pytest_cache")) -> str:
    """A digest of every file name and content under `root` (to prove nothing changed)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if any(part in ignore for part in path.relative_to(root).parts):
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


_FORKSERVER: List[str] = []


def forkserver_python() -> str:
    """A `python` for make's PYTHON whose `-m amlops` commands run in a child forked from
    this worker's fork server (tests/support/forkserver.py: the Azure ML SDK and MLflow
    imported once, not per command); started on first use, stopped at exit."""
    if _FORKSERVER:
        return _FORKSERVER[0]
    folder = Path(tempfile.mkdtemp(prefix="amlops-forkserver-"))
    socket_path = folder / "socket"
    support = REPO / "tests" / "support"
    server = subprocess.Popen(
        [sys.executable, str(support / "forkserver.py"), str(socket_path)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert server.stdout is not None
    ready = server.stdout.readline().strip()
    assert ready == "ready", f"the fork server did not start: {ready!r}"
    atexit.register(shutil.rmtree, folder, True)
    atexit.register(server.kill)
    wrapper = folder / "python"
    client = support / "forkserver_client.py"
    python = sys.executable
    wrapper.write_text(
        f'#!/bin/sh\nexec "{python}" -S "{client}" "{python}" "{socket_path}" "$@"\n'
    )
    wrapper.chmod(0o755)
    _FORKSERVER.append(str(wrapper))
    return _FORKSERVER[0]


@dataclass
class Baked:
    """A baked project plus the environment its make targets run with. `preload`: its
    amlops commands run through the fork server (forkserver_python), for tests that do
    not test which modules a command imports or signal process groups."""

    path: Path
    env: Dict[str, str] = field(default_factory=dict)
    preload: bool = False

    def make(self, *args: str, timeout: int = 900, **variables: str):
        """Run `make <args> VAR=value ...` in the project with the test Python."""
        argv = ["make", "--no-print-directory", "-C", str(self.path), *args]
        argv += [f"PYTHON={forkserver_python() if self.preload else sys.executable}"]
        argv += [f"{key}={value}" for key, value in variables.items()]
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.env},
        )

    def run_dirs(self, experiment: str) -> List[Path]:
        """Run folders of an experiment, oldest first (names only resolve seconds); the
        `latest` link to the newest is not one of them."""
        folder = self.path / ".runs" / experiment
        runs = (
            [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
            if folder.is_dir()
            else []
        )
        return sorted(runs, key=lambda p: (p.name[:15], _started(p)))

    def latest_run(self, experiment: str) -> Optional[Path]:
        runs = self.run_dirs(experiment)
        return runs[-1] if runs else None

    def start(
        self, command: str, python: str = sys.executable, **variables: str
    ) -> "subprocess.Popen[str]":
        """Start `python -m amlops <command>` in the background (to interrupt it)."""
        return subprocess.Popen(
            [python, "-m", "amlops", command],
            cwd=self.path,
            env={**os.environ, **self.env, **variables},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def start_make(self, target: str, **variables: str) -> "subprocess.Popen[str]":
        """Start `make <target> VAR=value ...` as the leader of its own process group, as
        a shell starts a job: Ctrl-C reaches the whole group (os.killpg(proc.pid, sig))."""
        argv = ["make", "--no-print-directory", target, f"PYTHON={sys.executable}"]
        return subprocess.Popen(
            argv + [f"{key}={value}" for key, value in variables.items()],
            cwd=self.path,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def wait_for(self, condition, seconds: float = 120) -> bool:
        """Poll `condition()` until it is true or `seconds` pass; its last value."""
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.2)
        return bool(condition())

    def append(self, rel: str, text: str) -> None:
        """Add `text` at the end of a project file (a new last Dockerfile step: a new image
        while Docker's cache keeps the layers before it)."""
        path = self.path / rel
        path.write_text(path.read_text() + text)

    def edit(self, rel: str, old: str, new: str) -> None:
        """Replace `old` (which must be present) by `new` in a project file."""
        path = self.path / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new))


def run_processes(run_dir: Path) -> List[str]:
    """ "<pid> <command line>" of every live process of the venv run in `run_dir`: the venv
    runtime gives the job's whole process tree AMLOPS_LOG_DIR=<run_dir>/logs, which its
    children inherit (a JVM's Python workers, a parallel driver's forked workers) even
    when their command lines do not name the run. Linux /proc only."""
    marker = f"AMLOPS_LOG_DIR={run_dir / 'logs'}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # a zombie has ended: only its parent has not reaped it yet
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        found.append(f"{proc.name} {command.strip()}")
    return found


def containers(prefix: str) -> List[str]:
    """Names of the Docker containers (running or not) whose name starts with `prefix`."""
    result = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"name={prefix}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
    )
    return result.stdout.split()


def _started(run_dir: Path) -> float:
    """When a run folder's run started (run.json), or a submission folder's submission was
    made (submission.json): folder names resolve only seconds, and two commands of one
    test can finish within one second."""
    for record, key in (("run.json", "started"), ("submission.json", "created")):
        try:
            return float(json.loads((run_dir / record).read_text())[key])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return 0.0


def error_lines(stderr: str) -> List[str]:
    """The `error:` lines of a command's stderr."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def npm_package(name: str, version: str) -> Path:
    """node_modules/<name> of an npm package installed once into the test cache
    ($AMLOPS_TEST_CACHE, default /tmp/amlops-test-cache). Where there is no npm it skips,
    unless CI is set: then it fails (.ci/run installs npm)."""
    import pytest

    if not shutil.which("npm") or not shutil.which("node"):
        if os.environ.get("CI"):
            pytest.fail(f"node and npm are needed for {name}; .ci/run installs them")
        pytest.skip(f"no node/npm on this machine (CI unset): tests needing {name} skipped")
    folder = tools_cache() / f"{name}-{version}"
    module = folder / "node_modules" / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(f"{folder}.lock", "w") as lock:  # two workers (or sessions) install it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (module / "package.json").is_file():
            done = subprocess.run(
                ["npm", "install", "--silent", "--prefix", str(folder), f"{name}@{version}"],
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stderr[-2000:]
    return module


def tools_cache() -> Path:
    """Where tools the tests install once are kept: $AMLOPS_TEST_CACHE, default
    /tmp/amlops-test-cache."""
    return Path(os.environ.get("AMLOPS_TEST_CACHE", "/tmp/amlops-test-cache"))


@contextmanager
def named_images_lock(exclusive: bool) -> Iterator[None]:
    """Held exclusively while tests tag local images under public names (Azure ML's base
    images, python:3.11-slim: tests/native_support.py tag_case_images), and shared by
    every test that does not use Docker: with one of those names present, RUNTIME=auto
    would build on it instead of falling back to a venv. One lock per machine (in the
    tools cache), so neither a second xdist worker nor a second test session sees them."""
    cache = tools_cache()
    cache.mkdir(parents=True, exist_ok=True)
    # Writer first: flock gives no waiter priority, so a worker that takes the shared lock
    # test after test starved the exclusive request (the Docker group then waited until the
    # other worker had nothing left). An exclusive request holds the intent lock while it
    # waits; a shared request passes through the intent lock before it takes its own.
    with open(cache / "named-images.intent", "w") as intent:
        with open(cache / "named-images.lock", "w") as lock:
            fcntl.flock(intent, fcntl.LOCK_EX)
            if exclusive:
                fcntl.flock(lock, fcntl.LOCK_EX)
                fcntl.flock(intent, fcntl.LOCK_UN)
            else:
                fcntl.flock(intent, fcntl.LOCK_UN)
                fcntl.flock(lock, fcntl.LOCK_SH)
            yield


def cached_venv(prefix: str, requirements: List[str]) -> Path:
    """The python of a venv with `requirements` from PyPI, built once per requirement
    list in the test cache (`<prefix>-<hash>`); two test runs at once build it once."""
    key = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:12]
    cache = tools_cache()
    venv = cache / f"{prefix}-{key}"
    python = venv / "bin" / "python"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{prefix}-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".complete").is_file():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            # uv (beside this Python, from requirements-dev) in a fraction of pip's time
            # (azureml-core's venv: ~4 min with pip); pip where uv cannot install
            uv = Path(sys.executable).with_name("uv")
            done = None
            if uv.is_file():
                argv = [str(uv), "pip", "install", "--quiet", "--python", str(python)]
                done = subprocess.run([*argv, *requirements], capture_output=True, text=True)
            if done is None or done.returncode != 0:
                pip = [str(python), "-m", "pip", "install", "--quiet"]
                for args in (["--upgrade", "pip"], requirements):
                    done = subprocess.run([*pip, *args], capture_output=True, text=True)
                    assert done.returncode == 0, f"pip install {args}: {done.stderr[-2000:]}"
            (venv / ".complete").write_text("\n".join(requirements))
    return python
