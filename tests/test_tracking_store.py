"""The tracking store through MLflow's own code: its caching rules (a new experiment is
still found, each experiment folder is read once per process, a run's folder is not
searched for), stores written by earlier amlops versions, the metrics relay, the
TRACKING switch, the UI's port check, and no MLflow import where nothing is tracked."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import TEMPLATE_PROJECT, default_project

sys.path.insert(0, str(TEMPLATE_PROJECT))
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

from amlops.errors import UserError  # noqa: E402
from amlops.tracking import store as store_module  # noqa: E402
from amlops.tracking.relay import RELAY_FILE, MetricsRelay  # noqa: E402
from amlops.tracking.store import FileStore, derived_experiment_id, open_store  # noqa: E402
from amlops.tracking.ui import port_taken, require_port  # noqa: E402


def mlflow_own_store(root: Path):
    """A plain MLflow FileStore on `root` (what a user's own mlflow call would use)."""
    from mlflow.store.tracking.file_store import FileStore as MlflowFileStore

    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        return MlflowFileStore(str(root))
    finally:
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)


def test_an_experiment_made_after_the_cache_was_filled_is_still_found(tmp_path):
    root = tmp_path / "mlruns"
    ours = FileStore(root)
    first = ours.experiment_id("first")
    assert first == derived_experiment_id("first")  # the ids amlops has always used
    assert ours.experiment_id("first") == first
    # made meanwhile by MLflow itself (a random id), and by another amlops process
    late = mlflow_own_store(root).create_experiment("late")
    other = FileStore(root).experiment_id("other")
    assert ours.experiment_id("late") == late
    assert ours.experiment_id("other") == other
    names = [e.name for e in mlflow_own_store(root).search_experiments()]
    assert sorted(names) == ["Default", "first", "late", "other"]  # nothing made twice


def test_an_experiment_another_process_makes_meanwhile_is_joined(tmp_path, monkeypatch):
    """Two processes make experiment `x` at once (two `make pipeline-local` on a fresh
    clone): both find none, both write the same derived id; the second's write meets
    the first's meta.yaml (MLflow 3 raises a bare Exception there) and joins it."""
    root = tmp_path / "mlruns"
    late = FileStore(root)
    backend = late.mlflow
    create = backend._create_experiment_with_id
    made = []

    def other_process_first(*args):  # it writes meta.yaml just before this one does
        made.append(FileStore(root).experiment_id("x"))
        return create(*args)

    monkeypatch.setattr(backend, "_create_experiment_with_id", other_process_first)
    assert late.experiment_id("x") == made[0] == derived_experiment_id("x")
    assert [e.name for e in mlflow_own_store(root).search_experiments()] == ["x", "Default"]


def test_each_experiment_folder_is_read_once_per_store(tmp_path, monkeypatch):
    root = tmp_path / "mlruns"
    maker = mlflow_own_store(root)
    for k in range(12):
        maker.create_experiment(f"made-by-mlflow-{k}")
    ours = FileStore(root)
    reads = []
    backend = ours.mlflow
    original = backend.get_experiment
    monkeypatch.setattr(
        backend, "get_experiment", lambda i: reads.append(i) or original(i), raising=False
    )
    for k in range(30):
        ours.experiment_id(f"step-{k}")
    ours.experiment_id("made-by-mlflow-3")
    folders = [p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) == 1 + 12 + 30
    assert sorted(reads) == sorted(set(reads))  # no folder read twice
    assert len(reads) <= 1 + 12  # the new ones are known without reading them back


def test_a_run_folder_is_not_searched_for_once_known(tmp_path, monkeypatch):
    from mlflow.store.tracking.file_store import FileStore as MlflowFileStore

    root = tmp_path / "mlruns"
    ours = FileStore(root)
    for k in range(5):
        ours.experiment_id(f"e{k}")
    searches = []
    original = MlflowFileStore._find_run_root
    monkeypatch.setattr(
        MlflowFileStore,
        "_find_run_root",
        lambda self, run, *a, **k: searches.append(run) or original(self, run, *a, **k),
    )
    experiment = ours.experiment_id("e3")
    run = ours.create_run(experiment, "20261130-101500-a1b2c3", {"n": "5"}, {"t": "v"})
    ours.log_metrics(experiment, run, {"loss": 0.5})
    ours.finish_run(experiment, run, "FINISHED")
    assert ours.run_data(experiment, run).status == "FINISHED"
    assert searches == []
    # another process knows nothing yet: one search, then none
    fresh = FileStore(root)
    assert fresh.run_data("", run).metrics == {"loss": 0.5}
    assert fresh.run_data("", run).params == {"n": "5"}
    assert searches == [run]


def test_open_store_is_one_object_per_folder(tmp_path):
    uri = (tmp_path / "mlruns").as_uri()
    assert open_store(uri, {}) is open_store(str(tmp_path / "mlruns"), {})
    assert open_store((tmp_path / "other").as_uri(), {}) is not open_store(uri, {})


def test_a_store_written_by_earlier_amlops_versions_is_read_and_extended(tmp_path):
    """The layout the hand-written store of amlops <= this change wrote, file by file."""
    root = tmp_path / "mlruns"
    experiment = derived_experiment_id("old-exp")
    run = "0123456789abcdef0123456789abcdef"
    folder = root / experiment / run
    for sub in ("artifacts", "metrics", "params", "tags"):
        (folder / sub).mkdir(parents=True)
    (root / ".trash").mkdir()
    (root / "0").mkdir()
    (root / "0" / "meta.yaml").write_text(
        f"artifact_location: {(root / '0').as_uri()}\ncreation_time: 1764500000000\n"
        "experiment_id: '0'\nlast_update_time: 1764500000000\nlifecycle_stage: active\n"
        "name: Default\n"
    )
    (root / experiment / "meta.yaml").write_text(
        f"artifact_location: {(root / experiment).as_uri()}\ncreation_time: 1764500000000\n"
        f"experiment_id: '{experiment}'\nlast_update_time: 1764500000000\n"
        "lifecycle_stage: active\nname: old-exp\n"
    )
    (folder / "meta.yaml").write_text(
        f"artifact_uri: {(folder / 'artifacts').as_uri()}\ndeleted_time: null\n"
        f"end_time: 1764500009000\nentry_point_name: ''\nexperiment_id: '{experiment}'\n"
        f"lifecycle_stage: active\nrun_id: {run}\nrun_name: 20261130-101500-a1b2c3\n"
        f"run_uuid: {run}\nsource_name: ''\nsource_type: 4\nsource_version: ''\n"
        "start_time: 1764500000000\nstatus: 3\ntags: []\nuser_id: someone\n"
    )
    (folder / "params" / "n_estimators").write_text("7")
    (folder / "tags" / "mlflow.runName").write_text("20261130-101500-a1b2c3")
    (folder / "metrics" / "accuracy").write_text("1764500001000 0.5 0\n1764500002000 0.75 0\n")
    ours = FileStore(root)
    assert ours.experiment_id("old-exp") == experiment
    data = ours.run_data(experiment, run)
    assert data.params == {"n_estimators": "7"} and data.metrics == {"accuracy": 0.75}
    assert data.status == "FINISHED" and data.end_ms == 1764500009000
    assert ours.metric_history(experiment, run, "accuracy") == [0.5, 0.75]
    second = ours.create_run(experiment, "20261201-101500-b1b2c3", {}, {})
    found = mlflow_own_store(root).search_runs([experiment], "", 1)  # ViewType.ACTIVE_ONLY
    assert {r.info.run_id for r in found} == {run, second}


def test_relayed_metrics_reach_the_run_in_order_with_their_steps(tmp_path):
    ours = FileStore(tmp_path / "mlruns")
    experiment = ours.experiment_id("relay")
    run = ours.create_run(experiment, "r", {}, {})
    run_dir = tmp_path / "run"
    (run_dir / "logs").mkdir(parents=True)
    relay = MetricsRelay(ours, experiment, run, run_dir)
    assert relay.pump() == 0  # nothing written yet
    lines = [
        {"metrics": {"loss": 3.0}, "step": 0, "timestamp": 1764500000000},
        "not json",
        {"metrics": {"loss": 2.0, "acc": 0.5}, "step": 1},
    ]
    text = "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines)
    path = run_dir / "logs" / RELAY_FILE
    path.write_text(text + '{"metrics": {"loss": 1.')  # the last line is being written
    assert relay.pump() == 2
    assert ours.metric_history(experiment, run, "loss") == [3.0, 2.0]
    with open(path, "a") as out:
        out.write('0}, "step": 2}\n')
    relay.start()
    relay.stop()
    assert ours.metric_history(experiment, run, "loss") == [3.0, 2.0, 1.0]
    history = ours.mlflow.get_metric_history(run, "loss")
    assert [m.step for m in history] == [0, 1, 2] and history[0].timestamp == 1764500000000
    assert ours.run_data(experiment, run).metrics == {"loss": 1.0, "acc": 0.5}


@pytest.mark.parametrize(
    "value, expected",
    [("", True), ("1", True), ("true", True), ("0", False), ("off", False), ("No", False)],
)
def test_the_tracking_switch(tmp_path, value, expected):
    from amlops.project import Project
    from amlops.tracking.local import run_environment, start_run, tracking_on

    (tmp_path / "config.env").write_text(f"PROJECT_SLUG=p\nTRACKING={value}\n")
    (tmp_path / "src").mkdir()
    project = Project(tmp_path)
    assert tracking_on(project) is expected
    if not expected:
        env = run_environment(project, spec=None)
        assert not [k for k in env if k.startswith("MLFLOW_")]
        tracked = start_run(project, None, tmp_path, None, {}, {})
        assert tracked.record == {} and tracked.start_relay(tmp_path) == {}
        assert not (tmp_path / ".runs").exists()


def test_a_bad_tracking_value_is_one_line(tmp_path):
    from amlops.project import Project
    from amlops.tracking.local import tracking_on

    (tmp_path / "config.env").write_text("TRACKING=maybe\n")
    with pytest.raises(UserError, match=r"TRACKING='maybe': use 1 .* or 0"):
        tracking_on(Project(tmp_path))


def test_a_taken_port_is_refused_in_one_line():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port_taken(port)
        with pytest.raises(UserError) as refused:
            require_port(str(port), "UI_PORT", "make ui")
    message = str(refused.value)
    assert f"port {port}" in message and "UI_PORT=" in message and "\n" not in message
    assert not port_taken(port)
    assert require_port(str(port), "UI_PORT", "make ui") == port
    with pytest.raises(UserError, match="UI_PORT='http': use a port number"):
        require_port("http", "UI_PORT", "make ui")


PROBE_IMPORTS = """
import sys
sys.argv = ["amlops", "--help"]
import runpy
try:
    runpy.run_module("amlops", run_name="__main__")
except SystemExit:
    pass
import amlops.local.run, amlops.tracking.report, amlops.tracking.local, amlops.sweeps.run
print(sorted(m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")))
"""


def test_mlflow_is_not_imported_where_nothing_is_tracked(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", PROBE_IMPORTS],
        cwd=default_project(tmp_path),  # a copy: a command writes .runs/ where it runs
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_mlflow_store_errors_are_one_line(tmp_path):
    ours = FileStore(tmp_path / "mlruns")
    with pytest.raises(UserError) as failed:
        ours.finish_run("123", "0123456789abcdef0123456789abcdef", "FINISHED")
    assert "\n" not in str(failed.value) and str(tmp_path) in str(failed.value)
    assert store_module.safe_key("a:b") == "a_b"


def test_a_meta_yaml_read_while_another_process_rewrites_it_is_not_a_crash(tmp_path):
    """MLflow rewrites meta.yaml in place; a sweep polling a trial read it empty under
    load and crashed with AttributeError (CI, stop 20). Reads wait for the writer, and
    a file that stays empty is a run not written yet."""
    import threading

    root = tmp_path / "mlruns"
    writer = FileStore(root)
    experiment = writer.experiment_id("torn")
    run_id = writer.create_run(experiment, "trial", {"lr": "0.1"}, {})
    writer.log_metrics(experiment, run_id, {"loss": 0.5})
    meta = root / experiment / run_id / "meta.yaml"
    whole = meta.read_text()

    meta.write_text("")  # the writer is between open(..., "w") and its write
    rewrite = threading.Timer(0.6, meta.write_text, args=(whole,))  # past MLflow's 0.3 s
    rewrite.start()
    try:
        assert FileStore(root).metric_history(experiment, run_id, "loss") == [0.5]
    finally:
        rewrite.join()

    meta.write_text("")  # and a writer that never comes back
    reader = FileStore(root)
    assert reader.metric_history(experiment, run_id, "loss") == []
    assert reader.run_data(experiment, run_id).status == ""
    (root / experiment / "meta.yaml").write_text("")
    assert FileStore(root).find_experiment("torn") is None  # not (yet) readable
    meta.write_text(whole)
