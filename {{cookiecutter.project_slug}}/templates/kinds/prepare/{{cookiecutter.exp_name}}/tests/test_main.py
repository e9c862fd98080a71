import csv
import json

from {{ cookiecutter.exp_name }}.main import main


def test_cleans_deduplicates_and_scales(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("AMLOPS_LOG_DIR", str(tmp_path / "logs"))
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("x,target\n1,0\n3,1\n3,1\nbad,0\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["--data", str(data), "--output", str(out)]) == 0
    with open(out / "data.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["x", "target"], ["-1.0", "0.0"], ["1.0", "1.0"]]
    assert json.loads((out / "scaling.json").read_text()) == {"x": [2.0, 1.0]}
    metrics = json.loads((tmp_path / "logs" / "metrics.json").read_text())
    assert metrics["rows_in"] == 4 and metrics["rows_out"] == 2
    assert metrics["dropped_duplicate"] == 1 and metrics["dropped_not_numeric"] == 1
