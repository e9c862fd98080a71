"""Local online endpoints: the endpoint reader, `make serve` / `make invoke` /
`make endpoint-test` with Azure ML's real inference server (azureml-inference-server-http
from PyPI) in the venv runtime and in a Docker image, and their bad input.

The case tests/cases/native/endpoint_online/ (files written as Azure's docs write them) is
served unchanged. Venvs live in the test cache (VENV_DIR), built once across sessions."""

import http.client
import io
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from tests.helpers import REPO, Baked, containers, error_lines, tools_cache

CASE = REPO / "tests" / "cases" / "native" / "endpoint_online"
SLUG = "{{cookiecutter.project_slug}}"
sys.path.insert(0, str(REPO / SLUG))

from amlops.errors import UserError  # noqa: E402
from amlops.project import Project  # noqa: E402
from amlops.serving.gateway import (  # noqa: E402
    Gateway,
    GatewayServer,
    Target,
    make_handler,
    pick_weighted,
    read_headers,
    start_gateway,
)
from amlops.serving.model import model_line, served_model  # noqa: E402
from amlops.spec.endpoints import load_endpoint_folder  # noqa: E402


def serve_venvs() -> Path:
    """The venv cache of serving tests: in the test cache, kept across sessions."""
    return tools_cache() / "serve-venvs"


def with_case(baked: Baked, name: str = "case") -> Path:
    """Copy the endpoint case, unchanged, into the project's endpoints/<name>/."""
    target = baked.path / "endpoints" / name
    shutil.copytree(CASE, target, ignore=shutil.ignore_patterns("CASE.md"))
    baked.env["VENV_DIR"] = str(serve_venvs())
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served:
    """A `python -m amlops serve` process started in the background."""

    def __init__(self, baked: Baked, endpoint: str, **variables: str) -> None:
        self.baked = baked
        self.endpoint = endpoint
        variables.setdefault("RUNTIME", "venv")
        self.proc = baked.start("serve", ENDPOINT=endpoint, **variables)
        self.state_file = baked.path / ".runs" / "endpoints" / endpoint / "serving.json"
        ready = baked.wait_for(
            lambda: self.state_file.is_file() or self.proc.poll() is not None, 600
        )
        if not self.state_file.is_file():
            out, err = self.proc.communicate(timeout=60)
            raise AssertionError(f"serve did not start ({self.proc.returncode}): {err[-3000:]}")
        assert ready
        self.state = json.loads(self.state_file.read_text())
        self.key = Path(self.state["key_file"]).read_text().strip()
        self.uri = self.state["scoring_uri"]

    def post(
        self, body: Dict, key: Optional[str] = "", deployment: str = ""
    ) -> Tuple[int, str, str]:
        """(status, body text, deployment that answered)."""
        headers = {"Content-Type": "application/json"}
        key = self.key if key == "" else key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if deployment:
            headers["azureml-model-deployment"] = deployment
        request = urllib.request.Request(
            self.uri, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return (
                    answer.status,
                    answer.read().decode(),
                    answer.headers.get("azureml-model-deployment", ""),
                )
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(), err.headers.get("azureml-model-deployment", "")

    def stop(self) -> Tuple[int, str]:
        """SIGTERM, as a CI cancel sends; (exit code, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, err


def server_processes(project: Path) -> List[str]:
    """Processes still running from this project (azmlinfsrv / gunicorn of its venvs)."""
    done = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True)
    return [
        line
        for line in done.stdout.splitlines()
        if str(project) in line and ("azmlinfsrv" in line or "amlops serve" in line)
    ]


# --- the endpoint reader -----------------------------------------------------------------


def test_reader_takes_the_case_as_written():
    endpoint = load_endpoint_folder(CASE)
    assert endpoint.name == "wine-quality" and endpoint.auth_mode == "key"
    assert endpoint.traffic == {"blue": 80, "green": 20}
    assert sorted(endpoint.deployments) == ["blue", "green"]
    blue = endpoint.deployments["blue"]
    assert blue.file.name == "blue-deployment.yml"
    assert blue.request_settings.request_timeout_ms == 2000
    assert blue.request_settings.max_concurrent_requests_per_instance == 1
    assert (blue.liveness_probe.initial_delay, blue.liveness_probe.period) == (5, 5)
    # Azure's defaults where the file is silent (azure-ai-ml ProbeSettings)
    assert blue.readiness_probe.initial_delay == 10
    assert blue.readiness_probe.failure_threshold == 30
    assert blue.model.kind == "path" and blue.model.path == CASE / "model"
    assert blue.code == CASE / "scoring" and blue.scoring_script == "score.py"
    assert blue.environment.kind == "image" and blue.environment.conda_file.name == "conda.yaml"
    assert blue.environment_variables == {"COLOUR": "blue"}
    assert blue.instance_type == "Standard_DS3_v2"


def test_serve_names_the_model_it_serves_and_where_it_came_from(tmp_path):
    shutil.copytree(CASE, tmp_path / "ep")
    project = Project(tmp_path)
    blue = load_endpoint_folder(tmp_path / "ep").deployments["blue"]
    line = model_line(project, "blue", served_model(project, blue))
    assert line.startswith("blue: serving model blue-model:1 from ep/model (")
    assert line.endswith("blue-deployment.yml's model: path ./model/)")
    # a run's model is named by its run id, whatever link (`latest`) led to it
    run = "20261202-101010-abcdef"
    (tmp_path / ".runs" / "train" / run / "outputs" / "model").mkdir(parents=True)
    (tmp_path / ".runs" / "train" / "latest").symlink_to(run)
    line = model_line(project, "blue", served_model(project, blue, ".runs/train/latest/outputs"))
    assert line == (
        f"blue: serving model blue-model:1 from .runs/train/{run}/outputs"
        " (MODEL=.runs/train/latest/outputs)"
    )
    line = model_line(project, "blue", served_model(project, blue, run))
    assert f"from .runs/train/{run}/outputs/model (MODEL={run}: that local run's output)" in line


def _copy_case(tmp_path: Path) -> Path:
    folder = tmp_path / "ep"
    shutil.copytree(CASE, folder)
    return folder


def _error(folder: Path) -> str:
    with pytest.raises(UserError) as caught:
        load_endpoint_folder(folder)
    return str(caught.value)


def test_reader_refuses_what_the_sdk_schema_refuses(tmp_path):
    folder = _copy_case(tmp_path)
    text = (folder / "blue-deployment.yml").read_text()
    (folder / "blue-deployment.yml").write_text(
        text.replace("request_timeout_ms: 2000", "request_timeout: 2000")
    )
    message = _error(folder)
    assert message.startswith(str(folder / "blue-deployment.yml") + ":15:")
    assert "unknown field 'request_timeout'" in message and "request_timeout_ms" in message
    assert "\n" not in message

    (folder / "blue-deployment.yml").write_text(
        text.replace("instance_count: 1", "instanse_count: 1")
    )
    assert "did you mean 'instance_count'?" in _error(folder)
    (folder / "blue-deployment.yml").write_text(text)

    endpoint = (folder / "endpoint.yml").read_text()
    (folder / "endpoint.yml").write_text(endpoint.replace("green: 20", "red: 20"))
    assert "traffic: names deployment 'red'" in _error(folder)
    (folder / "endpoint.yml").write_text(endpoint + "mirror_traffic:\n  green: 60\n")
    assert "mirror_traffic: percentages must sum to 50 or less" in _error(folder)
    (folder / "endpoint.yml").write_text(endpoint.replace("auth_mode: key", "auth_mode: keys"))
    assert "auth_mode: 'keys'" in _error(folder)
    (folder / "endpoint.yml").write_text(endpoint.replace("wine-quality", "wine_quality"))
    assert "endpoint name 'wine_quality' is not valid" in _error(folder)
    (folder / "endpoint.yml").unlink()
    assert "no endpoint file" in _error(folder)


def test_reader_tells_files_apart_without_schema(tmp_path):
    folder = _copy_case(tmp_path)
    for name in ("endpoint.yml", "blue-deployment.yml", "green-deployment.yml"):
        path = folder / name
        lines = [line for line in path.read_text().splitlines() if not line.startswith("$schema")]
        path.write_text("\n".join(lines) + "\n")
    endpoint = load_endpoint_folder(folder)
    assert sorted(endpoint.deployments) == ["blue", "green"]
    assert endpoint.kind == "managed_online"


# --- the gateway's rules (in process, with a stand-in server) ------------------------------


def test_traffic_draw_follows_the_percentages():
    weights = {"blue": 80, "green": 20}
    assert pick_weighted(weights, 0.0) == "blue"
    assert pick_weighted(weights, 0.7999) == "blue"
    assert pick_weighted(weights, 0.8) == "green"
    assert pick_weighted({"blue": 50}, 0.6) is None


def test_a_deployment_not_ready_gets_no_traffic():
    endpoint = load_endpoint_folder(CASE)
    targets = {n: Target(s, 1) for n, s in endpoint.deployments.items()}
    gateway = Gateway(endpoint, targets, "k", lambda line: None)
    headers = {"Authorization": "Bearer k", "azureml-model-deployment": "green"}
    status, _, body, _ = gateway.handle("POST", "/score", headers, b"{}")
    assert status == 503 and b"not ready" in body
    assert gateway.handle("GET", "/", {}, b"")[0] == 503
    targets["blue"].ready = True
    assert gateway.handle("GET", "/", {}, b"")[0] == 200
    assert gateway.handle("POST", "/score", {}, b"{}")[0] == 401
    unknown = {"Authorization": "Bearer k", "azureml-model-deployment": "red"}
    assert gateway.handle("POST", "/score", unknown, b"{}")[0] == 404


class StandIn(BaseHTTPRequestHandler):
    """A deployment's server stand-in: /score answers chunked (as a streaming server
    would), /fail answers 500, both after reading the request."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/fail":
            self.send_response(500)
            self.send_header("Content-Length", "4")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"oops")
            return
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        for piece in (b'{"echo": ', body, b"}"):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        return


def test_gateway_relays_chunked_answers_and_serves_past_its_idle_threads():
    """The gateway's own HTTP client de-chunks an answer; connections kept open (more
    than the idle threads the gateway keeps) do not stop it serving; keep-alive clients
    get every answer whole; shutdown frees the port."""
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    endpoint = load_endpoint_folder(CASE)
    targets = {n: Target(s, upstream.server_address[1]) for n, s in endpoint.deployments.items()}
    targets["blue"].ready = True
    gateway = Gateway(endpoint, targets, "k", lambda line: None, pinned="blue")
    port = free_port()
    server = start_gateway(gateway, "127.0.0.1", port)
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(GatewayServer.spare + 2)]
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(2):  # one keep-alive connection, two requests
            conn.request("POST", "/score", body=b"[1]", headers={"Authorization": "Bearer k"})
            answer = conn.getresponse()
            assert (answer.status, answer.read()) == (200, b'{"echo": [1]}')
            assert answer.getheader("azureml-model-deployment") == "blue"
            assert answer.getheader("Transfer-Encoding") is None
        conn.request("POST", "/fail", body=b"{}", headers={"Authorization": "Bearer k"})
        assert conn.getresponse().status == 404  # not a scoring route
        conn.close()
        status, headers, body = gateway.forward(targets["blue"], "POST", "/fail", {}, b"{}")
        assert (status, body) == (500, b"oops")
    finally:
        for sock in idle:
            sock.close()
        server.shutdown()
        server.server_close()
        upstream.shutdown()
        upstream.server_close()
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))


# Requests as clients send them, and odd ones: folded, repeated, blank-valued and
# malformed fields, bad request lines and versions, Expect, Connection, too many fields.
RAW_REQUESTS = [
    b"POST /score HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nAuthorization: Bearer k\r\n\r\n{}",
    b"POST /score HTTP/1.1\r\nX-Dup: 1\r\nx-dup: 2\r\nX-Tab:\tv \r\nX-Empty:\r\n\r\n",
    b"POST /score HTTP/1.1\r\nX-Folded: one\r\n two\r\nAfter: y\r\n\r\n",
    b"POST /score HTTP/1.1\r\nBad Header: x\r\nAfter: y\r\n\r\n",
    b"POST /score HTTP/1.1\r\n: no name\r\nNoColon\r\nX-CR: a\rb\r\n\r\n",
    b"GET / HTTP/1.1\nLF-Only: v\nX-Latin: \xe9t\xe9\nX-Colon: a: b\n\n",
    b"GET / HTTP/1.1\r\nUnfinished: v",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n",
    b"POST /score HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
    b"GET //score HTTP/1.1\r\n\r\n",
    b"GET /\r\n",
    b"POST /\r\n",
    b"GET / HTTP/2.0\r\n\r\n",
    b"GET / HTTP/1.1.1\r\n\r\n",
    b"GET / FTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1 extra\r\n\r\n",
    b"GET\r\n\r\n",
    b"\r\n",
    b"GET / HTTP/1.1\r\n" + b"".join(b"X%d: v\r\n" % n for n in range(101)) + b"\r\n",
    b"GET / HTTP/1.1\r\nX: " + b"v" * 70000 + b"\r\n\r\n",
]


def test_gateway_reads_requests_as_http_server_does():
    """The gateway's own request reader (it skips the email parser on plain header lines)
    gives what http.server's would: the same header message, request fields, connection
    decision and error answer (Date aside), for plain and odd requests alike."""
    endpoint = load_endpoint_folder(CASE)
    targets = {n: Target(s, 1) for n, s in endpoint.deployments.items()}
    ours = make_handler(Gateway(endpoint, targets, "k", lambda line: None))

    class Stdlib(BaseHTTPRequestHandler):
        protocol_version = ours.protocol_version
        server_version = ours.server_version

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            return

    def parsed(handler_class, raw: bytes):  # type: ignore[no-untyped-def]
        handler = handler_class.__new__(handler_class)
        handler.rfile, handler.wfile = io.BytesIO(raw), io.BytesIO()
        handler.client_address = ("127.0.0.1", 0)
        handler.raw_requestline = handler.rfile.readline(65537)
        ok = handler.parse_request()
        headers = getattr(handler, "headers", None)
        answer = b"\n".join(
            line for line in handler.wfile.getvalue().split(b"\n") if not line.startswith(b"Date:")
        )
        return (
            ok,
            handler.command,
            handler.path if ok else None,
            handler.request_version,
            handler.close_connection,
            type(headers).__name__,
            headers.items() if headers is not None else None,
            answer,
            handler.rfile.read(),
        )

    for raw in RAW_REQUESTS:
        assert parsed(ours, raw) == parsed(Stdlib, raw), raw[:80]
    message = read_headers(io.BytesIO(b"A: 1\r\na: 2\r\n\r\n"), http.client.HTTPMessage)
    assert (message.get("A"), message.get_all("a"), message["missing"]) == ("1", ["1", "2"], None)


# --- serving the case with the real inference server (venv runtime) -----------------------


@pytest.fixture(scope="module")
def served_case(tmp_path_factory, shared_venvs):
    from tests.helpers import bake

    baked = Baked(bake(tmp_path_factory.mktemp("serve")), env={})
    with_case(baked)
    served = Served(baked, "case", PORT=str(free_port()))
    yield served
    served.stop()


def test_case_scores_the_sample_request(served_case):
    baked = served_case.baked
    done = baked.make("invoke", ENDPOINT="case", REQUEST="endpoints/case/sample-request.json")
    assert done.returncode == 0, done.stderr
    first, body = done.stdout.splitlines()[:2]
    assert first.startswith("200 from ")
    assert json.loads(body)["scores"] == [1.15, 1.0]
    # AZUREML_MODEL_DIR holds model/ (score.py opens $AZUREML_MODEL_DIR/model/weights.json)
    run_dir = Path(served_case.state["run_dir"])
    assert (run_dir / "azureml-models" / "blue-model" / "1" / "model" / "weights.json").is_file()


def test_a_failed_run_names_the_servers_log(served_case):
    """run() raised: the inference server answers "Check the logs for more info"; make
    invoke says which log (new-user trial: a KeyError, and no log named)."""
    baked = served_case.baked
    (baked.path / "no-data.json").write_text('{"rows": [[1, 2]]}')
    done = baked.make("invoke", ENDPOINT="case", REQUEST="no-data.json", DEPLOYMENT="blue")
    assert done.returncode != 0 and done.stdout.startswith("424 from blue"), done.stdout
    (line,) = [x for x in done.stderr.splitlines() if "what the server logged:" in x]
    log = baked.path / line.split("what the server logged: ", 1)[1]
    assert log.name == "blue.log" and "KeyError: 'data'" in log.read_text()


def test_case_routes_by_traffic_and_header(served_case):
    # 400 draws of an 80/20 split: green's count has a standard deviation of 8;
    # the tolerance is 4 of them (12%..28% green), a false failure about once in 15000 runs.
    answered = [served_case.post({"data": [[1, 2, 3]]})[1] for _ in range(400)]
    green = sum(json.loads(a)["deployment"] == "green" for a in answered)
    assert 48 <= green <= 112, green
    for _ in range(5):
        status, body, by = served_case.post({"data": [[0, 0, 0]]}, deployment="green")
        assert status == 200 and json.loads(body)["deployment"] == "green" and by == "green"


def test_case_requires_the_key(served_case):
    assert served_case.post({"data": [[1, 2, 3]]}, key=None)[0] == 401
    assert served_case.post({"data": [[1, 2, 3]]}, key="not-the-key")[0] == 401


def test_case_timeout_is_408(served_case):
    status, body, by = served_case.post({"data": [[1, 2, 3]], "sleep_s": 3}, deployment="green")
    assert (status, body) == (408, "Request timeout")
    time.sleep(1.5)  # green's worker finishes the slow request before the next test


def test_case_third_concurrent_request_is_429(served_case):
    """Azure takes 2 x max_concurrent_requests_per_instance x instance_count requests at
    once (how-to-troubleshoot-online-endpoints, 429): with 1 x 1, two in flight are
    served (the second waits for the server's one worker), a third is refused. CASE.md
    expects a 429 already for the second; Azure's documented rule is followed here."""
    statuses: List[int] = []
    slow = {"data": [[1, 2, 3]], "sleep_s": 0.6}
    together = threading.Barrier(3)  # the three leave at once: no sleep to guess load by

    def send() -> None:
        together.wait(timeout=60)
        statuses.append(served_case.post(slow, deployment="blue")[0])

    senders = [threading.Thread(target=send) for _ in range(3)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    # the first two in are served (the second waits 0.6 s for the one worker, within the
    # 2 s request timeout), the third is refused at once
    assert sorted(statuses) == [200, 200, 429]


def test_case_model_error_is_424(served_case):
    status, body, by = served_case.post({"rows": []}, deployment="green")  # run() raises
    assert status == 424 and by == "green"


def test_sigterm_leaves_nothing_running(tmp_path, shared_venvs):
    from tests.helpers import bake

    baked = Baked(bake(tmp_path), env={})
    with_case(baked)
    served = Served(baked, "case", DEPLOYMENT="blue")
    try:
        assert server_processes(baked.path)
    finally:
        code, err = served.stop()
    assert code == 0, err
    assert baked.wait_for(lambda: not server_processes(baked.path), 30), server_processes(
        baked.path
    )
    assert not served.state_file.exists()


def test_mirror_traffic_reaches_the_shadow(tmp_path, shared_venvs):
    from tests.helpers import bake

    baked = Baked(bake(tmp_path), env={})
    folder = with_case(baked, "mirrored")
    (folder / "endpoint.yml").write_text(
        (folder / "endpoint.yml").read_text().replace("blue: 80\n  green: 20", "blue: 100")
        + "mirror_traffic:\n  green: 50\n"
    )
    served = Served(baked, "mirrored")
    try:
        answers = [served.post({"data": [[1, 2, 3]]}) for _ in range(40)]
        time.sleep(1)
    finally:
        served.stop()
    assert {json.loads(body)["deployment"] for _, body, _ in answers} == {"blue"}
    green_log = (Path(served.state["run_dir"]) / "green.log").read_text()
    copies = green_log.count("POST /score 200")
    assert 5 <= copies <= 35, copies  # 50% of 40: sd 3.2, tolerance beyond 4 sd


# --- the sample endpoint and make new-endpoint ---------------------------------------------


def test_baked_sample_endpoint_and_new_endpoint(baked):
    sample = baked.path / "endpoints" / "train-online"
    assert sorted(p.name for p in sample.iterdir()) == [
        "blue.yml",
        "endpoint.yml",
        "environment",
        "requests",
        "score.py",
    ]
    endpoint = load_endpoint_folder(sample)
    assert endpoint.name == "train-online" and endpoint.auth_mode == "key"
    blue = endpoint.deployments["blue"]
    assert blue.model.path == (baked.path / ".runs/train/latest/outputs/model").resolve()
    done = baked.make("new-endpoint", NAME="wine-two")
    assert done.returncode == 0, done.stderr
    assert load_endpoint_folder(baked.path / "endpoints" / "wine-two").name == "wine-two"
    again = baked.make("new-endpoint", NAME="wine-two")
    assert again.returncode != 0 and error_lines(again.stderr) == [
        "error: endpoints/wine-two already exists; pick another NAME or remove it first"
    ]
    bad = baked.make("new-endpoint", NAME="2bad")
    assert bad.returncode != 0 and "invalid NAME '2bad'" in bad.stderr
    listed = baked.make("-s", "endpoints")
    assert listed.stdout.split() == ["train-online", "wine-two"]


# --- bad input: one line, non-zero, nothing left running -----------------------------------


def _serve_fails(baked: Baked, endpoint: str, **variables: str) -> str:
    done = baked.make("serve", ENDPOINT=endpoint, RUNTIME="venv", timeout=900, **variables)
    assert done.returncode != 0
    lines = error_lines(done.stderr)
    assert len(lines) == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert not server_processes(baked.path)
    assert not (baked.path / ".runs" / "endpoints" / endpoint / "serving.json").exists()
    return lines[0]


def test_bad_input_is_one_line(baked):
    folder = with_case(baked)
    score = folder / "scoring" / "score.py"
    original = score.read_text()

    score.write_text(original.replace("def run(raw_data):", "def score(raw_data):"))
    line = _serve_fails(baked, "case", DEPLOYMENT="blue")
    assert "does not have a run() function" in line and "blue.log" in line

    score.write_text(
        original.replace("    global weights, bias\n", "    raise ValueError('no weights here')\n")
    )
    line = _serve_fails(baked, "case", DEPLOYMENT="blue")
    assert "ValueError: no weights here" in line
    score.write_text(original)

    line = _serve_fails(baked, "case", DEPLOYMENT="blue", MODEL="no/such/model")
    assert line == "error: MODEL=no/such/model: no such file or folder"
    deployment = folder / "blue-deployment.yml"
    text = deployment.read_text()
    deployment.write_text(text.replace("path: ./model/", "path: ./models/"))
    line = _serve_fails(baked, "case", DEPLOYMENT="blue")
    assert "blue-deployment.yml:5: model: path" in line and "does not exist" in line
    deployment.write_text(text.replace("instance_count: 1", "instance_count: 1\ninstance_cuont: 2"))
    line = _serve_fails(baked, "case", DEPLOYMENT="blue")
    assert "endpoints/case/blue-deployment.yml:22: unknown field 'instance_cuont'" in line
    # a variable name no environment can hold (Python refused it deep in the server start)
    deployment.write_text(text.replace("  COLOUR: blue", '  COLOUR: blue\n  "A=B": x'))
    line = _serve_fails(baked, "case", DEPLOYMENT="blue")
    assert "blue-deployment.yml:14: environment_variables: 'A=B' cannot be a variable" in line
    deployment.write_text(text)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _serve_fails(baked, "case", DEPLOYMENT="blue", PORT=str(port))
    assert line == f"error: PORT={port}: that port is in use on 127.0.0.1; pick another PORT="

    missing = baked.make("invoke", ENDPOINT="case", REQUEST="nope.json")
    assert missing.returncode != 0
    assert error_lines(missing.stderr) == ["error: REQUEST=nope.json: no such file"]
    (baked.path / "bad.json").write_text("{'data': [1]}")
    bad = baked.make("invoke", ENDPOINT="case", REQUEST="bad.json")
    assert bad.returncode != 0 and error_lines(bad.stderr)[0].startswith(
        "error: bad.json: not JSON"
    )
    idle = baked.make("invoke", ENDPOINT="case")
    assert error_lines(idle.stderr) == [
        "error: endpoint case is not being served here: start it with make serve ENDPOINT=case"
    ]


def test_endpoint_test_passes_and_fails(baked):
    folder = with_case(baked)
    (folder / "sample-request.expected.json").write_text(
        json.dumps({"deployment": "blue", "scores": [1.15, 1.0]})
    )
    done = baked.make("endpoint-test", ENDPOINT="case", RUNTIME="venv")
    # green answers with "deployment": "green": its comparison fails, blue's passes
    assert done.returncode != 0
    assert "ok   liveness: GET / answers 200" in done.stdout
    assert "ok   blue: sample-request.json answer equals" in done.stdout.replace(
        "endpoints/case/", ""
    )
    assert "FAIL green: endpoints/case/sample-request.json answer equals" in done.stdout
    assert "ok   auth: a request without the key is refused (401)" in done.stdout
    (folder / "green-deployment.yml").unlink()
    (folder / "endpoint.yml").write_text(
        (folder / "endpoint.yml").read_text().replace("blue: 80\n  green: 20", "blue: 100")
    )
    done = baked.make("endpoint-test", ENDPOINT="case", RUNTIME="venv")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not server_processes(baked.path)


# --- Docker: the inference server installed into an image on the offline base --------------


def test_docker_serves_the_case_in_its_image(docker_baked):
    baked = docker_baked
    folder = with_case(baked)
    docker = folder / "scoring" / "docker"
    docker.mkdir()
    (docker / "Dockerfile").write_text(
        "ARG BASE_IMAGE=mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest\n"
        "FROM ${BASE_IMAGE}\n"
        "RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir"
        " azureml-inference-server-http\n"
        "ENV PATH=/opt/venv/bin:$PATH\n"
    )
    for name in ("blue-deployment.yml", "green-deployment.yml"):
        path = folder / name
        path.write_text(
            path.read_text().replace(
                "  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest\n"
                "  conda_file: ./scoring/conda.yaml\n",
                "  build:\n    path: ./scoring/docker\n",
            )
        )
    served = Served(baked, "case", RUNTIME="docker", DEPLOYMENT="blue")
    try:
        status, body, by = served.post({"data": [[1, 2, 3], [0, 0, 0]]})
        assert status == 200 and json.loads(body) == {"deployment": "blue", "scores": [1.15, 1.0]}
        assert served.post({"data": [[1, 2, 3]], "sleep_s": 3})[0] == 408
        prefix = "amlops-endpoints-case-"
        assert containers(prefix)
    finally:
        code, err = served.stop()
    assert code == 0, err
    assert baked.wait_for(lambda: not containers(prefix), 30)


def test_baked_sample_serves_the_trained_model(baked):
    """The whole path of the baked sample: train, then the contract checks of its endpoint
    against the model that run saved (AZUREML_MODEL_DIR/model/model.pkl)."""
    baked.env["VENV_DIR"] = str(serve_venvs())
    trained = baked.make("local", EXP="train", RUNTIME="venv", timeout=1500)
    assert trained.returncode == 0, trained.stderr[-3000:]
    requests = baked.path / "endpoints" / "train-online" / "requests"
    header = (baked.path / "data" / "wine" / "wine.csv").read_text().splitlines()[0].split(",")
    # the sample request is the data's first row, a class-0 wine
    (requests / "sample.expected.json").write_text(
        json.dumps({"predictions": [0.0], "features": header[:-1]})
    )
    done = baked.make("endpoint-test", ENDPOINT="train-online", RUNTIME="venv", timeout=1500)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "ok   blue: endpoints/train-online/requests/sample.json answered 200" in done.stdout
    assert "ok   blue: endpoints/train-online/requests/sample.json answer equals" in done.stdout
    assert not server_processes(baked.path)


def test_docker_image_without_the_server_is_one_line(docker_baked):
    baked = docker_baked
    folder = with_case(baked)
    path = folder / "blue-deployment.yml"
    path.write_text(
        path.read_text().replace(
            "  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest\n"
            "  conda_file: ./scoring/conda.yaml\n",
            f"  image: {baked.env['BASE_IMAGE']}\n",
        )
    )
    done = baked.make("serve", ENDPOINT="case", DEPLOYMENT="blue", RUNTIME="docker")
    assert done.returncode != 0
    assert error_lines(done.stderr) == [
        f"error: endpoints/case/blue-deployment.yml:9: image {baked.env['BASE_IMAGE']} has no"
        " inference server (azmlinfsrv): add azureml-inference-server-http to the environment's"
        " requirements or conda file's pip list, as Azure ML's inference images have it"
    ]
    assert not containers("amlops-endpoints-case-")
