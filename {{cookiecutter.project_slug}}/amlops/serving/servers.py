"""One inference server process per deployment: Azure ML's own `azmlinfsrv`
(azureml-inference-server-http on PyPI), started as a managed online deployment starts it.

Both runtimes set what Azure ML sets (azure-ai-ml _local_endpoints/azureml_image_context.py):
AZUREML_MODEL_DIR (the model's <name>/<version> folder), AML_APP_ROOT (the code folder plus
the scoring script's own folder), AZUREML_ENTRY_SCRIPT (the script's file name), then the
deployment's environment_variables.
- venv: the environment's pip packages (amlops.local.environments.venv_recipe) plus
  azureml-inference-server-http, in a venv shared by content (amlops.local.venvs); the
  model is linked under the run folder's azureml-models/<name>/<version>/.
- docker: the environment's image (amlops.local.runtimes.docker.DockerRuntime: build,
  image + conda, curated), the code mounted at /var/azureml-app/<code folder>/, the model
  at /var/azureml-app/azureml-models/<name>/<version>/<model>, port 5001 published on a
  free host port (or, where the engine has no bridge network, the host's network with
  the server on that port, said in one line)."""

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Set, Tuple

from amlops.console import say
from amlops.errors import UserError
from amlops.local.procs import telling_line
from amlops.project import Project
from amlops.serving.model import ServedModel, model_dir_link
from amlops.spec.endpoints import DeploymentSpec
from amlops.spec.job import JobSpec

if TYPE_CHECKING:
    from amlops.local.venvs import Venv

SERVER_PACKAGE = "azureml-inference-server-http"
APP_ROOT = "/var/azureml-app"
CONTAINER_PORT = 5001
# The user's exception in a server log, not the server's wrapper around it.
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b:? ?.*$")
WRAPPER = "Caught an unhandled exception from the user script"


def _die_with_parent() -> None:
    """In the child before exec: prctl(PR_SET_PDEATHSIG, SIGKILL) (Linux)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Failures with a known cause, and the fix that works both here and in Azure ML.
KNOWN_CAUSES = {
    "No module named 'pkg_resources'": (
        "setuptools 82 and later have no pkg_resources, and the conda environment Azure"
        " ML builds gets the newest setuptools too: pin `setuptools<82` among the conda"
        " file's packages, or upgrade the package that imports it (gunicorn 20, which"
        " azureml-defaults 1.x brings)"
    ),
}


def failure_line(log: Path) -> str:
    """Why a server stopped: the user's exception from its log (init() raising, a script
    without run()), else the log's telling line; a failure of KNOWN_CAUSES gets its fix."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    found = [
        line.strip()
        for line in text.splitlines()
        if EXCEPTION_LINE.match(line.strip()) and WRAPPER not in line
    ]
    line = found[-1] if found else telling_line(text, "no output")
    fixes = [fix for cause, fix in KNOWN_CAUSES.items() if cause in line]
    return f"{line} ({fixes[0]})" if fixes else line


def job_view(deployment: DeploymentSpec, endpoint: str) -> JobSpec:
    """The deployment seen as a job of its environment, so the environment recipes jobs
    use (venv and Docker) serve it unchanged."""
    if deployment.environment is None:
        raise UserError(
            f"{deployment.where('name')}: no environment: and no code_configuration; a"
            " no-code (MLflow) deployment is not served locally yet: add code_configuration"
            " (a score.py) and environment"
        )
    return JobSpec(
        file=deployment.file,
        shown_as=deployment.shown,
        command="azmlinfsrv",
        environment=deployment.environment,
        environment_variables=dict(deployment.environment_variables),
        raw=deployment.raw,
        name=f"{endpoint}-{deployment.name}".lower(),
    )


def environments_in_use(project: Project) -> Tuple[List[JobSpec], Set[str]]:
    """What `make serve` of each endpoint folder would use, for `make prune` to keep:
    (each deployment's job view, whose Docker image tag it names; the names of the venvs
    VenvServer builds, its environment's packages plus the server). An endpoint or
    deployment that does not read keeps nothing (make validate names its problem)."""
    from amlops.spec.endpoints import endpoint_names, load_endpoint

    jobs: List[JobSpec] = []
    venvs: Set[str] = set()
    for name in endpoint_names(project):
        try:
            endpoint = load_endpoint(project, name)
        except UserError:
            continue
        for deployment in endpoint.deployments.values():
            try:
                job = job_view(deployment, name)
                venv, _ = deployment_venv(project, job)
            except UserError:
                continue
            jobs.append(job)
            venvs.add(venv.path.name)
    return jobs, venvs


def deployment_venv(project: Project, job: JobSpec) -> "Tuple[Venv, str]":
    """The venv a deployment is served from (its environment's packages plus the server,
    see server_requirements) and the environment's notice ("" when none), from the
    deployment's job view. One place for `make serve` and `make prune`, so the venv prune
    keeps is the one serve builds. Raises UserError when the environment cannot be read."""
    from amlops.local.environments import venv_recipe
    from amlops.local.venvs import venv_for

    recipe = venv_recipe(project, job)
    lines = server_requirements(recipe.requirement_lines)
    venv = venv_for(project, lines, recipe.base_dir, source=recipe.source or SERVER_PACKAGE)
    return venv, recipe.notice


def server_requirements(lines: List[str]) -> List[str]:
    """An environment's requirement lines plus azureml-inference-server-http unless they
    name it: what Azure's inference images carry."""
    lines = list(lines)
    if not any(SERVER_PACKAGE in line.lower() for line in lines):
        lines.append(SERVER_PACKAGE)
    return lines


class DeploymentServer:
    """A deployment's server: `prepare()` (venv or image), `start(port)`, `alive()`,
    `stop()`. `url` is where it answers on this machine; `log` its output."""

    runtime = ""

    def __init__(
        self,
        project: Project,
        endpoint: str,
        deployment: DeploymentSpec,
        model: Optional[ServedModel],
        run_dir: Path,
    ) -> None:
        self.project = project
        self.endpoint = endpoint
        self.deployment = deployment
        self.model = model
        self.run_dir = run_dir
        self.log = run_dir / f"{deployment.name}.log"
        self.port = 0
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        self.notice = ""

    @property
    def name(self) -> str:
        return self.deployment.name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def failure(self) -> str:
        """One line: why this server stopped (from its log)."""
        code = self.proc.returncode if self.proc is not None else None
        return (
            f"{self.deployment.shown}: deployment {self.name} stopped (exit {code}):"
            f" {failure_line(self.log)}; log: {self.project.relative(self.log)}"
        )

    def scoring_env(self, model_dir: str, code_root: str) -> Dict[str, str]:
        """AZUREML_MODEL_DIR, AML_APP_ROOT, AZUREML_ENTRY_SCRIPT, then the deployment's
        environment_variables (they win, as in Azure ML)."""
        script = Path(self.deployment.scoring_script)
        app_root = code_root if str(script.parent) == "." else f"{code_root}/{script.parent}"
        env = {
            "AZUREML_MODEL_DIR": model_dir,
            "AML_APP_ROOT": app_root,
            "AZUREML_ENTRY_SCRIPT": script.name,
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.deployment.environment_variables)
        return env

    def _spawn(self, argv: List[str], env: Dict[str, str], cwd: Optional[Path] = None) -> None:
        """Start the server in its own session, its output appended to its log. On Linux
        it also gets SIGKILL when the thread that started it dies, so even a `make serve`
        killed with SIGKILL leaves no server behind."""
        handle = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                argv,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=str(cwd) if cwd else None,
                start_new_session=True,  # its own group: stop() reaches gunicorn's workers
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        finally:
            handle.close()

    def begin_stop(self) -> None:
        """Ask the server to stop now (SIGINT: gunicorn's quick shutdown), not waiting."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self) -> None:
        """Stop the server and everything it started (SIGINT, then SIGKILL after 5 s)."""
        proc = self.proc
        if proc is None:
            return
        self.begin_stop()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # it, or workers that outlived their master
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()


class VenvServer(DeploymentServer):
    """azmlinfsrv from a venv holding the environment's pip packages plus the server."""

    runtime = "venv"

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        job = job_view(self.deployment, self.endpoint)
        self.venv, self.notice = deployment_venv(self.project, job)

    def describe(self) -> str:
        return self.venv.describe()

    def prepare(self) -> None:
        why = self.venv.unavailable()
        if why:
            raise UserError(f"RUNTIME=venv: {why}")
        self.venv.prepare()

    def start(self, port: int) -> None:
        self.port = port
        code = self.deployment.code
        assert code is not None
        model_dir = ""
        if self.model is not None:
            model_dir = str(model_dir_link(self.model, self.run_dir / "azureml-models"))
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
        env["PATH"] = f"{self.venv.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env.update(self.scoring_env(model_dir, str(code)))
        script = code / self.deployment.scoring_script
        argv = [str(self.venv.bin_dir / "azmlinfsrv"), "--entry_script", str(script)]
        argv += ["--port", str(port)]
        self._spawn(argv, env, cwd=Path(env["AML_APP_ROOT"]))


def _docker(argv: List[str], timeout: int = 60) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=timeout)


def bridge_network() -> bool:
    """Whether the engine has its default bridge network (ports can be published)."""
    try:
        return _docker(["network", "inspect", "bridge"]).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class DockerServer(DeploymentServer):
    """azmlinfsrv inside the deployment's environment image (see the module docstring)."""

    runtime = "docker"

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        from amlops.local.runtimes.docker import DockerRuntime

        self.image = DockerRuntime(self.project, job_view(self.deployment, self.endpoint))
        self.notice = self.image.notice
        parts = self.run_dir.resolve().relative_to(self.project.runs.resolve()).parts
        self.container = "amlops-" + "-".join(parts + (self.name,)).lower()

    def describe(self) -> str:
        return self.image.describe()

    def prepare(self) -> None:
        self.image.prepare()
        found = _docker(
            ["run", "--rm", "--entrypoint", "sh", self.image.tag, "-c", "command -v azmlinfsrv"]
        )
        if found.returncode != 0:
            raise UserError(
                f"{self.deployment.where('environment')}: image {self.image.tag} has no"
                f" inference server (azmlinfsrv): add {SERVER_PACKAGE} to the environment's"
                " requirements or conda file's pip list, as Azure ML's inference images have it"
            )

    def start(self, port: int) -> None:
        self.port = port
        code = self.deployment.code
        assert code is not None
        code_root = f"{APP_ROOT}/{code.name}"
        argv = ["docker", "run", "--rm", "--name", self.container, "--init"]
        if hasattr(os, "getuid"):
            argv += ["--user", f"{os.getuid()}:{os.getgid()}", "-e", "HOME=/tmp"]
        mounts = [(code, f"{code_root}/")]
        model_dir = ""
        if self.model is not None:
            model_dir = self.model.mount_dir
            mounts.append((self.model.source, f"{model_dir}/{self.model.source.name}"))
        for host, target in mounts:
            argv += ["--mount", f"type=bind,source={host},target={target},readonly"]
        env = self.scoring_env(model_dir, code_root)
        for key in sorted(env):
            argv += ["-e", key]  # values travel in the environment, not in argv
        server_port = CONTAINER_PORT
        if bridge_network():
            argv += ["-p", f"127.0.0.1:{port}:{CONTAINER_PORT}"]
        else:
            server_port = port
            say(
                f"{self.name}: the Docker engine has no bridge network: the container shares"
                f" the host's network and its server listens on {port} instead of 5001"
            )
            argv += ["--network", "host"]
        script = f"{code_root}/{self.deployment.scoring_script}"
        argv += ["-w", env["AML_APP_ROOT"], "--entrypoint", "azmlinfsrv", self.image.tag]
        argv += ["--entry_script", script, "--port", str(server_port)]
        self._spawn(argv, {**os.environ, **env})

    def begin_stop(self) -> None:
        subprocess.Popen(
            ["docker", "rm", "-f", self.container],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        try:
            _docker(["rm", "-f", self.container], timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        super().stop()
        try:
            _docker(["rm", "-f", self.container], timeout=30)  # one created meanwhile
        except (OSError, subprocess.TimeoutExpired):
            pass
