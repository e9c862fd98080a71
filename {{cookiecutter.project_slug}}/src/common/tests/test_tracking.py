import json
import sys
import types

from common.tracking import log_metrics


def test_without_tracking_uri_metrics_go_to_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("AMLOPS_LOG_DIR", str(tmp_path))
    log_metrics({"accuracy": 0.5})
    path = log_metrics({"f1": 0.25})
    assert path == tmp_path / "metrics.json"
    assert json.loads(path.read_text()) == {"accuracy": 0.5, "f1": 0.25}


def test_with_tracking_uri_metrics_go_to_mlflow(tmp_path, monkeypatch):
    logged = {}
    fake = types.SimpleNamespace(log_metrics=logged.update)
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "azureml://example")
    monkeypatch.setenv("AMLOPS_LOG_DIR", str(tmp_path))
    log_metrics({"accuracy": 1})
    assert logged == {"accuracy": 1.0}
    assert not (tmp_path / "metrics.json").exists()
