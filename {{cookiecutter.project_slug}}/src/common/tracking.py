"""Log metrics with MLflow wherever a tracking URI is set, else to the run's logs folder.

Azure ML sets MLFLOW_TRACKING_URI (and the run) for every job, and `make local`
sets them for every local run (the project's store in .runs/mlruns, or your own
server from MLFLOW_TRACKING_URI in .env), so the same call logs to the workspace
in the cloud and to the local store here. Without a URI (a plain `pytest` on the
host, or TRACKING=0) the metrics go to logs/metrics.json instead.

A local run that amlops tracks also gets AMLOPS_TRACKING_RELAY=1: the metrics are
then appended to $AMLOPS_LOG_DIR/mlflow_metrics.jsonl and amlops logs them into the
same MLflow run as the job goes, so the job does not pay MLflow's import (1-4 s of
CPU on every run; see amlops/tracking/relay.py). `mlflow.log_metric(...)` called
directly works as well, locally and in Azure ML."""

import json
import os
import time
from pathlib import Path
from typing import Dict, Optional


def log_metrics(metrics: Dict[str, float], step: Optional[int] = None) -> str:
    """Log `metrics` (name -> number); returns where they went, for messages."""
    values = {k: float(v) for k, v in metrics.items()}
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    run = os.environ.get("MLFLOW_RUN_ID", "")
    relay = os.environ.get("AMLOPS_TRACKING_RELAY") == "1" and os.environ.get("AMLOPS_LOG_DIR")
    if uri and run and relay:
        line = {"metrics": values, "step": step or 0, "timestamp": int(time.time() * 1000)}
        with open(Path(relay) / "mlflow_metrics.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
        return f"MLflow run {run} ({uri})"
    if uri:
        import mlflow  # the experiment's image has mlflow-skinny (docker/requirements.txt)

        mlflow.log_metrics(values, step=step)
        run = run or mlflow.active_run().info.run_id
        return f"MLflow run {run} ({uri})"
    folder = Path(os.environ.get("AMLOPS_LOG_DIR", "logs"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "metrics.json"
    logged = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    logged.update(values)
    path.write_text(json.dumps(logged, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return str(path)
