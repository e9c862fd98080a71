import csv
import json
import pickle

from {{ cookiecutter.exp_name }}.main import main


def write_dataset(folder, rows=60):
    folder.mkdir()
    with open(folder / "data.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "target"])
        for i in range(rows):
            label = i % 2
            writer.writerow([label * 10 + i % 3, i % 5, label])
    return folder


def test_main_writes_model_and_metrics(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("AMLOPS_LOG_DIR", str(tmp_path / "logs"))
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "model"
    code = main(["--data", str(data), "--model-dir", str(out), "--n-estimators", "5"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] == 1.0  # the label is a function of column a
    assert json.loads((tmp_path / "logs" / "metrics.json").read_text()) == metrics
    with open(out / "model.pkl", "rb") as handle:
        saved = pickle.load(handle)
    assert saved["features"] == ["a", "b"]
