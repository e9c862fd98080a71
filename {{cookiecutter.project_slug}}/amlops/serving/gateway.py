"""The endpoint in front of the deployments' servers: what Azure ML's front end does and
Azure's local mode (`az ml online-deployment create --local`) does not.

Rules, from Azure ML's docs ("Troubleshoot online endpoints: HTTP status codes",
https://learn.microsoft.com/azure/machine-learning/how-to-troubleshoot-online-endpoints;
"Safe rollout for online endpoints", how-to-safely-rollout-online-endpoints) and the
deployment schema (azure-ai-ml _schema/_deployment/online/):
- auth_mode key (or aml_token): `Authorization: Bearer <key>` required, else 401;
- the `azureml-model-deployment: <name>` header picks a deployment (404 for an unknown
  one); otherwise the endpoint's `traffic` percentages pick one at random (404 when no
  deployment takes traffic); `mirror_traffic` copies that percentage of requests to the
  shadow deployment, whose answer is discarded;
- request_settings.request_timeout_ms (default 5000) -> 408 "Request timeout";
- more than 2 x max_concurrent_requests_per_instance x instance_count requests in flight
  at one deployment -> 429 "Too many pending requests" (the docs: "a maximum of 2 *
  max_concurrent_requests_per_instance * instance_count requests ... at any given
  moment"; the server takes max_concurrent_requests_per_instance at once, the rest wait);
- a scoring answer other than 200 from the deployment's server -> 424 "Model Error" with
  the headers ms-azureml-model-error-statuscode and ms-azureml-model-error-reason (the
  server's status and reason), its body passed on;
- a deployment not ready (readiness_probe) gets no traffic: 503; one whose server is
  gone answers 502.
Every answer carries `azureml-model-deployment` naming the deployment that served it,
as Azure's does. Routes: GET / (liveness), POST /score, GET /swagger.json (passed through).
Standard library only (http.server threads), so the gateway costs no dependency."""

import email.parser
import http.client
import json
import random
import re
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Tuple

from amlops.spec.endpoints import DeploymentSpec, EndpointSpec

DEPLOYMENT_HEADER = "azureml-model-deployment"
HOP_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "content-length",
}


# A header line the fast reader takes: name (printable ASCII but ':'), ':', blanks, a value
# without CR or LF, the line's end. Any other line sends the whole block to the email
# parser http.server uses, so what a header means never depends on which path read it.
HEADER_LINE = re.compile(rb"([\x21-\x39\x3b-\x7e]+):[ \t]*([^\r\n]*)\r?\n\Z")
MAX_HEADERS = 100  # http.client's _MAXHEADERS: more is 431, as http.server answers
MAX_LINE = 65536  # http.client's _MAXLINE


def read_headers(rfile, message_class):  # type: ignore[no-untyped-def]
    """A request's header block from `rfile`, as http.server's parse_request reads it
    (http.client.parse_headers: the same message class, names and values, line and count
    limits), without running the email parser on the plain `Name: value` lines every client
    sends (that parser was a fifth of the gateway's CPU per request). A block with any
    other line (folded, no colon, a bare CR, an unfinished last line) goes to the email
    parser as before. Raises http.client.LineTooLong / HTTPException as parse_headers."""
    lines = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    message = message_class()
    for line in lines[:-1]:
        matched = HEADER_LINE.match(line)
        if matched is None:
            text = b"".join(lines).decode("iso-8859-1")
            return email.parser.Parser(_class=message_class).parsestr(text)
        name, value = matched.groups()
        # compat32's header_source_parse: name as sent, value less leading blanks
        message.set_raw(name.decode("iso-8859-1"), value.decode("iso-8859-1"))
    return message


class Target:
    """A deployment as the gateway sees it: its server's address, its limits, its state."""

    def __init__(self, spec: DeploymentSpec, url_port: int) -> None:
        self.spec = spec
        self.port = url_port
        self.ready = False
        self.live = True
        limit = spec.request_settings.max_concurrent_requests_per_instance
        self.capacity = 2 * limit * max(spec.instance_count, 1)  # Azure's rule, module doc
        self.in_flight = 0
        self.lock = threading.Lock()
        self.served = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def timeout_s(self) -> float:
        return self.spec.request_settings.request_timeout_ms / 1000.0

    def acquire(self) -> bool:
        with self.lock:
            if self.in_flight >= self.capacity:
                return False
            self.in_flight += 1
            return True

    def release(self) -> None:
        with self.lock:
            self.in_flight -= 1


def pick_weighted(weights: Dict[str, int], draw: float) -> Optional[str]:
    """The deployment `draw` (0 <= draw < 1) falls on, percentages taken in order; None
    when it falls past their sum (sum < 100: that share of traffic has no deployment)."""
    edge = 0.0
    for name, percent in weights.items():
        edge += percent / 100.0
        if draw < edge:
            return name
    return None


def upstream_request(
    method: str, path: str, port: int, headers: Dict[str, str], body: bytes
) -> bytes:
    """One HTTP/1.1 request as bytes (head and body together: one send, so Nagle's
    algorithm never holds the body back waiting for the server's delayed ACK)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def read_answer(conn: socket.socket, method: str) -> Tuple[int, List[Tuple[str, str]], bytes]:
    """(status, headers less the hop-by-hop ones, body) of the answer on `conn`: the body
    by Content-Length, chunked transfer coding, or up to the close. Raises
    http.client.HTTPException for an answer that is not HTTP."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            raise http.client.RemoteDisconnected("the server closed without answering")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise http.client.BadStatusLine(status_line)
    status = int(parts[1])
    kept: List[Tuple[str, str]] = []
    length: Optional[int] = None
    chunked = False
    for line in header_lines:
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        low = name.lower()
        if low == "content-length":
            length = int(value)
        elif low == "transfer-encoding":
            chunked = "chunked" in value.lower()
        if low not in HOP_HEADERS:
            kept.append((name, value))
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, kept, b""
    if chunked:
        return status, kept, unchunk(conn, rest)
    parts_read = [rest]
    got = len(rest)
    while length is None or got < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        parts_read.append(chunk)
        got += len(chunk)
    data = b"".join(parts_read)
    return status, kept, data if length is None else data[:length]


def unchunk(conn: socket.socket, buffer: bytes) -> bytes:
    """The body of a chunked answer (RFC 9112 7.1) whose first bytes are `buffer`."""
    body = []

    def fill(needed: int) -> None:
        nonlocal buffer
        while len(buffer) < needed:
            chunk = conn.recv(65536)
            if not chunk:
                raise http.client.IncompleteRead(b"".join(body))
            buffer += chunk

    while True:
        while b"\r\n" not in buffer:
            fill(len(buffer) + 1)
        size_line, _, buffer = buffer.partition(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            return b"".join(body)  # trailers, if any, are dropped (hop-by-hop)
        fill(size + 2)
        body.append(buffer[:size])
        buffer = buffer[size + 2 :]


class Gateway:
    """Routes requests to the deployments' servers (see the module docstring)."""

    def __init__(
        self,
        endpoint: EndpointSpec,
        targets: Dict[str, Target],
        key: str,
        log: Callable[[str], None],
        rng: Optional[random.Random] = None,
        pinned: str = "",
    ) -> None:
        self.endpoint = endpoint
        self.targets = targets
        self.key = key
        self.log = log
        self.rng = rng or random.Random()
        self.auth = endpoint.auth_mode in ("key", "aml_token")
        # DEPLOYMENT= (`pinned`) serves one deployment: it takes all the traffic.
        served = {n: p for n, p in endpoint.traffic.items() if n in targets and p > 0}
        self.traffic = {pinned: 100} if pinned else served
        self.mirror = {n: p for n, p in endpoint.mirror_traffic.items() if n in targets}

    # --- routing ------------------------------------------------------------------------

    def authorised(self, headers) -> bool:  # type: ignore[no-untyped-def]
        if not self.auth:
            return True
        given = headers.get("Authorization", "")
        return given == f"Bearer {self.key}"

    def choose(self, headers) -> Tuple[Optional[Target], int, str]:  # type: ignore[no-untyped-def]
        """(target, 0, "") or (None, status, message) for a request's headers."""
        asked = headers.get(DEPLOYMENT_HEADER, "").strip()
        if asked:
            target = self.targets.get(asked)
            if target is None:
                return None, 404, f"deployment {asked!r} not found in this endpoint"
            return target, 0, ""
        name = pick_weighted(self.traffic, self.rng.random())
        if name is None:
            return None, 404, "no deployment takes traffic (traffic percentages)"
        return self.targets[name], 0, ""

    def mirror_to(self) -> Optional[Target]:
        for name, percent in self.mirror.items():
            if self.rng.random() < percent / 100.0:
                return self.targets[name]
        return None

    # --- forwarding ---------------------------------------------------------------------

    def forward(
        self,
        target: Target,
        method: str,
        path: str,
        headers: Dict[str, str],
        body: bytes,
        closing: Optional[List[socket.socket]] = None,
    ) -> Tuple[int, List[Tuple[str, str]], bytes]:
        """Send the request to `target`'s server within its request timeout (each socket
        operation; past it: 408). One connection per request: Azure's server (gunicorn's
        sync worker) answers `Connection: close`, so none could be kept. Raw sockets, not
        http.client: the request goes in one send, and the answer is read without the
        email-module header parsing that cost a third of the gateway's CPU per request.
        With `closing`, a connection whose answer was read whole is put there for the
        caller to close once its own client has the answer (closing a TCP socket is a
        tenth of the gateway's time on a request's path); otherwise it is closed here."""
        conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # no name lookup: an address
        try:
            conn.settimeout(target.timeout_s)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.connect(("127.0.0.1", target.port))
        except (socket.timeout, TimeoutError):
            conn.close()
            return 408, [], b"Request timeout"  # Azure ML's answer past request_timeout_ms
        except OSError:
            conn.close()
            return 502, [], b"Bad gateway: the deployment's server is not answering"
        try:
            conn.sendall(upstream_request(method, path, target.port, headers, body))
            answer = read_answer(conn, method)
        except (socket.timeout, TimeoutError):
            conn.close()
            return 408, [], b"Request timeout"  # Azure ML's answer past request_timeout_ms
        except (ConnectionError, OSError, ValueError, http.client.HTTPException):
            conn.close()
            return 502, [], b"Bad gateway: the deployment's server is not answering"
        except BaseException:
            conn.close()
            raise
        if closing is None:
            conn.close()
        else:
            closing.append(conn)
        return answer

    def handle(
        self,
        method: str,
        path: str,
        headers,  # type: ignore[no-untyped-def]
        body: bytes,
        closing: Optional[List[socket.socket]] = None,
    ) -> Tuple[int, List[Tuple[str, str]], bytes, str]:
        """The answer to one request: (status, headers, body, deployment name or "").
        `closing`: see forward."""
        route = path.split("?", 1)[0].rstrip("/") or "/"
        if route == "/" and method in ("GET", "HEAD"):
            ready = [t for t in self.targets.values() if t.ready]
            return (200, [], b"Healthy", "") if ready else (503, [], b"Not ready", "")
        if route not in ("/score", "/swagger.json"):
            return 404, [], b"Not found: the routes are /, /score and /swagger.json", ""
        if not self.authorised(headers):
            return 401, [], b"Unauthorized: send Authorization: Bearer <key>", ""
        target, status, message = self.choose(headers)
        if target is None:
            return status, [], message.encode(), ""
        if not target.ready:
            return 503, [], f"Service unavailable: {target.name} is not ready".encode(), ""
        if not target.acquire():
            return 429, [], b"Too many pending requests", target.name
        sent = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}
        try:
            shadow = self.mirror_to() if route == "/score" else None
            if shadow is not None and shadow is not target:
                threading.Thread(
                    target=self._shadow, args=(shadow, method, path, sent, body), daemon=True
                ).start()
            status, kept, data = self.forward(target, method, path, sent, body, closing)
            target.served += 1
            if route == "/score" and status not in (200, 408, 502):
                reason = http.client.responses.get(status, "")
                kept.append(("ms-azureml-model-error-statuscode", str(status)))
                kept.append(("ms-azureml-model-error-reason", reason))
                status = 424  # Azure's answer when the model's container does not answer 200
            return status, kept, data, target.name
        finally:
            target.release()

    def _shadow(
        self, target: Target, method: str, path: str, headers: Dict[str, str], body: bytes
    ) -> None:
        """A mirrored copy: sent to the shadow deployment, its answer only logged."""
        if not target.ready or not target.acquire():
            self.log(f"mirror: {target.name} busy or not ready; copy dropped")
            return
        try:
            status, _, _ = self.forward(target, method, path, headers, body)
            target.served += 1
            self.log(f"mirror: {target.name} answered {status} (discarded)")
        finally:
            target.release()


def make_handler(gateway: Gateway):  # type: ignore[no-untyped-def]
    date_cache = [(0, "")]  # (the second, its Date header), replaced whole

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "amlops-endpoint"
        disable_nagle_algorithm = True  # TCP_NODELAY on each client's connection

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            started = time.monotonic()
            closing: List[socket.socket] = []
            try:
                status, headers, data, name = gateway.handle(
                    self.command, self.path, self.headers, body, closing
                )
                self.send_response(status)
                fields = headers + [(DEPLOYMENT_HEADER, name)] if name else list(headers)
                fields.append(("Content-Length", str(len(data))))
                if self.request_version != "HTTP/0.9":  # send_header's rule; none is Connection
                    head = "".join(f"{key}: {value}\r\n" for key, value in fields)
                    self._headers_buffer.append(head.encode("latin-1", "strict"))
                # Head and body in one send (end_headers then wfile.write would be two: with
                # Nagle's algorithm a keep-alive client then waits ~40 ms for each answer's
                # body, its delayed ACK holding the second send back).
                self._headers_buffer.append(b"\r\n")
                if self.command != "HEAD":
                    self._headers_buffer.append(data)
                self.wfile.write(b"".join(self._headers_buffer))
                self._headers_buffer = []
                took = (time.monotonic() - started) * 1000
                gateway.log(f"{self.command} {self.path} {status} {name or '-'} {took:.1f}ms")
            finally:
                for conn in closing:  # the deployment's connection, once the answer is out
                    conn.close()

        do_GET = do_POST = do_PUT = do_HEAD = _serve  # noqa: N815 - http.server's names

        def parse_request(self) -> bool:
            """http.server's parse_request (Python 3.11: the same answers to a bad request
            line, version, header block, `Connection` and `Expect: 100-continue`), its
            header block read by read_headers."""
            self.command = None  # type: ignore[assignment]
            self.request_version = version = self.default_request_version
            self.close_connection = True
            requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
            self.requestline = requestline
            words = requestline.split()
            if len(words) == 0:
                return False
            if len(words) >= 3:  # enough to determine the protocol version
                version = words[-1]
                try:
                    if not version.startswith("HTTP/"):
                        raise ValueError
                    base_version_number = version.split("/", 1)[1]
                    numbers = base_version_number.split(".")
                    if len(numbers) != 2:
                        raise ValueError
                    if any(not part.isdigit() or len(part) > 10 for part in numbers):
                        raise ValueError
                    version_number = int(numbers[0]), int(numbers[1])
                except (ValueError, IndexError):
                    self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
                    return False
                if version_number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                    self.close_connection = False
                if version_number >= (2, 0):
                    self.send_error(
                        HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
                        f"Invalid HTTP version ({base_version_number})",
                    )
                    return False
                self.request_version = version
            if not 2 <= len(words) <= 3:
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({requestline!r})")
                return False
            command, path = words[:2]
            if len(words) == 2:
                self.close_connection = True
                if command != "GET":
                    self.send_error(
                        HTTPStatus.BAD_REQUEST, f"Bad HTTP/0.9 request type ({command!r})"
                    )
                    return False
            self.command, self.path = command, path
            if self.path.startswith("//"):  # gh-87389, as http.server
                self.path = "/" + self.path.lstrip("/")
            try:
                self.headers = read_headers(self.rfile, self.MessageClass)
            except http.client.LineTooLong as err:
                self.send_error(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", str(err)
                )
                return False
            except http.client.HTTPException as err:
                self.send_error(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers", str(err)
                )
                return False
            conntype = self.headers.get("Connection", "").lower()
            if conntype == "close":
                self.close_connection = True
            elif conntype == "keep-alive" and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            expect = self.headers.get("Expect", "")
            if (
                expect.lower() == "100-continue"
                and self.protocol_version >= "HTTP/1.1"
                and self.request_version >= "HTTP/1.1"
            ):
                if not self.handle_expect_100():
                    return False
            return True

        def date_time_string(self, timestamp=None) -> str:  # type: ignore[no-untyped-def]
            """The Date header: formatted once a second (it has whole seconds), not on
            every answer."""
            if timestamp is not None:
                return super().date_time_string(timestamp)
            now = int(time.time())
            second, text = date_cache[0]
            if second != now:
                text = super().date_time_string(now)
                date_cache[0] = (now, text)
            return text

        def log_request(self, code="-", size="-") -> None:  # type: ignore[no-untyped-def]
            return  # one line per request is written by _serve

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
            return  # one line per request is written by _serve

    return Handler


class GatewayServer(ThreadingHTTPServer):
    """http.server's threading server, but threads wait in accept() themselves (a pool
    kept `spare` idle threads strong, growing with the connections open) instead of one
    thread accepting and starting a thread per connection: no thread start and no hand-
    over between threads on a request's path. Any number of connections are still served
    at once (a busy deployment's 429 and 408 need the gateway to keep answering)."""

    daemon_threads = True
    allow_reuse_address = False  # a port in use is an error, not shared
    spare = 4

    def __init__(self, address: Tuple[str, int], handler) -> None:  # type: ignore[no-untyped-def]
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._pool = threading.Lock()
        self._idle = 0
        super().__init__(address, handler)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        for _ in range(self.spare):
            self._spawn()
        self._stopping.wait()
        self._stopped.set()

    def _spawn(self) -> None:
        with self._pool:
            self._idle += 1
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                request, address = self.socket.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            with self._pool:
                self._idle -= 1
                starved = self._idle == 0
            if starved:
                self._spawn()  # someone must be in accept() while this thread serves
            try:
                self.finish_request(request, address)
            except Exception:
                self.handle_error(request, address)
            finally:
                self.shutdown_request(request)
            with self._pool:
                if self._idle >= self.spare:
                    return
                self._idle += 1

    def shutdown(self) -> None:
        """Stop accepting (serve_forever returns); connections being served finish."""
        self._stopping.set()
        try:
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked in accept()
        except OSError:
            pass
        self._stopped.wait()


def start_gateway(gateway: Gateway, host: str, port: int) -> GatewayServer:
    """Listen on host:port in a thread. Raises OSError when the port is taken."""
    server = GatewayServer((host, port), make_handler(gateway))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def probe(port: int, timeout_s: float) -> bool:
    """GET / on a deployment's server answers 200 within `timeout_s` (Azure's probes
    ask the server's liveness route)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", "/")
        answer = conn.getresponse()
        answer.read()
        return answer.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def summary(gateway: Gateway) -> str:
    """Requests served per deployment, as JSON (for the run record)."""
    return json.dumps({n: t.served for n, t in gateway.targets.items()})
