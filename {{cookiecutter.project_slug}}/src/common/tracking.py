"""Log metrics to MLflow when a tracking URI is set (Azure ML sets one), else to the run folder."""

import json
import os
from pathlib import Path
from typing import Dict


def log_metrics(metrics: Dict[str, float]) -> Path:
    """Log `metrics`; returns where they went (the MLflow URI or the JSON file)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri:
        import mlflow  # only needed where a tracking server is configured

        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        return Path(uri)
    folder = Path(os.environ.get("AMLOPS_LOG_DIR", "logs"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "metrics.json"
    logged = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    logged.update({k: float(v) for k, v in metrics.items()})
    path.write_text(json.dumps(logged, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
