"""`make serve ENDPOINT=x [DEPLOYMENT=] [MODEL=] [PORT=]`: an online endpoint on this machine.

Each deployment of endpoints/<x>/ (or DEPLOYMENT= alone) runs Azure ML's inference server
(amlops.serving.servers) in the venv or Docker runtime (RUNTIME=auto|docker|venv, as jobs);
the gateway (amlops.serving.gateway) in front applies the endpoint's auth, traffic and
mirror rules and each deployment's request settings and probes. A run folder
.runs/endpoints/<x>/<id>/ keeps each server's log, the gateway's log and the key; the
file .runs/endpoints/<x>/serving.json tells `make invoke` where the endpoint answers.
Ctrl-C or SIGTERM stops every server and container and removes that file.

Probes follow Azure ML (reference-yaml-deployment-managed-online, ProbeSettings in
azure-ai-ml entities/_deployment/deployment_settings.py): the readiness probe starts
initial_delay s after the server, asks GET / every period s with timeout s; the
deployment gets traffic after success_threshold successes in a row and loses it after
failure_threshold failures; the liveness probe restarts a server after
failure_threshold failures (Azure restarts the container). A deployment that is not
ready within initial_delay + failure_threshold x period fails, as Azure's create does."""

import json
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, TextIO

from amlops.console import say
from amlops.errors import UserError
from amlops.project import Project
from amlops.serving.gateway import Gateway, GatewayServer, Target, probe, start_gateway, summary
from amlops.serving.model import model_line, optional_model
from amlops.serving.servers import DeploymentServer, DockerServer, VenvServer, free_port
from amlops.spec.endpoints import DeploymentSpec, EndpointSpec, ProbeSettings, load_endpoint

STATE_FILE = "serving.json"
KEY_FILE = "key"
RUNTIMES = ("auto", "docker", "venv")


def endpoint_runs(project: Project, name: str) -> Path:
    """.runs/endpoints/<name>/ (`name`: the folder under endpoints/, what ENDPOINT takes)."""
    return project.runs / "endpoints" / name


def state_path(project: Project, name: str) -> Path:
    """.runs/endpoints/<name>/serving.json: where a running `make serve` answers."""
    return endpoint_runs(project, name) / STATE_FILE


def laptop_limits(spec: DeploymentSpec) -> List[str]:
    """One line per thing of the deployment this machine does not do as Azure does."""
    lines = []
    if spec.instance_type:
        lines.append(
            f"{spec.name}: instance_type {spec.instance_type} is Azure's VM size; here the"
            " server gets this machine's CPU and memory"
        )
    limit = spec.request_settings.max_concurrent_requests_per_instance
    if spec.instance_count > 1:
        lines.append(
            f"{spec.name}: instance_count {spec.instance_count}: one server runs here; the"
            f" requests in flight are still limited to 2 x {limit} x {spec.instance_count},"
            " as Azure counts them"
        )
    if "gpu" in spec.instance_type.lower() or spec.instance_type.upper().startswith("STANDARD_N"):
        lines.append(f"{spec.name}: {spec.instance_type} has a GPU; this server runs on the CPU")
    if spec.app_insights_enabled:
        lines.append(f"{spec.name}: app_insights_enabled: logs stay in the run folder here")
    if spec.raw.get("data_collector"):
        lines.append(f"{spec.name}: data_collector: nothing is collected locally")
    return lines


def port_free(host: str, port: int) -> bool:
    with socket.socket() as probe_socket:
        try:
            probe_socket.bind((host, port))
        except OSError:
            return False
    return True


class Probes:
    """The readiness and liveness probes of one deployment (threads; see module doc)."""

    def __init__(self, server: DeploymentServer, target: Target, log, stop: threading.Event):
        self.server, self.target, self.log, self.stop = server, target, log, stop
        self.started = time.monotonic()

    def start(self) -> None:
        spec = self.server.deployment
        for settings, kind in (
            (spec.readiness_probe, "readiness"),
            (spec.liveness_probe, "liveness"),
        ):
            threading.Thread(target=self._loop, args=(settings, kind), daemon=True).start()

    def _loop(self, settings: ProbeSettings, kind: str) -> None:
        if self.stop.wait(settings.initial_delay):
            return
        successes = failures = 0
        while not self.stop.is_set():
            ok = self.server.alive() and probe(self.server.port, settings.timeout)
            successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
            if kind == "readiness":
                if ok and successes >= settings.success_threshold and not self.target.ready:
                    self.target.ready = True
                    self.log(f"{self.target.name}: ready")
                if not ok and failures >= settings.failure_threshold and self.target.ready:
                    self.target.ready = False
                    self.log(f"{self.target.name}: readiness probe failed {failures}x: no traffic")
            elif not ok and failures >= settings.failure_threshold and self.target.ready:
                self.log(
                    f"{self.target.name}: liveness probe failed {failures}x: restarting its"
                    " server (Azure restarts the container)"
                )
                self.target.ready = False
                self.server.stop()
                self.server.start(self.server.port)
                successes = failures = 0
            if self.stop.wait(settings.period):
                return

    def deadline(self) -> float:
        ready = self.server.deployment.readiness_probe
        return self.started + ready.initial_delay + ready.failure_threshold * ready.period + 5


class LocalEndpoint:
    """An endpoint served on this machine: start(), wait_ready(), stop()."""

    def __init__(
        self,
        project: Project,
        endpoint: EndpointSpec,
        deployment: str = "",
        model: str = "",
        port: int = 0,
        runtime: str = "auto",
        host: str = "127.0.0.1",
    ) -> None:
        if not endpoint.is_online:
            raise UserError(
                f"{endpoint.shown}: {endpoint.name} is a batch endpoint; make serve serves"
                " online endpoints (managedOnlineEndpoint)"
            )
        if runtime not in RUNTIMES:
            raise UserError(f"RUNTIME={runtime!r}: use one of {', '.join(RUNTIMES)}")
        self.project = project
        self.endpoint = endpoint
        names = [deployment] if deployment else list(endpoint.deployments)
        if not names:
            raise UserError(
                f"{endpoint.shown}: endpoint {endpoint.name} has no deployment file beside it"
                " (e.g. blue.yml with $schema .../managedOnlineDeployment.schema.json)"
            )
        self.specs = [endpoint.deployment(n) for n in names]
        self.pinned = bool(deployment)
        self.models = {s.name: optional_model(project, s, model) for s in self.specs}
        for spec in self.specs:
            if spec.code is None:
                raise UserError(
                    f"{spec.shown}: no code_configuration; a no-code (MLflow) deployment is not"
                    " served locally yet: add code_configuration (a score.py) and environment"
                )
        self.host = host
        self.port = port or free_port()
        if not port_free(host, self.port):
            raise UserError(f"PORT={self.port}: that port is in use on {host}; pick another PORT=")
        self.runtime = runtime
        self.servers: Dict[str, DeploymentServer] = {}
        self.targets: Dict[str, Target] = {}
        self.stop_event = threading.Event()
        self.gateway: Optional[Gateway] = None
        self.http: Optional[GatewayServer] = None
        self.key = secrets.token_urlsafe(32)
        self.run_dir: Optional[Path] = None
        self._log_lock = threading.Lock()
        self._log_handle: Optional[TextIO] = None

    # --- set-up -------------------------------------------------------------------------

    def log(self, line: str) -> None:
        """One line in the gateway's log (gateway.log in the run folder), written at once
        (line buffered; the file stays open: one write per request, not open + close)."""
        if self.run_dir is None:
            return
        stamp = time.strftime("%H:%M:%S")
        with self._log_lock:
            if self._log_handle is None:
                self._log_handle = open(
                    self.run_dir / "gateway.log", "a", encoding="utf-8", buffering=1
                )
            self._log_handle.write(f"{stamp} {line}\n")

    def _kind(self) -> str:
        if self.runtime != "auto":
            return self.runtime
        from amlops.local.images import DockerUnavailable, check_engine

        try:
            check_engine()
        except DockerUnavailable as err:
            say(f"{err}: serving in venvs instead (RUNTIME=venv)")
            return "venv"
        return "docker"

    def _server(self, kind: str, spec: DeploymentSpec) -> DeploymentServer:
        assert self.run_dir is not None
        cls = DockerServer if kind == "docker" else VenvServer
        server = cls(self.project, self.endpoint.name, spec, self.models[spec.name], self.run_dir)
        if kind == "docker" and self.runtime == "auto":
            from amlops.local.images import DockerUnavailable

            try:
                server.prepare()
            except DockerUnavailable as err:
                say(f"{spec.name}: {err}: serving it in a venv instead")
                server = VenvServer(
                    self.project, self.endpoint.name, spec, self.models[spec.name], self.run_dir
                )
                server.prepare()
        else:
            server.prepare()
        return server

    def start(self) -> None:
        """Prepare and start every server and the gateway. Raises UserError (after
        stopping what started) when a server cannot start."""
        from amlops.runs import unique_folder

        self.run_dir = unique_folder(endpoint_runs(self.project, self.endpoint.folder.name))
        key_file = self.run_dir / KEY_FILE
        key_file.write_text(self.key + "\n", encoding="utf-8")
        os.chmod(key_file, 0o600)
        for spec in self.specs:
            for line in laptop_limits(spec):
                say(line)
            say(model_line(self.project, spec.name, self.models[spec.name]))
        kind = self._kind()
        try:
            for spec in self.specs:
                server = self._server(kind, spec)
                if server.notice:
                    say(f"{spec.name}: {server.notice}")
                self.servers[spec.name] = server
            for spec in self.specs:
                server = self.servers[spec.name]
                server.start(free_port())
                self.targets[spec.name] = Target(spec, server.port)
                self.log(f"{spec.name}: {server.describe()} on port {server.port}")
            pinned = self.specs[0].name if self.pinned else ""
            self.gateway = Gateway(self.endpoint, self.targets, self.key, self.log, pinned=pinned)
            for spec in self.specs:
                Probes(
                    self.servers[spec.name], self.targets[spec.name], self.log, self.stop_event
                ).start()
            try:
                self.http = start_gateway(self.gateway, self.host, self.port)
            except OSError as err:
                raise UserError(
                    f"PORT={self.port}: cannot listen on {self.host} ({err.strerror});"
                    " pick another PORT="
                )
        except BaseException:
            self.stop()
            raise

    def wait_ready(self) -> None:
        """Until every deployment is ready; UserError (everything stopped) when a server
        exits first or is not ready by Azure's deadline."""
        deadline = (
            time.monotonic()
            + max(
                s.readiness_probe.initial_delay
                + s.readiness_probe.failure_threshold * s.readiness_probe.period
                for s in self.specs
            )
            + 5
        )
        try:
            while not all(t.ready for t in self.targets.values()):
                for name, server in self.servers.items():
                    if not server.alive():
                        raise UserError(server.failure())
                if time.monotonic() > deadline:
                    late = [n for n, t in self.targets.items() if not t.ready]
                    raise UserError(
                        f"deployment {', '.join(late)} not ready in time (its readiness probe);"
                        f" log: {self.project.relative(self.servers[late[0]].log)}"
                    )
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def write_state(self) -> Path:
        """serving.json: url, key file, deployments, pid (for make invoke)."""
        assert self.run_dir is not None
        path = state_path(self.project, self.endpoint.folder.name)
        state = {
            "endpoint": self.endpoint.name,
            "scoring_uri": self.scoring_uri,
            "url": f"http://{self.host}:{self.port}",
            "key_file": str(self.run_dir / KEY_FILE),
            "auth_mode": self.endpoint.auth_mode,
            "deployments": {n: s.runtime for n, s in self.servers.items()},
            "run_dir": str(self.run_dir),
            "pid": os.getpid(),
        }
        path.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        return path

    @property
    def scoring_uri(self) -> str:
        return f"http://{self.host}:{self.port}/score"

    # --- tear-down ----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the gateway, every server and container; remove serving.json (when ours)."""
        self.stop_event.set()
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
            self.http = None
        for server in self.servers.values():
            server.begin_stop()  # all at once, then wait for each
        for server in self.servers.values():
            server.stop()
        path = state_path(self.project, self.endpoint.folder.name)
        try:
            if path.is_file() and json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass
        if self.gateway is not None and self.run_dir is not None:
            self.log(f"stopped; requests served: {summary(self.gateway)}")
        with self._log_lock:
            if self._log_handle is not None:
                self._log_handle.close()
                self._log_handle = None


def serve(project: Project, name: str, deployment: str, model: str, port: int, runtime: str) -> int:
    """The serve command: start, print where it answers, run until Ctrl-C / SIGTERM."""
    endpoint = load_endpoint(project, name)
    local = LocalEndpoint(project, endpoint, deployment, model, port, runtime)
    try:
        local.start()
        say(f"starting {', '.join(local.servers)} (logs: {project.relative(local.run_dir)})")
        local.wait_ready()
        local.write_state()
        where = " ".join(f"{n}={s.runtime}" for n, s in local.servers.items())
        print(f"endpoint {endpoint.name} ready ({where})", flush=True)
        print(f"scoring URI: {local.scoring_uri}", flush=True)
        if local.gateway and local.gateway.auth:
            print(f"key: {local.key}", flush=True)
        print(
            f"try: make invoke ENDPOINT={endpoint.folder.name}  (Ctrl-C stops the endpoint)",
            flush=True,
        )
        while True:  # the probes' threads watch the servers; this one waits for a signal
            time.sleep(1)
    except KeyboardInterrupt:
        say("stopping the endpoint")
        return 0
    finally:
        local.stop()
