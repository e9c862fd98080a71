"""The tracking stores of local runs: MLflow's own file store, and MLflow's REST API.

`FileStore` is the project's store (`.runs/mlruns` unless MLFLOW_TRACKING_URI says
otherwise), written and read through MLflow's own `mlflow.store.tracking.file_store.
FileStore` (mlflow-skinny, a dependency of the project's tools). MLflow is imported
on the first operation that needs it, never on import of this module: commands that
track nothing (`--help`, validate, submit, TRACKING=0) do not pay its ~1-2 s import.

Why MLflow's file store and not its SQLite store (MLflow 3.7's default): the
experiments' images install `mlflow-skinny` (what Azure ML documents for jobs, with
azureml-mlflow), which has no SQLAlchemy and so cannot open `sqlite://` at all. The
file store is the one store a job can write with that package and no server: the
venv writes it directly and a container through a bind mount at the same absolute
path. MLflow 3 calls the file store "maintenance mode" and opens it only with
MLFLOW_ALLOW_FILE_STORE=true, which amlops sets for itself and for every run. A team
that wants SQLite (or any store) runs `mlflow server` and sets MLFLOW_TRACKING_URI.

What stays flat as the store grows (MLflow's file store scans every experiment to
find a run or an experiment by name): one store object per root per process
(`open_store`); experiment ids are cached per process, a new experiment gets an id
derived from its name (so the next process finds it with one stat: the same ids
amlops has always used), and a name not found there is looked up by reading only the
experiment folders this process has not read yet (so an experiment created by anyone
since is still found); the folder of each run this process touches is remembered.

Reads race writes: MLflow rewrites a run's or an experiment's meta.yaml in place
(`open(..., "w")`, not a rename), so another process (a sweep polling its trials,
`make runs` beside a running job) can read it empty. MLflow retries that for 0.3 s;
on a loaded machine the writer can be off the CPU longer, and MLflow then fails with
an AttributeError. `_reading` retries such a torn read for about 1.5 s more, then
treats the file as not there yet (a sweep polls again; a listing shows the run bare).

`RestStore` speaks MLflow's REST API (/api/2.0/mlflow/...) to an http(s) tracking
server, with the same authentication variables MLflow reads (MLFLOW_TRACKING_TOKEN,
MLFLOW_TRACKING_USERNAME/PASSWORD, MLFLOW_TRACKING_INSECURE_TLS,
MLFLOW_TRACKING_SERVER_CERT_PATH); it needs no MLflow on the host. Both raise
UserError (one line) on failure."""

import base64
import getpass
import hashlib
import json
import os
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Set,
    Tuple,
)

from amlops.diskspace import disk_full_error, is_disk_full
from amlops.errors import UserError

if TYPE_CHECKING:  # ssl and urllib.request load only for an MLflow server
    import ssl

DEFAULT_EXPERIMENT = "0"
UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")
# The host's MLflow (the baked pyproject's dependency, installed by make setup).
MLFLOW_PACKAGE = "mlflow-skinny"


# Relayed metrics (tracking/relay.py): name -> value, step, timestamp in ms (None: now).
MetricLine = Tuple[Dict[str, float], int, Optional[int]]


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

    def log_metric_lines(
        self, experiment_id: str, run_id: str, entries: Sequence[MetricLine]
    ) -> None:
        """Log (metrics, step, timestamp ms or None for now) entries, in order."""

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
    if os.name == "nt":
        from nturl2path import url2pathname  # what urllib.request uses there

        return Path(url2pathname(parsed.path)).resolve()
    # urllib.request's url2pathname on POSIX, without importing it (and http, email, ssl:
    # ~20 ms of every local run, which needs none of them)
    return Path(urllib.parse.unquote(parsed.path)).resolve()


def derived_experiment_id(name: str) -> str:
    """The id amlops gives a new experiment: a number from its name's SHA-256, so two
    processes creating it at once write the same folder, and any process finds it
    with one stat. (The ids amlops's stores have always had.)"""
    return str(int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:15], 16))


_ENV_LOCK = threading.Lock()
_MLFLOW_CLASS: List[Any] = []


def _mlflow_file_store_class() -> Any:
    """MLflow's FileStore, told where the runs of this process are (imported once).

    MLflow's file store finds a run by listing every experiment's folder
    (`_find_run_root`), on every call that names a run: O(store size) per call. The
    subclass answers from the folders it has created or been told about, and asks
    MLflow for anything else; an MLflow without those hooks just runs slower."""
    if _MLFLOW_CLASS:
        return _MLFLOW_CLASS[0]
    try:
        from mlflow.store.tracking.file_store import FileStore as MlflowFileStore
    except ImportError:
        raise UserError(
            f"tracking local runs needs MLflow ({MLFLOW_PACKAGE}), which this Python lacks:"
            " run make setup (or pip install mlflow-skinny), or turn tracking off with"
            " TRACKING=0"
        ) from None

    class KnownRunsStore(MlflowFileStore):  # type: ignore[misc, valid-type]
        def __init__(self, root_directory: str) -> None:
            self.run_roots: Dict[str, Tuple[str, str]] = {}
            super().__init__(root_directory)

        def know(self, experiment_id: str, run_id: str) -> None:
            folder = os.path.join(self.root_directory, str(experiment_id), run_id)
            self.run_roots.setdefault(run_id, (str(experiment_id), folder))

        def _get_run_dir(self, experiment_id: Any, run_uuid: str) -> Any:
            folder = super()._get_run_dir(experiment_id, run_uuid)
            if folder is not None:
                self.run_roots.setdefault(run_uuid, (str(experiment_id), folder))
            return folder

        def _find_run_root(self, run_uuid: str, *args: Any, **kwargs: Any) -> Any:
            known = self.run_roots.get(run_uuid)
            if known and os.path.isfile(os.path.join(known[1], "meta.yaml")):
                return known
            self.run_roots.pop(run_uuid, None)
            return super()._find_run_root(run_uuid, *args, **kwargs)

    _MLFLOW_CLASS.append(KnownRunsStore)
    return KnownRunsStore


class TornRead(UserError):
    """A meta.yaml read while another process was rewriting it (module docstring), or a
    file that stays unreadable: `cause` says what MLflow met (one line)."""

    cause = ""


def _size(path: Path) -> int:
    """The size of file `path`; 0 when it is missing or not a file."""
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0


class DamagedRun(UserError):
    """A run whose folder is in the store but whose files MLflow cannot read (a garbled
    or non-UTF-8 meta.yaml, param or metric file): `folder` and `why` (one line)."""

    def __init__(self, folder: Path, why: str) -> None:
        super().__init__(f"{folder}: {why}")
        self.folder, self.why = folder, why


# What MLflow's readers raise on a meta.yaml that is empty or half written.
TORN_READ_ERRORS = (AttributeError, TypeError, KeyError, ValueError)
TORN_READ_WAITS_S = (0.2, 0.5, 0.8)


class FileStore:
    """An MLflow file store under `root`, through MLflow's own code (module docstring).

    Thread-safe: a pipeline's steps share one object. Raises UserError when MLflow is
    missing or refuses an operation (one line, MLflow's own message)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.uri = self.root.as_uri()
        self._store: Any = None
        self._lock = threading.RLock()
        self._experiments: Dict[str, str] = {}  # name -> id, this process
        self._read: Set[str] = set()  # experiment folders whose meta.yaml was read

    @property
    def mlflow(self) -> Any:
        """MLflow's store object (MLflow imported, the root made, on first use)."""
        with self._lock:
            if self._store is None:
                cls = _mlflow_file_store_class()
                with _ENV_LOCK:  # MLflow 3 reads this variable in FileStore.__init__
                    before = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
                    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
                    try:
                        self._store = self._call(cls, str(self.root))
                    finally:
                        if before is None:
                            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
                        else:
                            os.environ["MLFLOW_ALLOW_FILE_STORE"] = before
            return self._store

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """Call MLflow; its errors (and a full disk) become one-line UserErrors."""
        from mlflow.exceptions import MlflowException

        try:
            return method(*args, **kwargs)
        except MlflowException as err:
            cause = err.__cause__ or err.__context__
            if cause is not None and is_disk_full(cause):
                raise disk_full_error(cause, self.root) from None
            message = str(err.message if hasattr(err, "message") else err).splitlines()
            raise UserError(f"MLflow store {self.root}: {message[0] if message else err}") from None
        except OSError as err:
            if is_disk_full(err):
                raise disk_full_error(err, self.root) from None
            raise UserError(f"MLflow store {self.root}: {err.strerror or err}") from None

    def _reading(self, method: Any, *args: Any) -> Any:
        """`_call` for a read that may meet a meta.yaml being rewritten (empty: MLflow
        raises one of TORN_READ_ERRORS; half written: yaml.YAMLError): retried after
        each of TORN_READ_WAITS_S, then TornRead. Other errors as `_call`."""
        import yaml

        torn = (yaml.YAMLError,) + TORN_READ_ERRORS
        for wait in TORN_READ_WAITS_S:
            try:
                return self._call(method, *args)
            except torn:
                time.sleep(wait)
        try:
            return self._call(method, *args)
        except torn as err:
            message = f"MLflow store {self.root}: a meta.yaml is being written ({err})"
            torn_read = TornRead(message)
            torn_read.cause = (
                "not UTF-8"
                if isinstance(err, UnicodeDecodeError)
                else f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            )
            raise torn_read from None

    # experiments -------------------------------------------------------------

    def _active_name(self, experiment_id: str) -> Optional[str]:
        """The name of active experiment `experiment_id` (MLflow reads its meta.yaml)."""
        if not (self.root / experiment_id / "meta.yaml").is_file():
            return None  # not (yet) an experiment: looked at again next time
        self._read.add(experiment_id)
        try:
            experiment = self._reading(self.mlflow.get_experiment, experiment_id)
        except TornRead:
            self._read.discard(experiment_id)  # read again next time
            return None
        except UserError:
            return None  # a damaged or foreign folder is not an experiment of ours
        if experiment is None or experiment.lifecycle_stage != "active":
            return None
        self._experiments.setdefault(experiment.name, experiment_id)
        return str(experiment.name)

    def find_experiment(self, name: str) -> Optional[str]:
        """The id of the active experiment called `name`, or None. Reads at most the
        folder of its derived id and the folders not read before by this object."""
        with self._lock:
            if name in self._experiments:
                return self._experiments[name]
            if not self.root.is_dir():
                return None
            derived = derived_experiment_id(name)
            if derived not in self._read and self._active_name(derived) == name:
                return derived
            for entry in sorted(os.listdir(self.root)):
                if entry.startswith(".") or entry in self._read:
                    continue
                if (self.root / entry).is_dir():
                    self._active_name(entry)
            return self._experiments.get(name)

    def experiment_id(self, name: str) -> str:
        """Find or create experiment `name` (a new one gets its derived id; on a clash
        with another name, MLflow picks one)."""
        with self._lock:
            store = self.mlflow  # makes the root and the Default experiment
            found = self.find_experiment(name)
            if found is not None:
                return found
            experiment_id = derived_experiment_id(name)
            if (self.root / experiment_id).exists():  # a clash, or a deleted experiment
                experiment_id = str(self._call(store.create_experiment, name))
            else:
                try:
                    self._call(store._create_experiment_with_id, name, experiment_id, None, None)
                except Exception:  # MLflow 3 raises a bare Exception
                    # ("Yaml file ... exists") when another process made it meanwhile:
                    # the same id, the same content
                    if self._active_name(experiment_id) != name:
                        raise
            self._read.add(experiment_id)
            self._experiments[name] = experiment_id
            return experiment_id

    # runs --------------------------------------------------------------------

    def _known(self, experiment_id: str, run_id: str) -> Any:
        store = self.mlflow
        if experiment_id and hasattr(store, "know"):
            store.know(experiment_id, run_id)
        return store

    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> str:
        from mlflow.entities import Param, RunTag

        store = self.mlflow
        run = self._call(
            store.create_run,
            experiment_id=experiment_id,
            user_id=user_name(),
            start_time=now_ms(),
            tags=[RunTag("mlflow.runName", run_name)],
            run_name=run_name,
        )
        run_id = run.info.run_id
        batch_params = [Param(safe_key(k), str(v)) for k, v in params.items()]
        batch_tags = [RunTag(safe_key(k), str(v)) for k, v in tags.items()]
        self._call(store.log_batch, run_id, metrics=[], params=batch_params, tags=batch_tags)
        return str(run_id)

    def set_tags(self, experiment_id: str, run_id: str, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        batch = [RunTag(safe_key(k), str(v)) for k, v in tags.items()]
        store = self._known(experiment_id, run_id)
        self._call(store.log_batch, run_id, metrics=[], params=[], tags=batch)

    def finish_run(self, experiment_id: str, run_id: str, status: str) -> None:
        from mlflow.entities import RunStatus

        store = self._known(experiment_id, run_id)
        self._call(store.update_run_info, run_id, RunStatus.from_string(status), now_ms(), None)

    def log_metrics(self, experiment_id: str, run_id: str, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        stamp = now_ms()
        batch = [Metric(safe_key(k), float(v), stamp, 0) for k, v in metrics.items()]
        store = self._known(experiment_id, run_id)
        self._call(store.log_batch, run_id, metrics=batch, params=[], tags=[])

    def log_metric_lines(
        self, experiment_id: str, run_id: str, entries: Sequence[MetricLine]
    ) -> None:
        from mlflow.entities import Metric

        stamp = now_ms()
        batch = [
            Metric(safe_key(k), float(v), when or stamp, step)
            for metrics, step, when in entries
            for k, v in metrics.items()
        ]
        store = self._known(experiment_id, run_id)
        for start in range(0, len(batch), 1000):  # MLflow's log_batch limit
            self._call(
                store.log_batch, run_id, metrics=batch[start : start + 1000], params=[], tags=[]
            )

    def metric_history(self, experiment_id: str, run_id: str, key: str) -> List[float]:
        store = self._known(experiment_id, run_id)
        try:
            history = self._reading(store.get_metric_history, run_id, safe_key(key))
        except UserError:
            return []
        return [float(metric.value) for metric in history]

    def run_data(self, experiment_id: str, run_id: str) -> RunData:
        """As Store.run_data; DamagedRun when the run's folder is there but MLflow cannot
        read it (after the retries a torn read gets), so a reader can say so. An empty
        meta.yaml is a run whose writer has not written it yet: empty RunData."""
        store = self._known(experiment_id, run_id)
        try:
            run = self._reading(store.get_run, run_id)
        except UserError as err:
            folders = [self.root / experiment_id / run_id] if experiment_id else []
            folders += list(self.root.glob(f"*/{run_id}")) if run_id.isalnum() else []
            folder = next((f for f in folders if _size(f / "meta.yaml")), None)
            if folder is None:
                return RunData()  # not in this store (removed, another store's) or not yet
            why = getattr(err, "cause", "") or str(err).split(": ", 1)[-1].split(". ", 1)[0]
            raise DamagedRun(folder, why[:160]) from None
        return RunData(
            params=dict(run.data.params),
            metrics={k: float(v) for k, v in run.data.metrics.items()},
            tags=dict(run.data.tags),
            status=str(run.info.status),
            start_ms=run.info.start_time,
            end_ms=run.info.end_time,
        )


def _rest_ssl(env: Mapping[str, str]) -> Optional["ssl.SSLContext"]:
    import ssl

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
        # here, not at the top: only a server needs them (http, email, ssl: ~20 ms a run)
        import urllib.error
        import urllib.request

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

    def log_metric_lines(
        self, experiment_id: str, run_id: str, entries: Sequence[MetricLine]
    ) -> None:
        stamp = now_ms()
        batch = [
            {"key": safe_key(k), "value": float(v), "timestamp": when or stamp, "step": step}
            for metrics, step, when in entries
            for k, v in metrics.items()
        ]
        for start in range(0, len(batch), 1000):
            chunk = batch[start : start + 1000]
            self._call("POST", "runs/log-batch", {"run_id": run_id, "metrics": chunk})

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


_FILE_STORES: Dict[Path, FileStore] = {}
_STORES_LOCK = threading.Lock()


def open_store(uri: str, env: Mapping[str, str]) -> Optional[Store]:
    """The store behind a tracking URI amlops can write (file or http(s)), else None.
    A file store is one object per folder per process (its caches are shared)."""
    scheme = urllib.parse.urlparse(uri).scheme.lower()
    if scheme in ("http", "https"):
        return RestStore(uri, env)
    if scheme == "file" or (not scheme and uri) or (len(scheme) == 1 and os.name == "nt"):
        root = file_uri_path(uri)
        with _STORES_LOCK:
            if root not in _FILE_STORES:
                _FILE_STORES[root] = FileStore(root)
            return _FILE_STORES[root]
    return None
