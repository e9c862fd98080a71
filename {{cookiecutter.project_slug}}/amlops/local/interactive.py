"""`make terminal` / `make jupyter`: the experiment image with the same mounts as `make local`."""

import os
import subprocess
from pathlib import Path
from typing import List, Tuple

from amlops.console import say
from amlops.local.images import engine_required
from amlops.local.procs import INTERRUPTED
from amlops.local.resolve import CODE_MOUNT
from amlops.local.run import job_environment, prepare_run
from amlops.local.runtimes.docker import DockerRuntime
from amlops.project import Project
from amlops.runs import RunRecord
from amlops.spec.job import load_experiment


def jupyter_image(runtime: DockerRuntime) -> str:
    """The experiment image plus JupyterLab, so the cloud image stays lean."""
    return runtime.with_packages("jupyter", ["jupyterlab"])


def interactive_argv(
    project: Project, experiment: str, what: str, command: str, port: str
) -> List[str]:
    """The full `docker run` line for a terminal or Jupyter session."""
    return session(project, experiment, what, command, port)[0]


def session(
    project: Project, experiment: str, what: str, command: str, port: str
) -> Tuple[List[str], Path]:
    """(the `docker run` line of a terminal or Jupyter session, its run folder)."""
    spec = load_experiment(project, experiment)
    runtime = DockerRuntime(project, spec)
    with engine_required(what):
        runtime.prepare()
        image = jupyter_image(runtime) if what == "jupyter" else runtime.tag
    run_dir, job = prepare_run(project, spec, {}, in_container=True)
    env = job_environment(project, spec)
    argv = runtime.docker_argv(job, run_dir, env, interactive=True)
    if what == "jupyter":
        argv += ["-p", f"{port}:8888", image, "jupyter", "lab", "--ip=0.0.0.0"]
        argv += ["--port=8888", "--no-browser", f"--ServerApp.root_dir={CODE_MOUNT}"]
        # The container runs as the caller's uid (docker_argv's --user), which is root
        # wherever `make terminal` opens a root shell (CI, dev containers): Jupyter
        # refuses root without this flag, which changes nothing for any other user.
        argv.append("--allow-root")
    else:
        argv += [image, "bash"] + (["-c", command] if command else [])
    outputs = project.relative(run_dir / "outputs")
    say(f"{what} in {image}; inputs under /mnt/inputs (read-only), outputs in {outputs}")
    return argv, run_dir


def run_interactive(project: Project, experiment: str, what: str, command: str, port: str) -> int:
    """Run the session in the foreground and return its exit code. Its run folder gets a
    run.json (kind terminal or jupyter), so make runs lists the session that make prune
    counts among the experiment's KEEP newest runs. A Jupyter port in use is one line
    (UserError) before anything is built."""
    if what == "jupyter":
        from amlops.tracking.ui import require_port

        require_port(port, "PORT", "make jupyter")
    argv, run_dir = session(project, experiment, what, command, port)
    env = {**os.environ, **job_environment(project, load_experiment(project, experiment))}
    record = RunRecord(run_dir, experiment=experiment, kind=what, runtime="docker")
    code = INTERRUPTED
    try:
        code = subprocess.call(argv, env=env, cwd=Path(project.root))
        return code
    finally:  # a stop signal (or a closed terminal) must not leave the container running
        name = argv[argv.index("--name") + 1]
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        record.finish(code, "interrupted" if code == INTERRUPTED else "")
