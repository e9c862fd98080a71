"""Metrics a local job hands to amlops instead of importing MLflow itself.

Importing MLflow costs a job 1-4 s of CPU (more in a container), on every run. A
local run that amlops tracks gets `AMLOPS_TRACKING_RELAY=1`; code that sees it (the
sample's `common/tracking.py`) may append its metrics as JSON lines to
`$AMLOPS_LOG_DIR/mlflow_metrics.jsonl`:

    {"metrics": {"accuracy": 0.9}, "step": 0, "timestamp": 1764600000000}

and amlops logs them into the run's MLflow run, through the same store it created
the run with, while the job runs (every RELAY_SECONDS, so a sweep's early
termination sees them) and once more when it ends. A script that calls `mlflow`
itself is unaffected: the run is its own as before. In Azure ML nothing sets the
variable, so the same code logs with MLflow there."""

import json
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from amlops.console import say
from amlops.errors import UserError

RELAY_VARIABLE = "AMLOPS_TRACKING_RELAY"
RELAY_FILE = "mlflow_metrics.jsonl"  # in the run's logs/ folder ($AMLOPS_LOG_DIR)
RELAY_SECONDS = 0.5


def parse_line(line: str) -> Optional[Tuple[Dict[str, float], int, Optional[int]]]:
    """(metrics, step, timestamp ms or None) of one relay line; None when it is not one
    (a line is skipped, never guessed at)."""
    try:
        entry = json.loads(line)
        metrics = {str(k): float(v) for k, v in entry["metrics"].items()}
        step = int(entry.get("step") or 0)
        stamp = entry.get("timestamp")
        return metrics, step, int(stamp) if stamp is not None else None
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


class MetricsRelay:
    """Moves a run's relayed metrics into its MLflow run (see the module docstring);
    `store` is a tracking Store. `pump()` is safe to call from several threads."""

    def __init__(self, store: Any, experiment_id: str, run_id: str, run_dir: Path) -> None:
        self.store = store
        self.experiment_id = experiment_id
        self.run_id = run_id
        self.path = run_dir / "logs" / RELAY_FILE
        self.offset = 0
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread: Optional[threading.Thread] = None
        self.failed = ""

    def pump(self) -> int:
        """Log the complete lines written since the last call; how many were logged."""
        with self.lock:
            if self.failed or not self.path.is_file():
                return 0
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
            end = chunk.rfind(b"\n") + 1  # a line still being written waits
            if not end:
                return 0
            self.offset += end
            entries: List[Tuple[Dict[str, float], int, Optional[int]]] = []
            for line in chunk[:end].decode("utf-8", "replace").splitlines():
                parsed = parse_line(line) if line.strip() else None
                if parsed:
                    entries.append(parsed)
            if entries:
                try:
                    self.store.log_metric_lines(self.experiment_id, self.run_id, entries)
                except UserError as err:
                    self.failed = str(err)
                    say(f"warning: could not log the run's relayed metrics in MLflow: {err}")
            return len(entries)

    def _loop(self) -> None:
        while not self.done.wait(RELAY_SECONDS):
            self.pump()

    def start(self) -> None:
        """Relay in a background thread until stop()."""
        self.thread = threading.Thread(target=self._loop, name="metrics-relay", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop the thread and relay what is left (call after the job has ended)."""
        self.done.set()
        if self.thread is not None:
            self.thread.join()
        self.pump()
