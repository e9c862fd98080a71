import json
import sys
import types

from common.tracking import log_metrics


def test_without_tracking_uri_metrics_go_to_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("AMLOPS_LOG_DIR", str(tmp_path))
    log_metrics({"accuracy": 0.5})
    where = log_metrics({"f1": 0.25})
    assert where == str(tmp_path / "metrics.json")
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"accuracy": 0.5, "f1": 0.25}


def test_with_tracking_uri_metrics_go_to_mlflow_and_the_uri_is_told_intact(tmp_path, monkeypatch):
    logged = {}
    fake = types.SimpleNamespace(log_metrics=lambda values, step=None: logged.update(values))
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5077")
    monkeypatch.setenv("MLFLOW_RUN_ID", "abc123")
    monkeypatch.setenv("AMLOPS_LOG_DIR", str(tmp_path))
    where = log_metrics({"accuracy": 1})
    assert logged == {"accuracy": 1.0}
    assert where == "MLflow run abc123 (http://127.0.0.1:5077)"
    assert not (tmp_path / "metrics.json").exists()


def test_a_local_run_amlops_tracks_hands_its_metrics_over_without_mlflow(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # importing it would fail
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:///tmp/store")
    monkeypatch.setenv("MLFLOW_RUN_ID", "abc123")
    monkeypatch.setenv("AMLOPS_TRACKING_RELAY", "1")
    monkeypatch.setenv("AMLOPS_LOG_DIR", str(tmp_path))
    log_metrics({"loss": 2}, step=3)
    where = log_metrics({"loss": 1})
    assert where == "MLflow run abc123 (file:///tmp/store)"
    lines = [
        json.loads(line) for line in (tmp_path / "mlflow_metrics.jsonl").read_text().splitlines()
    ]
    assert [(line["metrics"], line["step"]) for line in lines] == [
        ({"loss": 2.0}, 3),
        ({"loss": 1.0}, 0),
    ]
    assert all(isinstance(line["timestamp"], int) for line in lines)
