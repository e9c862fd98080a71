"""`make pipeline-local` and `make step-local` for real, in Docker and in a venv.

One project per runtime (module scope) keeps image and venv builds to one
each; every test starts from no pipeline runs and an empty reuse cache."""

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import BASE_IMAGE, PRELOAD
from tests.helpers import TEMPLATE_PROJECT, Baked, containers, default_project, error_lines
from tests.pipelines import (
    DIAMOND_VALUE,
    add_diamond,
    latest_record,
    output_value,
    pipeline_runs,
    states,
)

sys.path.insert(0, str(TEMPLATE_PROJECT))

RUNTIMES = [pytest.param("docker", marks=pytest.mark.docker), "venv"]


@pytest.fixture(scope="module", params=RUNTIMES)
def project(request, tmp_path_factory, shared_venvs) -> Baked:
    """A default project plus the diamond pipeline, for one runtime."""
    baked = Baked(default_project(tmp_path_factory.mktemp(f"pipe-{request.param}")))
    baked.preload = PRELOAD
    baked.env.update(VENV_DIR=str(shared_venvs), RUNTIME=request.param, JOBS="2")
    if request.param == "docker":
        request.getfixturevalue("docker_base_image")
        baked.env.update(BASE_IMAGE=BASE_IMAGE, DOCKER_BUILD_ARGS="--network host")
    add_diamond(baked)
    return baked


@pytest.fixture
def fresh(project) -> Baked:
    """The project with no earlier pipeline runs and nothing to reuse."""
    for folder in ("pipelines", ".reuse"):
        shutil.rmtree(project.path / ".runs" / folder, ignore_errors=True)
    return project


def run_diamond(baked: Baked, **variables):
    result = baked.make("pipeline-local", PIPELINE="diamond", **variables)
    return result, latest_record(baked, "diamond")


def step_record(baked: Baked, record, step):
    return json.loads((baked.path / record["steps"][step]["step_dir"] / "run.json").read_text())


def test_diamond_outputs_flow_and_branches_run_in_parallel(fresh):
    result, record = run_diamond(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert states(record) == dict.fromkeys("abcd", "completed")
    assert output_value(fresh, record, "a") == 2
    assert output_value(fresh, record, "b") == 12 and output_value(fresh, record, "c") == 102
    assert output_value(fresh, record, "d") == DIAMOND_VALUE
    b, c, a, d = (step_record(fresh, record, s) for s in "bcad")
    # b and c only depend on a: their recorded run intervals overlap.
    assert b["started"] < c["ended"] and c["started"] < b["ended"]
    assert a["ended"] <= min(b["started"], c["started"])
    assert d["started"] >= max(b["ended"], c["ended"])
    # Each consumer got its producer's output folder as a read-only input.
    assert d["inputs"]["left"].endswith(record["steps"]["b"]["outputs"]["out"])
    assert (
        "value=115"
        in (fresh.path / record["steps"]["d"]["step_dir"] / "logs/std_log.txt").read_text()
    )
    # Progress: one line per state change (not a terminal), then the summary table.
    assert "[+] d" in result.stderr and "[>] b" in result.stderr
    assert "pipeline diamond: 4 completed" in result.stdout
    assert (
        f"run folder {fresh.path.joinpath('.runs/pipelines/diamond').relative_to(fresh.path)}"
        in result.stdout
    )


def test_unchanged_steps_are_reused_and_a_change_reruns_only_downstream(fresh):
    first, record1 = run_diamond(fresh)
    assert first.returncode == 0, first.stderr
    second, record2 = run_diamond(fresh)
    assert second.returncode == 0, second.stderr
    assert states(record2) == dict.fromkeys("abcd", "reused")
    assert output_value(fresh, record2, "d") == DIAMOND_VALUE
    assert record2["steps"]["d"]["reused_from"] == record1["steps"]["d"]["step_dir"]

    # Change what branch computes: b and c re-run, and d because its inputs changed.
    fresh.edit("src/branch/main.py", "value = total + args.add", "value = total + args.add + 1")
    third, record3 = run_diamond(fresh)
    assert third.returncode == 0, third.stderr
    assert states(record3) == {"a": "reused", "b": "completed", "c": "completed", "d": "completed"}
    assert output_value(fresh, record3, "d") == DIAMOND_VALUE + 2

    # A comment-only change of join re-runs d alone.
    fresh.edit("src/join/main.py", "import argparse", "# touched\nimport argparse")
    fourth, record4 = run_diamond(fresh)
    assert states(record4) == {"a": "reused", "b": "reused", "c": "reused", "d": "completed"}

    # src/common is part of every step's code snapshot.
    fresh.edit("src/common/__init__.py", "Code shared", "Code (touched) shared")
    try:
        common, record_c = run_diamond(fresh)
        assert states(record_c) == dict.fromkeys("abcd", "completed")
    finally:
        fresh.edit("src/common/__init__.py", "Code (touched) shared", "Code shared")

    # FORCE=1 reuses nothing; new input data re-runs everything that depends on it.
    forced, record5 = run_diamond(fresh, FORCE="1")
    assert states(record5) == dict.fromkeys("abcd", "completed")
    (fresh.path / "data" / "seed" / "value.txt").write_text("2")
    try:
        changed, record6 = run_diamond(fresh)
        assert states(record6) == dict.fromkeys("abcd", "completed")
        assert output_value(fresh, record6, "d") == DIAMOND_VALUE + 2 + 2
    finally:
        (fresh.path / "data" / "seed" / "value.txt").write_text("1")
        fresh.edit("src/branch/main.py", "value = total + args.add + 1", "value = total + args.add")


def test_a_failing_step_stops_downstream_and_keeps_its_log(fresh):
    fresh.edit("pipelines/diamond.yaml", "add: 10\n", "add: 10\n      fail: 3\n")
    try:
        result, record = run_diamond(fresh)
    finally:
        fresh.edit("pipelines/diamond.yaml", "add: 10\n      fail: 3\n", "add: 10\n")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Error 3" in result.stderr, "make reports the failing step's exit code"
    assert states(record) == {"a": "completed", "b": "failed", "c": "completed", "d": "skipped"}
    log = fresh.path / record["steps"]["b"]["step_dir"] / "logs" / "std_log.txt"
    assert "value=12" in log.read_text(), "the failing step's log and outputs are kept"
    assert output_value(fresh, record, "b") == 12
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "step 'b' failed" in errors[0]
    assert str(log.relative_to(fresh.path)) in errors[0]
    assert "Traceback" not in result.stderr
    # The failure is not cached: fixing it re-runs b and d, reuses a and c.
    again, record2 = run_diamond(fresh)
    assert again.returncode == 0, again.stderr
    assert states(record2) == {"a": "reused", "b": "completed", "c": "reused", "d": "completed"}


def test_a_consumer_cannot_change_its_producers_output(fresh):
    scribbling = "right: ${{parent.jobs.c.outputs.out}}\n      scribble: 1\n"
    fresh.edit("pipelines/diamond.yaml", "right: ${{parent.jobs.c.outputs.out}}\n", scribbling)
    try:
        result, record = run_diamond(fresh)
    finally:
        fresh.edit("pipelines/diamond.yaml", scribbling, "right: ${{parent.jobs.c.outputs.out}}\n")
    assert result.returncode != 0, result.stdout + result.stderr
    assert states(record) == {"a": "completed", "b": "completed", "c": "completed", "d": "failed"}
    log = (fresh.path / record["steps"]["d"]["step_dir"] / "logs" / "std_log.txt").read_text()
    b_out = fresh.path / record["steps"]["b"]["outputs"]["out"]
    from amlops.local.readonly import mechanism

    if fresh.env["RUNTIME"] == "docker" or mechanism() != "none":
        # Read-only (a mount in Docker, a read-only bind or chmod for a venv): the
        # write fails, b's output is intact.
        assert "Read-only file system" in log or "Permission denied" in log
        assert not (b_out / "scribble.txt").exists()
        expected = {"a": "reused", "b": "reused", "c": "reused", "d": "completed"}
    else:
        # Where a venv cannot stop the write, it is detected and named, and b is not
        # reused from an output that no longer holds what b wrote.
        assert "input(s) changed during the run: left (added scribble.txt)" in log
        expected = {"a": "reused", "b": "completed", "c": "reused", "d": "completed"}
    again, record2 = run_diamond(fresh)
    assert again.returncode == 0, again.stderr
    assert states(record2) == expected
    assert output_value(fresh, record2, "d") == DIAMOND_VALUE


def test_step_local_runs_one_step_on_the_latest_upstream_outputs(fresh):
    early = fresh.make("step-local", PIPELINE="diamond", STEP="d")
    assert early.returncode == 2
    (line,) = error_lines(early.stderr)
    assert "no pipeline-local run" in line and "make pipeline-local PIPELINE=diamond" in line

    result, record = run_diamond(fresh)
    assert result.returncode == 0, result.stderr
    step = fresh.make("step-local", PIPELINE="diamond", STEP="d")
    assert step.returncode == 0, step.stdout + step.stderr
    run = fresh.latest_run("join")
    assert int((run / "outputs" / "out" / "value.txt").read_text()) == DIAMOND_VALUE
    ran = json.loads((run / "run.json").read_text())
    assert ran["pipeline"] == "diamond" and ran["step"] == "d"
    assert ran["inputs"]["left"].endswith(record["steps"]["b"]["outputs"]["out"])

    # An explicit path wins over the pipeline run's output.
    other = fresh.path / "data" / "other"
    other.mkdir(exist_ok=True)
    (other / "value.txt").write_text("1000")
    step2 = fresh.make("step-local", PIPELINE="diamond", STEP="d", INPUTS=f"left={other}")
    assert step2.returncode == 0, step2.stderr
    value = (fresh.latest_run("join") / "outputs" / "out" / "value.txt").read_text()
    assert int(value) == 1000 + 102 + 1


def test_the_sample_pipeline_trains_on_the_prepared_data(fresh):
    result = fresh.make("pipeline-local", PIPELINE="training")
    assert result.returncode == 0, result.stdout + result.stderr
    record = latest_record(fresh, "training")
    assert states(record) == {"prepare": "completed", "train": "completed"}
    prepared = fresh.path / record["steps"]["prepare"]["outputs"]["prepared"]
    assert (prepared / "data.csv").is_file() and (prepared / "scaling.json").is_file()
    model = fresh.path / record["steps"]["train"]["outputs"]["model"]
    assert json.loads((model / "metrics.json").read_text())["accuracy"] > 0.8
    train = step_record(fresh, record, "train")
    assert "--n-estimators 200" in train["command"]
    assert len(pipeline_runs(fresh, "training")) == 1


def running_steps(baked):
    """Step folders of the latest diamond run whose run.json says running."""
    runs = pipeline_runs(baked, "diamond")
    if not runs:
        return []
    found = []
    for record in runs[-1].glob("*/run.json"):
        if json.loads(record.read_text()).get("status") == "running":
            found.append(record.parent)
    return found


def leftovers(baked, run_folder):
    """Containers, or host processes, still running for this pipeline run."""
    if baked.env["RUNTIME"] == "docker":
        return containers("amlops-pipelines-diamond-")
    found = subprocess.run(["pgrep", "-f", str(run_folder)], capture_output=True, text=True)
    return found.stdout.split()


def test_ctrl_c_stops_every_running_step_and_leaves_nothing_running(fresh):
    fresh.edit("pipelines/diamond.yaml", "sleep: 1.5", "sleep: 120")
    try:
        proc = fresh.start("pipeline-local", PIPELINE="diamond")
        together = fresh.wait_for(lambda: len(running_steps(fresh)) == 2)
        assert together, "b and c never ran together"
        time.sleep(1)  # let the commands themselves start
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        fresh.edit("pipelines/diamond.yaml", "sleep: 120", "sleep: 1.5")
    assert proc.returncode == 130, out + err
    run_folder = pipeline_runs(fresh, "diamond")[-1]
    assert leftovers(fresh, run_folder) == []
    record = latest_record(fresh, "diamond")
    assert record["status"] == "interrupted"
    assert states(record) == {
        "a": "completed",
        "b": "interrupted",
        "c": "interrupted",
        "d": "canceled",
    }
    assert record["steps"]["d"]["detail"] == "interrupted"
    for step in "bc":
        log = fresh.path / record["steps"][step]["step_dir"] / "logs" / "std_log.txt"
        assert "[amlops] interrupted" in log.read_text()
