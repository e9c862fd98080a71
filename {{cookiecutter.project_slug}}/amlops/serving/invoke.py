"""`make invoke ENDPOINT=x [REQUEST=file] [DEPLOYMENT=]`: post a request to the endpoint
`make serve` runs (found through .runs/endpoints/<x>/serving.json), as `az ml
online-endpoint invoke` posts to Azure's: JSON body, `Authorization: Bearer <key>`, and
`azureml-model-deployment: <name>` when DEPLOYMENT= picks one. Prints the status, the
latency and the body; exits non-zero unless the status is 2xx."""

import http.client
import json
import time
from pathlib import Path
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

from amlops.console import say
from amlops.errors import UserError
from amlops.project import Project
from amlops.serving.gateway import DEPLOYMENT_HEADER
from amlops.serving.serve import state_path
from amlops.spec.endpoints import EndpointSpec


def read_request(path: Path, shown: str) -> bytes:
    """The request file's bytes, checked to be JSON (UserError naming the file)."""
    if not path.is_file():
        raise UserError(f"REQUEST={shown}: no such file")
    data = path.read_bytes()
    try:
        json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{shown}: not JSON ({err}); a request file holds the JSON body") from None
    return data


def default_request(endpoint: EndpointSpec) -> Path:
    """The endpoint's first request file (requests/*.json, else a *request*.json beside it)."""
    folder = endpoint.folder
    found = sorted(p for p in (folder / "requests").glob("*.json") if not _expected(p))
    found += sorted(p for p in folder.glob("*request*.json") if not _expected(p))
    if not found:
        raise UserError(
            f"{folder.name}: no request file; give REQUEST=<file.json> or add"
            f" endpoints/{folder.name}/requests/sample.json"
        )
    return found[0]


def _expected(path: Path) -> bool:
    return path.name.endswith(".expected.json")


def running(project: Project, name: str) -> Dict[str, str]:
    """The serving.json of a running `make serve ENDPOINT=name` (UserError when none)."""
    path = state_path(project, name)
    if not path.is_file():
        raise UserError(
            f"endpoint {name} is not being served here: start it with make serve ENDPOINT={name}"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def post(
    url: str, body: bytes, key: str = "", deployment: str = "", timeout_s: float = 300.0
) -> Tuple[int, bytes, float, str]:
    """POST `body` to `url`; (status, body, milliseconds, deployment that answered)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if deployment:
        headers[DEPLOYMENT_HEADER] = deployment
    started = time.monotonic()
    try:
        conn.request("POST", parts.path or "/score", body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        took = (time.monotonic() - started) * 1000
        return answer.status, data, took, answer.getheader(DEPLOYMENT_HEADER) or ""
    except OSError as err:
        raise UserError(f"{url}: no answer ({err}); is make serve still running?") from None
    finally:
        conn.close()


def invoke(project: Project, name: str, request: str, deployment: str) -> int:
    """The invoke command (see the module docstring)."""
    from amlops.spec.endpoints import load_endpoint

    endpoint = load_endpoint(project, name)
    path: Optional[Path] = None
    if request:
        path = (Path.cwd() / request).resolve()
        if not path.exists():
            path = (project.root / request).resolve()
    else:
        path = default_request(endpoint)
    body = read_request(path, request or project.relative(path))
    state = running(project, endpoint.folder.name)
    key = Path(state["key_file"]).read_text(encoding="utf-8").strip()
    status, data, took, answered = post(state["scoring_uri"], body, key, deployment)
    by = f" from {answered}" if answered else ""
    print(f"{status}{by} in {took:.1f} ms")
    print(data.decode("utf-8", errors="replace"))
    if 200 <= status < 300:
        return 0
    # the scoring server's answer to a failed run() is "Check the logs for more info"
    log = Path(state["run_dir"]) / (f"{answered}.log" if answered else "gateway.log")
    if log.is_file():
        say(f"what the server logged: {project.relative(log)}")
    return 1
