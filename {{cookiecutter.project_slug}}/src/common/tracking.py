"""Log metrics with MLflow wherever a tracking URI is set, else to the run's logs folder.

Azure ML sets MLFLOW_TRACKING_URI (and the run) for every job, and `make local`
sets them for every local run (the project's store in .runs/mlruns, or your own
server from MLFLOW_TRACKING_URI in .env), so the same call logs to the workspace
in the cloud and to the local store here. Without a URI (a plain `pytest` on the
host) the metrics go to logs/metrics.json instead."""

import json
import os
from pathlib import Path
from typing import Dict, Optional


def log_metrics(metrics: Dict[str, float], step: Optional[int] = None) -> str:
    """Log `metrics` (name -> number); returns where they went, for messages."""
    values = {k: float(v) for k, v in metrics.items()}
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri:
        import mlflow  # the experiment's image has mlflow-skinny (docker/requirements.txt)

        mlflow.log_metrics(values, step=step)
        run = os.environ.get("MLFLOW_RUN_ID") or mlflow.active_run().info.run_id
        return f"MLflow run {run} ({uri})"
    folder = Path(os.environ.get("AMLOPS_LOG_DIR", "logs"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "metrics.json"
    logged = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    logged.update(values)
    path.write_text(json.dumps(logged, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return str(path)
