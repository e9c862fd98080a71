"""MLflow tracking stores amlops writes and reads without importing MLflow.

`FileStore` writes MLflow's file store layout (the one `mlflow.store.tracking.
file_store.FileStore` reads and writes, unchanged since MLflow 1.x):

    <root>/<experiment id>/meta.yaml            name, artifact_location, ...
    <root>/<experiment id>/<run id>/meta.yaml   run_name, status (1 RUNNING, 3 FINISHED,
                                                4 FAILED, 5 KILLED), start/end_time (ms)
    <root>/<experiment id>/<run id>/params/<key>    the value
    <root>/<experiment id>/<run id>/tags/<key>      the value
    <root>/<experiment id>/<run id>/metrics/<key>   one "timestamp value step" line per log

`RestStore` speaks MLflow's REST API (/api/2.0/mlflow/...) to an http(s) tracking
server, with the same authentication variables MLflow reads (MLFLOW_TRACKING_TOKEN,
MLFLOW_TRACKING_USERNAME/PASSWORD, MLFLOW_TRACKING_INSECURE_TLS,
MLFLOW_TRACKING_SERVER_CERT_PATH). Both raise UserError (one line) on failure."""

import base64
import getpass
import hashlib
import json
import os
import re
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Protocol

import yaml

from amlops.errors import UserError

# MLflow's RunStatus numbers, as its file store keeps them in meta.yaml.
STATUS_NUMBERS = {"RUNNING": 1, "SCHEDULED": 2, "FINISHED": 3, "FAILED": 4, "KILLED": 5}
STATUS_NAMES = {number: name for name, number in STATUS_NUMBERS.items()}
SOURCE_LOCAL = 4  # MLflow's SourceType.LOCAL
DEFAULT_EXPERIMENT = "0"
UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")


def now_ms() -> int:
    return int(time.time() * 1000)


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class RunData:
    """What a store holds for one run: params and tags (text), the latest value of each
    metric, its status (RUNNING, FINISHED, FAILED, KILLED) and times (ms since epoch)."""

    params: Dict[str, str] = field(default_factory=dict)
    metrics: Dict[str, float] = field(default_factory=dict)
    tags: Dict[str, str] = field(default_factory=dict)
    status: str = ""
    start_ms: Optional[int] = None
    end_ms: Optional[int] = None


class Store(Protocol):
    """The operations local runs and sweeps need from a tracking store."""

    uri: str

    def experiment_id(self, name: str) -> str:
        """The id of the active experiment `name`, created when missing."""

    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> str:
        """A new RUNNING run with these params and tags; its run id."""

    def finish_run(self, experiment_id: str, run_id: str, status: str) -> None:
        """Set the run's final status (FINISHED, FAILED or KILLED) and end time."""

    def log_metrics(self, experiment_id: str, run_id: str, metrics: Mapping[str, float]) -> None:
        """Log one value of each metric (step 0, now)."""

    def set_tags(self, experiment_id: str, run_id: str, tags: Mapping[str, str]) -> None:
        """Set (or replace) tags of a run."""

    def run_data(self, experiment_id: str, run_id: str) -> RunData:
        """Params, latest metrics, tags and status of a run (empty RunData if unknown)."""

    def metric_history(self, experiment_id: str, run_id: str, key: str) -> List[float]:
        """Every value logged for `key`, in the order it was logged."""


def safe_key(key: str) -> str:
    """A param/tag/metric key MLflow accepts (letters, digits, _ - . / and space)."""
    return UNSAFE_KEY.sub("_", str(key)).strip("/") or "_"


def file_uri_path(uri: str) -> Path:
    """The local folder of a `file:` URI (or of a plain path)."""
    if not uri.startswith("file:"):
        return Path(uri).expanduser().resolve()
    parsed = urllib.parse.urlparse(uri)
    return Path(urllib.request.url2pathname(parsed.path)).resolve()


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_yaml(path: Path) -> Dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_yaml(path: Path, data: Dict[str, Any]) -> None:
    _write_atomic(path, yaml.safe_dump(data, default_flow_style=False, sort_keys=True))


class FileStore:
    """MLflow's file store layout under `root` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.uri = self.root.as_uri()
        self._experiments: Dict[str, str] = {}

    def _ensure_root(self) -> None:
        """The root with `.trash` and MLflow's Default experiment, as MLflow makes them."""
        (self.root / ".trash").mkdir(parents=True, exist_ok=True)
        default = self.root / DEFAULT_EXPERIMENT / "meta.yaml"
        if not default.is_file():
            self._write_experiment(DEFAULT_EXPERIMENT, "Default")

    def _write_experiment(self, experiment_id: str, name: str) -> None:
        created = now_ms()
        meta = {
            "artifact_location": (self.root / experiment_id).as_uri(),
            "creation_time": created,
            "experiment_id": experiment_id,
            "last_update_time": created,
            "lifecycle_stage": "active",
            "name": name,
        }
        _write_yaml(self.root / experiment_id / "meta.yaml", meta)

    def find_experiment(self, name: str) -> Optional[str]:
        """The id of the active experiment called `name`, or None."""
        if name in self._experiments:
            return self._experiments[name]
        if not self.root.is_dir():
            return None
        for meta_file in sorted(self.root.glob("*/meta.yaml")):
            meta = _read_yaml(meta_file)
            if meta.get("name") == name and meta.get("lifecycle_stage", "active") == "active":
                self._experiments[name] = str(meta.get("experiment_id", meta_file.parent.name))
                return self._experiments[name]
        return None

    def experiment_id(self, name: str) -> str:
        """Find or create experiment `name`. A new experiment's id is derived from its name,
        so two runs creating it at once write the same folder with the same content."""
        self._ensure_root()
        found = self.find_experiment(name)
        if found is not None:
            return found
        digest = int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:15], 16)
        experiment_id = str(digest)
        existing = _read_yaml(self.root / experiment_id / "meta.yaml")
        if existing and existing.get("name") != name:  # a hash clash: take a random id
            experiment_id = str(uuid.uuid4().int % 10**18)
        if not existing:
            self._write_experiment(experiment_id, name)
        self._experiments[name] = experiment_id
        return experiment_id

    def _run_dir(self, experiment_id: str, run_id: str) -> Path:
        return self.root / experiment_id / run_id

    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> str:
        run_id = uuid.uuid4().hex
        folder = self._run_dir(experiment_id, run_id)
        for sub in ("artifacts", "metrics", "params", "tags"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        meta = {
            "artifact_uri": (folder / "artifacts").as_uri(),
            "deleted_time": None,
            "end_time": None,
            "entry_point_name": "",
            "experiment_id": experiment_id,
            "lifecycle_stage": "active",
            "run_id": run_id,
            "run_name": run_name,
            "run_uuid": run_id,
            "source_name": "",
            "source_type": SOURCE_LOCAL,
            "source_version": "",
            "start_time": now_ms(),
            "status": STATUS_NUMBERS["RUNNING"],
            "tags": [],
            "user_id": user_name(),
        }
        _write_yaml(folder / "meta.yaml", meta)
        for key, value in params.items():
            _write_atomic(folder / "params" / safe_key(key), str(value))
        self.set_tags(experiment_id, run_id, {"mlflow.runName": run_name, **tags})
        return run_id

    def set_tags(self, experiment_id: str, run_id: str, tags: Mapping[str, str]) -> None:
        folder = self._run_dir(experiment_id, run_id) / "tags"
        for key, value in tags.items():
            _write_atomic(folder / safe_key(key), str(value))

    def finish_run(self, experiment_id: str, run_id: str, status: str) -> None:
        meta_file = self._run_dir(experiment_id, run_id) / "meta.yaml"
        meta = _read_yaml(meta_file)
        if not meta:
            return
        meta["status"] = STATUS_NUMBERS[status]
        meta["end_time"] = now_ms()
        _write_yaml(meta_file, meta)

    def log_metrics(self, experiment_id: str, run_id: str, metrics: Mapping[str, float]) -> None:
        folder = self._run_dir(experiment_id, run_id) / "metrics"
        stamp = now_ms()
        for key, value in metrics.items():
            path = folder / safe_key(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as out:
                out.write(f"{stamp} {float(value)} 0\n")

    def metric_history(self, experiment_id: str, run_id: str, key: str) -> List[float]:
        path = self._run_dir(experiment_id, run_id) / "metrics" / safe_key(key)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        values = []
        for line in lines:
            parts = line.split()
            if len(parts) >= 2:
                try:
                    values.append(float(parts[1]))
                except ValueError:
                    continue
        return values

    def _texts(self, folder: Path) -> Dict[str, str]:
        found: Dict[str, str] = {}
        if not folder.is_dir():
            return found
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                try:
                    found[path.relative_to(folder).as_posix()] = path.read_text(encoding="utf-8")
                except OSError:
                    continue
        return found

    def run_data(self, experiment_id: str, run_id: str) -> RunData:
        folder = self._run_dir(experiment_id, run_id)
        meta = _read_yaml(folder / "meta.yaml")
        if not meta:
            return RunData()
        metrics: Dict[str, float] = {}
        metrics_dir = folder / "metrics"
        if metrics_dir.is_dir():
            for path in sorted(metrics_dir.rglob("*")):
                if path.is_file():
                    key = path.relative_to(metrics_dir).as_posix()
                    history = self.metric_history(experiment_id, run_id, key)
                    if history:
                        metrics[key] = history[-1]
        status = meta.get("status", STATUS_NUMBERS["RUNNING"])
        return RunData(
            params=self._texts(folder / "params"),
            metrics=metrics,
            tags=self._texts(folder / "tags"),
            status=STATUS_NAMES.get(status, str(status)),
            start_ms=meta.get("start_time"),
            end_ms=meta.get("end_time"),
        )


def _rest_ssl(env: Mapping[str, str]) -> Optional[ssl.SSLContext]:
    if env.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
        return ssl._create_unverified_context()  # noqa: S323 - the user asked for it
    if env.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
        return ssl.create_default_context(cafile=env["MLFLOW_TRACKING_SERVER_CERT_PATH"])
    return None


class RestStore:
    """An MLflow tracking server, through its REST API (see the module docstring)."""

    def __init__(self, uri: str, env: Mapping[str, str], timeout: float = 15.0) -> None:
        self.uri = uri.rstrip("/")
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json"}
        if env.get("MLFLOW_TRACKING_TOKEN"):
            self.headers["Authorization"] = f"Bearer {env['MLFLOW_TRACKING_TOKEN']}"
        elif env.get("MLFLOW_TRACKING_USERNAME"):
            pair = f"{env['MLFLOW_TRACKING_USERNAME']}:{env.get('MLFLOW_TRACKING_PASSWORD', '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        self.ssl = _rest_ssl(env)

    def _call(self, method: str, endpoint: str, body: Optional[Dict[str, Any]] = None) -> Any:
        url = f"{self.uri}/api/2.0/mlflow/{endpoint}"
        data = None
        if method == "GET" and body:
            url += "?" + urllib.parse.urlencode(body)
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(  # noqa: S310 - the user's own tracking server
                request, timeout=self.timeout, context=self.ssl
            ) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")
            try:
                code = json.loads(detail).get("error_code", "")
            except ValueError:
                code = ""
            if code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise UserError(
                f"MLflow server {self.uri}: {endpoint} answered HTTP {err.code}"
                f" {detail.strip()[:200]}"
            ) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise UserError(
                f"MLFLOW_TRACKING_URI={self.uri}: cannot reach the MLflow server ({reason});"
                " start it, or unset MLFLOW_TRACKING_URI to track in .runs/mlruns"
            ) from None

    def experiment_id(self, name: str) -> str:
        found = self._call("GET", "experiments/get-by-name", {"experiment_name": name})
        if found and found.get("experiment"):
            return str(found["experiment"]["experiment_id"])
        created = self._call("POST", "experiments/create", {"name": name})
        if created is None:  # created meanwhile by another run
            found = self._call("GET", "experiments/get-by-name", {"experiment_name": name})
            return str(found["experiment"]["experiment_id"])
        return str(created["experiment_id"])

    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> str:
        body = {
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time": now_ms(),
            "user_id": user_name(),
            "tags": [{"key": "mlflow.runName", "value": run_name}]
            + [{"key": safe_key(k), "value": str(v)} for k, v in tags.items()],
        }
        run_id = str(self._call("POST", "runs/create", body)["run"]["info"]["run_id"])
        if params:
            batch = [{"key": safe_key(k), "value": str(v)} for k, v in params.items()]
            self._call("POST", "runs/log-batch", {"run_id": run_id, "params": batch})
        return run_id

    def set_tags(self, experiment_id: str, run_id: str, tags: Mapping[str, str]) -> None:
        batch = [{"key": safe_key(k), "value": str(v)} for k, v in tags.items()]
        self._call("POST", "runs/log-batch", {"run_id": run_id, "tags": batch})

    def finish_run(self, experiment_id: str, run_id: str, status: str) -> None:
        self._call(
            "POST", "runs/update", {"run_id": run_id, "status": status, "end_time": now_ms()}
        )

    def log_metrics(self, experiment_id: str, run_id: str, metrics: Mapping[str, float]) -> None:
        stamp = now_ms()
        batch = [
            {"key": safe_key(k), "value": float(v), "timestamp": stamp, "step": 0}
            for k, v in metrics.items()
        ]
        self._call("POST", "runs/log-batch", {"run_id": run_id, "metrics": batch})

    def metric_history(self, experiment_id: str, run_id: str, key: str) -> List[float]:
        found = self._call("GET", "metrics/get-history", {"run_id": run_id, "metric_key": key})
        metrics = (found or {}).get("metrics", [])
        return [float(m["value"]) for m in metrics]

    def run_data(self, experiment_id: str, run_id: str) -> RunData:
        found = self._call("GET", "runs/get", {"run_id": run_id})
        if not found:
            return RunData()
        info, data = found["run"]["info"], found["run"].get("data", {})
        return RunData(
            params={p["key"]: p["value"] for p in data.get("params", [])},
            metrics={m["key"]: float(m["value"]) for m in data.get("metrics", [])},
            tags={t["key"]: t["value"] for t in data.get("tags", [])},
            status=str(info.get("status", "")),
            start_ms=int(info["start_time"]) if info.get("start_time") else None,
            end_ms=int(info["end_time"]) if info.get("end_time") else None,
        )


def open_store(uri: str, env: Mapping[str, str]) -> Optional[Store]:
    """The store behind a tracking URI amlops can write (file or http(s)), else None."""
    scheme = urllib.parse.urlparse(uri).scheme.lower()
    if scheme in ("http", "https"):
        return RestStore(uri, env)
    if scheme == "file" or (not scheme and uri) or (len(scheme) == 1 and os.name == "nt"):
        return FileStore(file_uri_path(uri))
    return None
