"""A fake Azure ML service for tests of `make job/pipeline/step/validate` (no network).

install() patches, in the process under test:
- azure.identity's credentials -> a fake one returning a JWT-shaped token
  (aud https://ml.azure.com, which pipeline submission decodes), or failing to
  log in when the scenario has `nologin`;
- azure.ai.ml.MLClient -> built with transport=RequestsTransport(session) whose
  adapter answers every REST call (ARM, discovery, run history, log files) and
  records it;
- BlobStorageClient.upload -> records the files the SDK would upload.
Records go to $AMLOPS_FAKE_AZURE/requests.jsonl and uploads.jsonl.

AMLOPS_FAKE_AZURE_SCENARIO is a comma-separated list of: nologin, put401,
put404, put409, put500once, put500always (for the job PUT), job_failed, job_running,
job_running_forever (with job_running: it never completes),
missing_compute (GET compute 404). AMLOPS_FAKE_AZURE_CHILDREN is a JSON object
step -> child job name for run-history children of any pipeline job.
AMLOPS_FAKE_AZURE_SCORING_URI: the scoringUri of online endpoints (a test's own server;
listKeys answers ENDPOINT_KEY)."""

import base64
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, Tuple

LOG_URL = "https://acct.blob.core.windows.net/logs/std_log.txt?sig=s"
FINALIZING = "The activity completed successfully. Finalizing run...\n"
RUNNING_POLLS = 2  # scenario job_running: run details say Running this many times first
REGION_API = "https://westeurope.api.azureml.ms"
ENDPOINT_KEY = "fake-endpoint-key"  # what listKeys answers for any online endpoint


def _still_running(details_calls: int, scenario: set) -> bool:
    return "job_running_forever" in scenario or details_calls <= RUNNING_POLLS


def _folder() -> Path:
    return Path(os.environ["AMLOPS_FAKE_AZURE"])


def _scenario() -> set:
    return set(filter(None, os.environ.get("AMLOPS_FAKE_AZURE_SCENARIO", "").split(",")))


def _append(name: str, record: Dict[str, Any]) -> None:
    _folder().mkdir(parents=True, exist_ok=True)
    with open(_folder() / name, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


def fake_jwt() -> str:
    def part(data: Dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"aud": "https://ml.azure.com", "oid": "0000", "tid": "tenant", "exp": 4102444800}
    return part({"alg": "none", "typ": "JWT"}) + "." + part(claims) + ".c2ln"


class FakeCredential:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken
        from azure.core.exceptions import ClientAuthenticationError

        if "nologin" in _scenario():
            raise ClientAuthenticationError(
                "DefaultAzureCredential failed to retrieve a token from the included credentials."
                "\nAttempted credentials:\n\tEnvironmentCredential: missing variables"
            )
        return AccessToken(fake_jwt(), int(time.time()) + 3600)

    def close(self) -> None:
        pass


class Service:
    """Answers by method and path; remembers PUT bodies so later GETs return them
    (across processes too when AMLOPS_FAKE_AZURE_STATE names a JSON file)."""

    def __init__(self) -> None:
        self.state = os.environ.get("AMLOPS_FAKE_AZURE_STATE")
        self.stored: Dict[str, Dict[str, Any]] = {}
        if self.state and Path(self.state).is_file():
            self.stored = json.loads(Path(self.state).read_text(encoding="utf-8"))
        self.job_puts = 0
        self.details_calls = 0

    def answer(self, method: str, url: str, body: Any) -> Tuple[int, Any]:
        scenario = _scenario()
        path = url.split("?")[0]
        if path.endswith("/discovery"):
            return 200, {"api": REGION_API, "history": REGION_API, "catalog": REGION_API}
        if path.startswith("https://acct.blob.core.windows.net/logs/"):
            if "job_running" in scenario:  # the log grows while the job runs
                done = not _still_running(self.details_calls, scenario)
                return 200, "epoch 1\n" + ("epoch 2\n" + FINALIZING if done else "")
            return 200, "training...\n" + FINALIZING
        short = (
            path.split("/workspaces/", 1)[-1].split("/", 1)[-1] if "/workspaces/" in path else ""
        )
        if "/workspaces/" in path and short == path.split("/workspaces/", 1)[-1]:
            short = ""
        if "/history/" in path:
            return self.history(short, scenario)
        if method == "GET" and short == "":
            return 200, {
                "id": path.split("management.azure.com")[-1],
                "name": "ws",
                "location": "westeurope",
                "properties": {"discoveryUrl": REGION_API + "/discovery"},
            }
        if short.startswith("jobs/") and method == "PUT":
            return self.put_job(path, short, body, scenario)
        if short.startswith("jobs/") and method == "GET":
            return self.get_job(path, short, scenario)
        if short.startswith("computes/") and method == "GET":
            if "missing_compute" in scenario:
                return 404, {"error": {"code": "NotFound", "message": f"{short} not found"}}
            name = short.split("/")[1]
            return 200, {
                "id": path.split(".com")[-1],
                "name": name,
                "location": "westeurope",
                "properties": {"computeType": "AmlCompute", "properties": {}},
            }
        if method == "GET" and short in self.stored:
            return 200, self.stored[short]
        if short.endswith(("/versions", "/deployments")) and method == "GET":
            prefix = short + "/"
            return 200, {"value": [v for k, v in self.stored.items() if k.startswith(prefix)]}
        if short == "datastores" and method == "GET":  # the default datastore
            return 200, {"value": [_datastore(path + "/workspaceblobstore")]}
        if short.startswith("datastores/") and "/" not in short[11:] and method == "GET":
            return 200, _datastore(path)
        if short.startswith("onlineEndpoints/") and short.endswith("/listKeys"):
            return 200, {"primaryKey": ENDPOINT_KEY, "secondaryKey": ENDPOINT_KEY + "-2"}
        if short.endswith("/listSecrets"):
            return 200, {"secretsType": "AccountKey", "key": _blob_key()}
        if short.endswith("/startPendingUpload"):
            return 200, {
                "blobReferenceForConsumption": {
                    "blobUri": "https://acct.blob.core.windows.net/cont/LocalUpload/x",
                    "credential": {
                        "credentialType": "SAS",
                        "sasUri": "https://acct.blob.core.windows.net/cont/LocalUpload/x?sig=s",
                    },
                },
                "pendingUploadType": "TemporaryBlobReference",
            }
        if method == "PUT":
            return 201, self.echo(path, short, body)
        return 404, {"error": {"code": "NotFound", "message": f"{short} not found"}}

    def echo(self, path: str, short: str, body: Any) -> Dict[str, Any]:
        answer = json.loads(json.dumps(body or {}))
        answer["id"] = path.split("management.azure.com")[-1]
        answer["name"] = short.split("/")[-1]
        if short.startswith("models/") and "/versions/" in short:
            answer.setdefault("properties", {}).setdefault("flavors", {})  # as the service
        if short.startswith(("batchEndpoints/", "schedules/", "onlineEndpoints/")):
            answer.setdefault("properties", {})["provisioningState"] = "Succeeded"
        if short.startswith("onlineEndpoints/") and "/deployments/" in short:
            answer["properties"].setdefault("scaleSettings", {"scaleType": "Default"})
        if short.startswith("onlineEndpoints/") and "/deployments/" not in short:
            answer["properties"]["scoringUri"] = os.environ.get(
                "AMLOPS_FAKE_AZURE_SCORING_URI",
                f"https://{answer['name']}.westeurope.inference.ml.azure.com/score",
            )
        if short.startswith("batchEndpoints/") and "/deployments/" not in short:
            answer["properties"][
                "scoringUri"
            ] = f"https://{answer['name']}.westeurope.inference.ml.azure.com/jobs"
        self.stored[short] = answer
        if self.state:
            Path(self.state).write_text(json.dumps(self.stored), encoding="utf-8")
        return answer

    def put_job(self, path: str, short: str, body: Any, scenario: set) -> Tuple[int, Any]:
        self.job_puts += 1
        errors = {
            "put401": (401, "AuthenticationFailed", "The access token is invalid."),
            "put404": (404, "NotFound", "Compute cpu-cluster not found in workspace ws."),
            "put409": (409, "Conflict", "A job with this name already exists."),
            "put500always": (500, "InternalServerError", "Something went wrong."),
        }
        for flag, (status, code, message) in errors.items():
            if flag in scenario:
                return status, {"error": {"code": code, "message": message}}
        if "put500once" in scenario and self.job_puts == 1:
            return 500, {"error": {"code": "InternalServerError", "message": "Try again."}}
        answer = self.echo(path, short, body)
        answer["properties"]["status"] = "Running"
        answer["properties"]["services"] = {
            "Studio": {"endpoint": f"https://ml.azure.com/runs/{answer['name']}?wsid=fake"}
        }
        return 201, answer

    def get_job(self, path: str, short: str, scenario: set) -> Tuple[int, Any]:
        stored = self.stored.get(short)
        if stored is None:  # a pipeline job submitted by an earlier process
            stored = {
                "id": path.split("management.azure.com")[-1],
                "name": short.split("/")[-1],
                "properties": {
                    "jobType": "Pipeline",
                    "experimentName": "e",
                    "jobs": {},
                    "inputs": {},
                    "outputs": {},
                    "settings": {},
                    "services": {},
                },
            }
        stored = json.loads(json.dumps(stored))
        stored["properties"]["status"] = "Failed" if "job_failed" in scenario else "Completed"
        if "job_running" in scenario and _still_running(self.details_calls, scenario):
            stored["properties"]["status"] = "Running"
        return 200, stored

    def history(self, short: str, scenario: set) -> Tuple[int, Any]:
        if short.endswith("/children"):
            children = json.loads(os.environ.get("AMLOPS_FAKE_AZURE_CHILDREN", "{}"))
            return 200, {
                "value": [
                    {
                        "runId": child,
                        "displayName": step,
                        "status": "Completed",
                        "properties": {},
                        "tags": {},
                        "runType": "azureml.StepRun",
                    }
                    for step, child in children.items()
                ]
            }
        if short.endswith("/details"):
            self.details_calls += 1
            status = "Failed" if "job_failed" in scenario else "Completed"
            if "job_running" in scenario and _still_running(self.details_calls, scenario):
                status = "Running"
            details = {
                "runId": short.split("/")[-2],
                "status": status,
                "logFiles": {"user_logs/std_log.txt": LOG_URL},
            }
            if status == "Failed":
                details["error"] = {"error": {"code": "UserError", "message": "exit code 3"}}
            return 200, details
        return 404, {"error": {"code": "NotFound", "message": short}}


AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def _azurite_port() -> str:
    """With AMLOPS_FAKE_AZURE_BLOB_PORT, the datastore is an Azurite blob service there."""
    return os.environ.get("AMLOPS_FAKE_AZURE_BLOB_PORT", "")


def _blob_key() -> str:
    return AZURITE_KEY if _azurite_port() else "ZmFrZQ=="


def _datastore(path: str) -> Dict[str, Any]:
    port = _azurite_port()
    return {
        "id": path.split("management.azure.com")[-1].split("?")[0],
        "name": "workspaceblobstore",
        "properties": {
            "datastoreType": "AzureBlob",
            "accountName": AZURITE_ACCOUNT if port else "acct",
            "containerName": "data" if port else "cont",
            # account URL: <protocol>://<account>.blob.<endpoint>, mapped to Azurite below
            "endpoint": f"localhost:{port}" if port else "core.windows.net",
            "protocol": "http" if port else "https",
            "isDefault": True,
            "credentials": {"credentialsType": "AccountKey"},
        },
    }


def _adapter(service: Service) -> Any:
    import urllib3
    from requests.adapters import BaseAdapter, HTTPAdapter

    class Adapter(BaseAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:
            body = request.body
            if isinstance(body, bytes):
                body = body.decode("utf-8", "replace")
            try:
                parsed = json.loads(body) if body else None
            except ValueError:
                parsed = body
            status, payload = service.answer(request.method, request.url, parsed)
            _append(
                "requests.jsonl",
                {"method": request.method, "url": request.url, "body": parsed, "status": status},
            )
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            kind = "text/plain" if isinstance(payload, str) else "application/json"
            raw = urllib3.HTTPResponse(
                body=io.BytesIO(data),
                headers={"Content-Type": kind, "Content-Length": str(len(data))},
                status=status,
                preload_content=False,
                reason="Fake",
            )
            return HTTPAdapter().build_response(request, raw)

        def close(self) -> None:
            pass

    return Adapter()


def _record_upload(
    self: Any,
    source: str,
    name: str,
    version: str,
    ignore_file: Any = None,
    asset_hash: Any = None,
    show_progress: bool = True,
) -> Dict[str, Any]:
    from azure.ai.ml._utils._asset_utils import generate_asset_id

    files = {}
    root = Path(source)
    for path in sorted(root.rglob("*") if root.is_dir() else [root]):
        if path.is_file() and not (ignore_file and ignore_file.is_file_excluded(str(path))):
            rel = path.relative_to(root).as_posix() if root.is_dir() else path.name
            files[rel] = path.read_text(encoding="utf-8", errors="replace")
    _append("uploads.jsonl", {"source": str(source), "name": name, "files": files})
    asset_id = generate_asset_id(asset_hash, include_directory=True)
    return {
        "remote path": f"{asset_id}/{root.name}",
        "name": name,
        "version": version,
        "indicator file": None,
    }


def _resolve_blob_hosts_to_azurite() -> None:
    """<account>.blob.localhost resolves to 127.0.0.1, where Azurite answers
    production-style URLs (the account taken from the host name)."""
    import socket

    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".blob.localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def install() -> None:
    # by module, not attribute: install() may run while `azure.identity` is still being
    # imported (sitecustomize installs on its first import), before `azure` has the attribute
    import importlib

    import requests
    from azure.ai.ml._artifacts._blob_storage_helper import BlobStorageClient
    from azure.core.pipeline.transport import RequestsTransport

    identity = importlib.import_module("azure.identity")
    ml = importlib.import_module("azure.ai.ml")
    if _azurite_port():
        _resolve_blob_hosts_to_azurite()
    identity.DefaultAzureCredential = FakeCredential
    identity.DeviceCodeCredential = FakeCredential
    service = Service()
    real_init = ml.MLClient.__init__

    def init(self: Any, credential: Any, *args: Any, **kwargs: Any) -> None:
        session = requests.Session()
        session.mount("https://", _adapter(service))
        kwargs["transport"] = RequestsTransport(session=session)
        kwargs["retry_backoff_factor"] = 0.01  # retries stay real, waits stay short
        _append(
            "clients.jsonl",
            {"args": [str(a) for a in args], "retry_total": kwargs.get("retry_total")},
        )
        real_init(self, credential, *args, **kwargs)

    ml.MLClient.__init__ = init
    BlobStorageClient.upload = _record_upload
