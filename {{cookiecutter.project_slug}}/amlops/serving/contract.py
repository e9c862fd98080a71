"""`make endpoint-test ENDPOINT=x`: contract checks against a freshly started local endpoint,
so CI can gate a deployment on them. Checks, each printed as one `ok`/`FAIL` line:
- liveness: GET / answers 200 once every deployment is ready;
- every request file endpoints/<x>/requests/<r>.json (and *request*.json beside the
  endpoint file, as Azure's samples name them), sent to each deployment (the
  `azureml-model-deployment` header): answered 2xx within the deployment's
  request_timeout_ms (Azure would answer 408 past it), and, where <r>.expected.json
  is beside it, with exactly that JSON;
- auth (auth_mode key or aml_token): no key and a wrong key are answered 401.
Exits 1 when any check fails, after stopping the endpoint."""

import json
from pathlib import Path
from typing import List, Tuple

from amlops.console import say
from amlops.errors import UserError
from amlops.project import Project
from amlops.serving.invoke import post, read_request
from amlops.serving.serve import LocalEndpoint
from amlops.spec.endpoints import load_endpoint


def request_files(folder: Path) -> List[Tuple[Path, Path]]:
    """(request, expected answer file, which may not exist) for requests/*.json and
    *request*.json beside the endpoint file."""
    found = []
    candidates = sorted((folder / "requests").glob("*.json"))
    candidates += sorted(folder.glob("*request*.json"))  # Azure's samples: sample-request.json
    for path in candidates:
        if path.name.endswith(".expected.json"):
            continue
        found.append((path, path.with_name(path.name[: -len(".json")] + ".expected.json")))
    return found


def _get(url: str) -> int:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", "/")
        answer = conn.getresponse()
        answer.read()
        return answer.status
    except OSError:
        return 0
    finally:
        conn.close()


def endpoint_test(project: Project, name: str, model: str, runtime: str) -> int:
    """Run the checks (module docstring); 0 when all pass, else 1."""
    endpoint = load_endpoint(project, name)
    if not endpoint.is_online:  # the baked CI runs endpoint-test for every endpoint
        say(
            f"{endpoint.name} is a batch endpoint: endpoint-test checks online endpoints;"
            " skipped (make batch-score runs a batch deployment)"
        )
        return 0
    if not any(endpoint.traffic.values()):
        say(
            f"note: {endpoint.shown} gives no deployment traffic, so the endpoint answers"
            " only requests naming a deployment (azureml-model-deployment header); each"
            " deployment is tested that way (set traffic: to route requests)"
        )
    requests = request_files(endpoint.folder)
    if not requests:
        raise UserError(
            f"endpoints/{endpoint.folder.name}/requests/: no request file to test with"
            " (add sample.json, and sample.expected.json for the answer it must give)"
        )
    bodies = [(p, e, read_request(p, project.relative(p))) for p, e in requests]
    local = LocalEndpoint(project, endpoint, "", model, 0, runtime)
    failures: List[str] = []

    def check(ok: bool, line: str) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {line}", flush=True)
        if not ok:
            failures.append(line)

    try:
        local.start()
        local.wait_ready()
        base = f"http://{local.host}:{local.port}"
        check(_get(base) == 200, "liveness: GET / answers 200")
        key = local.key if local.gateway and local.gateway.auth else ""
        for spec in local.specs:
            limit = spec.request_settings.request_timeout_ms
            for path, expected, body in bodies:
                shown = project.relative(path)
                status, data, took, _ = post(local.scoring_uri, body, key, spec.name)
                check(
                    200 <= status < 300 and took < limit,
                    f"{spec.name}: {shown} answered {status} in {took:.0f} ms"
                    f" (request_timeout_ms {limit})",
                )
                if expected.is_file() and 200 <= status < 300:
                    want = json.loads(expected.read_text(encoding="utf-8"))
                    try:
                        got = json.loads(data.decode("utf-8"))
                    except ValueError:
                        got = data.decode("utf-8", errors="replace")
                    check(
                        got == want,
                        f"{spec.name}: {shown} answer equals {project.relative(expected)}"
                        + ("" if got == want else f" (got {json.dumps(got)[:200]})"),
                    )
        if key:
            first = bodies[0][2]
            status = post(local.scoring_uri, first)[0]
            check(status == 401, f"auth: a request without the key is refused ({status})")
            status = post(local.scoring_uri, first, key="wrong-" + key)[0]
            check(status == 401, f"auth: a request with a wrong key is refused ({status})")
    finally:
        local.stop()
    if failures:
        say(f"endpoint-test {endpoint.name}: {len(failures)} check(s) failed")
        return 1
    say(f"endpoint-test {endpoint.name}: all checks passed")
    return 0
