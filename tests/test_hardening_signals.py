"""SIGTERM and SIGHUP stop a local run like Ctrl-C, with real processes and real Docker:
nothing left running, the record says "interrupted", exit 130; a record whose process
was killed outright reads as interrupted."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import TEMPLATE_PROJECT, Baked, containers
from tests.test_local_docker import set_command

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.local.runs import current_status, read_record  # noqa: E402

STARTED = []


@pytest.fixture(autouse=True)
def stop_leftovers():
    """A failing test still stops what it started (TERM, which amlops handles)."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.communicate(timeout=60)


def start(baked: Baked, argv, **variables) -> "subprocess.Popen[str]":
    """`argv` in the project, as the leader of its own process group (like a shell job)."""
    proc = subprocess.Popen(
        argv,
        cwd=baked.path,
        env={**os.environ, **baked.env, **variables},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    STARTED.append(proc)
    return proc


def amlops(baked: Baked, *args: str, **variables) -> "subprocess.Popen[str]":
    return start(baked, [sys.executable, "-m", "amlops", *args], **variables)


def make(baked: Baked, target: str, **variables) -> "subprocess.Popen[str]":
    argv = ["make", "--no-print-directory", target, f"PYTHON={sys.executable}"]
    return start(baked, argv + [f"{key}={value}" for key, value in variables.items()])


def started_run(baked: Baked, experiment: str = "train"):
    """The run folder of the run that has begun its command (its log says `started`)."""
    assert baked.wait_for(lambda: baked.latest_run(experiment), 300), "no run folder"
    run = baked.latest_run(experiment)
    log = run / "logs" / "std_log.txt"
    assert baked.wait_for(lambda: log.is_file() and "started" in log.read_text(), 300)
    return run


def container_of(run) -> str:
    return f"amlops-{run.parent.name}-{run.name}"


def sleep_marker(prefix: int) -> str:
    """A `sleep` command line no other test process uses (this process's pid in it: two
    xdist workers, or two test sessions on one machine, never share it)."""
    pid = os.getpid()
    return f"sleep {prefix}{pid % 100:02d}.{pid}"


def processes(command: str):
    """Pids of the processes whose whole command line is `command`."""
    found = subprocess.run(["pgrep", "-f", f"^{command}$"], capture_output=True, text=True)
    return found.stdout.split()


@pytest.mark.docker
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_sigterm_and_sighup_stop_a_docker_run_like_ctrl_c(docker_baked, signum):
    set_command(docker_baked, "echo started; sleep 120")
    proc = amlops(docker_baked, "local", "--exp", "train")
    run = started_run(docker_baked)
    assert containers(container_of(run)) == [container_of(run)]
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert containers(container_of(run)) == []
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "interrupted" and record["exit_code"] == 130
    assert "[amlops] interrupted" in (run / "logs" / "std_log.txt").read_text()
    assert "Traceback" not in err


@pytest.mark.docker
def test_sigterm_to_the_process_group_of_make_local_leaves_no_container(docker_baked):
    """What `timeout` and a CI cancel do: TERM to make and everything in its group."""
    set_command(docker_baked, "echo started; sleep 120")
    proc = make(docker_baked, "local", EXP="train")
    run = started_run(docker_baked)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=60)
    # make itself dies at once; amlops finishes stopping the run in the background.
    assert docker_baked.wait_for(lambda: read_record(run).get("status") != "running", 60)
    assert read_record(run)["status"] == "interrupted"
    assert docker_baked.wait_for(lambda: containers(container_of(run)) == [], 30)


def test_sigterm_stops_a_venv_run_and_every_process_it_started(baked):
    marker = sleep_marker(30)
    set_command(baked, f"echo started; {marker} & {marker}; wait")
    proc = amlops(baked, "local", "--exp", "train", "--runtime", "venv")
    run = started_run(baked)
    assert baked.wait_for(lambda: len(processes(marker)) == 2, 30)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert baked.wait_for(lambda: processes(marker) == [], 15), "a job process survived"
    assert read_record(run)["status"] == "interrupted"


TWO_SLOW_STEPS = """inputs:
  raw:
    type: uri_folder
    path: ../data/wine
jobs:
  left:
    experiment: train
    inputs:
      data: ${{parent.inputs.raw}}
  right:
    experiment: train
    inputs:
      data: ${{parent.inputs.raw}}
      n_estimators: 7
"""


@pytest.mark.parametrize(
    "runtime, signum",
    [
        pytest.param("docker", signal.SIGTERM, marks=pytest.mark.docker, id="docker-TERM"),
        pytest.param("venv", signal.SIGHUP, id="venv-HUP"),
    ],
)
def test_a_stop_signal_to_make_pipeline_local_stops_every_step(request, baked, runtime, signum):
    """TERM (a CI cancel) or HUP (the terminal closed) to make's process group."""
    if runtime == "docker":
        baked = request.getfixturevalue("docker_baked")
    marker = sleep_marker(31)
    set_command(baked, f"echo started; {marker}")
    (baked.path / "pipelines" / "slow.yaml").write_text(TWO_SLOW_STEPS)
    proc = make(baked, "pipeline-local", PIPELINE="slow", RUNTIME=runtime, JOBS="2")

    def steps_started():
        runs = baked.run_dirs("pipelines/slow")
        logs = [log for run in runs for log in run.glob("*/logs/std_log.txt")]
        return len(logs) == 2 and all("started" in log.read_text() for log in logs)

    assert baked.wait_for(steps_started, 300), "the two steps never ran together"
    folder = baked.run_dirs("pipelines/slow")[-1]
    os.killpg(proc.pid, signum)
    proc.communicate(timeout=60)

    def record():
        return json.loads((folder / "pipeline.json").read_text())

    assert baked.wait_for(lambda: record()["status"] != "running", 60)
    assert record()["status"] == "interrupted"
    assert {s["state"] for s in record()["steps"].values()} == {"interrupted"}
    prefix = f"amlops-pipelines-slow-{folder.name}-"
    assert baked.wait_for(lambda: containers(prefix) == [] and processes(marker) == [], 30)


def test_a_running_record_whose_process_was_killed_reads_as_interrupted(baked):
    marker = sleep_marker(32)
    set_command(baked, f"echo started; {marker}")
    proc = amlops(baked, "local", "--exp", "train", "--runtime", "venv")
    run = started_run(baked)
    raw = json.loads((run / "run.json").read_text())
    assert raw["status"] == "running" and raw["pid"] == proc.pid
    assert read_record(run)["status"] == "running"  # its process lives
    proc.send_signal(signal.SIGKILL)  # no chance to record anything
    proc.communicate(timeout=30)
    for pid in processes(marker):
        os.kill(int(pid), signal.SIGKILL)
    assert json.loads((run / "run.json").read_text())["status"] == "running"
    assert read_record(run)["status"] == "interrupted"
    # make prune no longer protects it as running: it is listed like any old run.
    listed = subprocess.run(
        [sys.executable, "-m", "amlops", "prune", "--keep", "0"],
        cwd=baked.path,
        env={**os.environ, **baked.env},
        capture_output=True,
        text=True,
    )
    assert f"would remove  {run.relative_to(baked.path)}" in listed.stdout, listed.stderr


def test_a_pipeline_record_of_a_process_gone_is_interrupted_but_another_hosts_is_not():
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    )
    gone = int(done.stdout)
    import socket

    record = {"status": "running", "pid": gone, "host": socket.gethostname(), "started": 0}
    assert current_status(record) == "interrupted"
    assert current_status({**record, "host": "another-machine"}) == "running"
    assert current_status({**record, "pid": os.getpid(), "started": time.time()}) == "running"
    assert current_status({"status": "running"}) == "running"  # older records: no pid


def test_the_stop_signal_handler_takes_no_lock():
    """A TERM to make's process group reaches amlops more than once; a second signal
    arriving while the first handler held threading.Event's internal lock deadlocked
    amlops (seen in a suite run: the process waited on that futex for good, its py-bt
    three nested _on_stop_signal frames in Event.set). The handler's flag must be a
    plain bool, and a second signal while stopping returns at once."""
    import threading

    from amlops.local import procs

    assert not isinstance(procs._signalled, threading.Event)
    procs._signalled.clear()
    try:
        with pytest.raises(KeyboardInterrupt):
            procs._on_stop_signal(signal.SIGTERM, None)
        done = []
        worker = threading.Thread(target=lambda: done.append(procs._on_stop_signal(15, None)))
        worker.start()
        worker.join(5)
        assert done == [None], "a second signal while stopping returns without raising"
    finally:
        procs._signalled.clear()
