"""`make invoke ENDPOINT=x CLOUD=1`: post a request file to the Azure ML online endpoint of
an endpoint folder and print the status, the latency and the body.

The scoring URI and the credential come from the SDK, as `az ml online-endpoint invoke`
takes them (azure/ai/ml/operations/_online_endpoint_operations.py invoke): the endpoint's
`scoring_uri`, and from `online_endpoints.get_keys`: the primary key (`auth_mode: key`)
or the access token (`aml_token`, and `aad_token`, a Microsoft Entra token for
https://ml.azure.com). The request goes as `Authorization: Bearer <key or token>`,
`Content-Type: application/json`, and with DEPLOYMENT= the header
`azureml-model-deployment: <name>`, which routes it to that deployment whatever the
traffic split. The request file is chosen and checked as for a local endpoint
(amlops/serving/invoke.py); the output is the same: `<status> [from <deployment>] in <ms>`,
then the body. The key is never printed; the exit code is 0 for a 2xx answer, else 1."""

import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Tuple

from amlops.cloud.sdk import azure_errors, require_sdk
from amlops.console import say
from amlops.errors import UserError
from amlops.project import Project
from amlops.serving.invoke import default_request, read_request
from amlops.spec.endpoints import EndpointSpec, load_endpoint

DEPLOYMENT_HEADER = "azureml-model-deployment"  # request: pick one; answer: who answered
TIMEOUT_S = 90  # Azure ML's own limit on a request's duration is 180 s; invoke waits 90


def _credentials(project: Project, endpoint: EndpointSpec) -> Tuple[str, str]:
    """(scoring URI, bearer key or token) of the endpoint, from the workspace."""
    from amlops.cloud.workspace import connect, find_workspace

    require_sdk("invoke")
    workspace = find_workspace(project)
    client = connect(project, workspace)
    with azure_errors(f"make invoke: endpoint {endpoint.name}"):
        answered = client.online_endpoints.get(endpoint.name)
        # EndpointAuthKeys (key), EndpointAuthToken (aml_token), EndpointAadToken (aad_token)
        keys = client.online_endpoints.get_keys(endpoint.name)
        token = getattr(keys, "primary_key", None) or getattr(keys, "access_token", "")
    uri = str(getattr(answered, "scoring_uri", "") or "")
    if not uri:
        raise UserError(
            f"endpoint {endpoint.name} has no scoring URI yet (still being created?):"
            " try again when make deploy has finished"
        )
    return uri, str(token or "")


def post(uri: str, body: bytes, headers: Dict[str, str]) -> Tuple[int, float, str, str]:
    """POST over http(s); (status, latency in ms, body text, the deployment that answered
    as Azure ML's `azureml-model-deployment` response header says). UserError (exit 6)
    when the endpoint cannot be reached."""
    request = urllib.request.Request(uri, data=body, headers=headers, method="POST")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            status, text = answer.status, answer.read().decode("utf-8", "replace")
            answered = answer.headers.get(DEPLOYMENT_HEADER, "")
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode("utf-8", "replace")
        answered = err.headers.get(DEPLOYMENT_HEADER, "") if err.headers else ""
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(f"make invoke: cannot reach {uri} ({reason})", 6) from None
    return status, (time.perf_counter() - started) * 1000, text, answered


def invoke_cloud(project: Project, name: str, request: str, deployment: str) -> int:
    """Post the request to the endpoint in Azure ML; 0 for a 2xx answer, 1 otherwise."""
    endpoint = load_endpoint(project, name)
    if not endpoint.is_online:
        raise UserError(
            f"{endpoint.shown}: {endpoint.name} is a batch endpoint; make invoke CLOUD=1 posts"
            " to online endpoints (batch endpoints are invoked with a job)"
        )
    if deployment:
        endpoint.deployment(deployment)  # a deployment with no file here: one line
    if request:
        path = (Path.cwd() / request).resolve()
        if not path.exists():
            path = (project.root / request).resolve()
    else:
        path = default_request(endpoint)
    body = read_request(path, request or project.relative(path))
    uri, token = _credentials(project, endpoint)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if deployment:
        headers[DEPLOYMENT_HEADER] = deployment
    target = f" (deployment {deployment})" if deployment else ""
    say(f"POST {uri}{target} <- {project.relative(path)}")
    status, took, text, answered = post(uri, body, headers)
    by = f" from {answered}" if answered else ""
    print(f"{status}{by} in {took:.1f} ms")  # as make invoke prints a local answer
    print(text)
    return 0 if 200 <= status < 300 else 1
