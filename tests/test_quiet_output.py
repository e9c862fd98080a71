"""Quiet by default: a tool's whole output (docker build, papermill) goes to a log the
command names in one line; VERBOSE=1 streams it; a failure always shows the log's end.
And `make jupyter` starts wherever `make terminal` does (here: as root)."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests.helpers import containers, error_lines

ANSI = "\x1b["


def fresh_build_step(project) -> None:
    """A last Dockerfile step no earlier run built (images are tagged by content): a build,
    whose log still shows every step (the cached requirements install among them)."""
    project.append("src/train/docker/Dockerfile", f"RUN echo {uuid.uuid4().hex}\n")


@pytest.mark.docker
def test_an_image_build_is_one_line_naming_its_log_and_verbose_streams_it(docker_baked):
    fresh_build_step(docker_baked)
    quiet = docker_baked.make("build-exp", EXP="train")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    shown = quiet.stdout + quiet.stderr
    assert ANSI not in shown and "Step " not in shown and "#" not in quiet.stdout
    (named,) = [line for line in quiet.stderr.splitlines() if "building image" in line]
    log = named.split("(log: ", 1)[1].split(";", 1)[0]
    assert "uv pip install" in open(log).read()  # the whole build is in the log
    assert len(shown.splitlines()) <= 4, shown

    fresh_build_step(docker_baked)
    loud = docker_baked.make("build-exp", EXP="train", VERBOSE="1")
    assert loud.returncode == 0, loud.stdout + loud.stderr
    assert "uv pip install" in loud.stdout


@pytest.mark.docker
def test_a_failing_build_shows_the_end_of_its_log_and_one_error_line(docker_baked):
    dockerfile = docker_baked.path / "src/train/docker/Dockerfile"
    marker = f"probe-{uuid.uuid4().hex[:8]}"
    dockerfile.write_text(dockerfile.read_text() + f"RUN echo {marker} && exit 3\n")
    result = docker_baked.make("build-exp", EXP="train", LAYERED_BUILDS="0")
    assert result.returncode != 0
    (line,) = error_lines(result.stderr)
    assert "docker build" in line and "log:" in line
    tail = result.stderr.split(line)[0]
    assert marker in tail  # the build's own words, before the one error line
    assert len(result.stdout.splitlines()) == 0, result.stdout


def test_a_passing_notebook_run_prints_one_line_per_notebook(baked):
    result = baked.make("notebooks", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["notebook notebooks/explore.ipynb: ok"] or (
        len(result.stdout.splitlines()) == 1
        and result.stdout.startswith("notebook notebooks/explore.ipynb: ok (")
    ), result.stdout
    shown = result.stdout + result.stderr
    for noise in ("unknown parameter", "KeyboardInterrupt", "Jupyter", "Traceback", ANSI):
        assert noise not in shown, noise
    run_dir = sorted((baked.path / ".runs/notebooks").glob("2*"))[-1]
    assert "notebook notebooks/explore.ipynb: ok" in (run_dir / "logs/std_log.txt").read_text()


@pytest.mark.slow
def test_make_setup_says_what_it_does_in_a_few_lines_and_verbose_shows_pip(baked):
    """`make setup` printed ~295 lines of pip output: each step's output goes to
    .runs/setup.log (a failing step shows its end), VERBOSE=1 streams it. The README's
    first command, run for real (the second run finds everything installed)."""
    subprocess.run(["git", "init", "-q"], cwd=baked.path, check=True)
    quiet = baked.make("setup", timeout=1200)
    shown = (quiet.stdout + quiet.stderr).splitlines()
    assert quiet.returncode == 0, "\n".join(shown[-40:])
    assert len(shown) <= 4, shown  # creating .venv, the SDK, the hooks
    assert shown[0].startswith("amlops: creating .venv") and "VERBOSE=1" in shown[0]
    log = (baked.path / ".runs" / "setup.log").read_text()
    assert "black" in log and len(log.splitlines()) > 20  # the tools' install, kept
    black = subprocess.run([str(baked.path / ".venv/bin/python"), "-m", "black", "--version"])
    assert black.returncode == 0

    loud = baked.make("setup", VERBOSE="1", timeout=1200)
    assert loud.returncode == 0, loud.stdout + loud.stderr
    assert "Requirement already satisfied: pip" in loud.stdout + loud.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.docker
def test_jupyter_starts_where_terminal_starts_even_as_root(docker_baked):
    """Containers run as the caller's uid: as root (CI, dev containers) Jupyter used to
    refuse to start ("Use --allow-root") where `make terminal` worked."""
    terminal = docker_baked.make("terminal", EXP="train", CMD="id -u")
    assert terminal.returncode == 0, terminal.stdout + terminal.stderr
    port = free_port()
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "-C", str(docker_baked.path), "jupyter"]
        + [f"PYTHON={sys.executable}", "EXP=train", f"PORT={port}"],
        env={**os.environ, **docker_baked.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()  # (the test engine has no bridge network: the server's own line tells)
    try:
        deadline = time.monotonic() + 900  # the first run builds the image plus jupyterlab
        while proc.poll() is None and time.monotonic() < deadline:
            if any("Jupyter Server" in line and "is running at" in line for line in lines):
                break
            time.sleep(1)
        assert proc.poll() is None, "".join(lines)[-3000:]
        assert any("is running at" in line for line in lines), "".join(lines)[-3000:]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
        reader.join(timeout=30)
    output = "".join(lines)
    assert "--allow-root" not in output
    session = docker_baked.latest_run("train")
    assert not containers(f"amlops-train-{session.name}")  # stopped and removed
    runs = docker_baked.make("runs", EXP="train")
    assert "jupyter:train" in runs.stdout and "terminal:train" in runs.stdout, runs.stdout
