"""Overhead of `make local` over a bare `docker run` of the same command (warm image).

Baseline: `docker run` with the same image, mounts and command, typed by hand.
Target: ratio <= 1.15. Also prints `python -m amlops --help` time and the Azure
modules the local path imports (must be none). Without a Docker engine, compares
the venv runtime with running the command in that venv directly."""

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    QUICK,
    TINY_DOCKERFILE,
    bake_default,
    interleaved,
    machine_note,
    report,
    rounds,
    run,
    run_environment,
    scratch,
)
from pipeline_local import write_experiments  # noqa: E402

ROUNDS = rounds(7)
BASE_IMAGE = os.environ.get("TEST_BASE_IMAGE", "amlops-test-base:bookworm")


def engine_ready() -> bool:
    ok = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True)
    return ok.returncode == 0


def main() -> None:
    print(machine_note())
    project = bake_default(scratch())
    experiment = "train"
    if QUICK:  # a one-step experiment on the bare base image: no requirements to build
        experiment = "s0"
        write_experiments(project, {experiment: []})
        (project / "src" / experiment / "docker" / "Dockerfile").write_text(TINY_DOCKERFILE)
    docker = engine_ready()
    env = {"EXP": experiment, "RUNTIME": "docker" if docker else "venv"}
    if docker:
        env.update(BASE_IMAGE=BASE_IMAGE, DOCKER_BUILD_ARGS="--network host")
    make = ["make", "-s", "local", f"PYTHON={sys.executable}"]
    run(make, project, env)  # warm: image (or venv) built once, not timed
    last = (project / ".runs" / experiment / "latest").resolve()
    record = json.loads((last / "run.json").read_text())
    out = project / "bench-out"
    out.mkdir()
    if docker:
        kind, tag = run_environment(record)
        assert kind == "image", record["environment"]
        # The same mounts as amlops gives the job: code, inputs, outputs and logs (the
        # staged code's logs/ and outputs/ links point at the last two).
        for folder in ("outputs", "logs"):
            (out / folder).mkdir()
        bare = ["docker", "run", "--rm", "--user", f"{os.getuid()}:{os.getgid()}"]
        bare += ["-v", f"{last / 'src'}:/mnt/code", "-w", "/mnt/code", "-e", "HOME=/tmp"]
        bare += ["-e", "PYTHONUNBUFFERED=1", "-e", "AMLOPS_LOG_DIR=/mnt/logs"]
        for name, host in record.get("inputs", {}).items():
            bare += ["-v", f"{host}:/mnt/inputs/{name}:ro"]
        bare += ["-v", f"{out / 'outputs'}:/mnt/outputs", "-v", f"{out / 'logs'}:/mnt/logs"]
        bare += [tag, "bash", "-c", record["command"]]
        baseline = "bare docker run"
    else:
        kind, venv = run_environment(record)
        assert kind == "venv", record["environment"]
        command = record["command"]
        for name, host in record.get("outputs", {}).items():
            command = command.replace(host, str(out / name))
        bare = ["bash", "-c", f". {project / venv}/bin/activate && cd {last / 'src'} && {command}"]
        baseline = "bare command in the venv"
    figures = interleaved(
        {
            baseline: lambda: run(bare, project),
            f"make local ({env['RUNTIME']}, warm)": lambda: run(make, project, env),
            "python -m amlops --help": lambda: run(
                [sys.executable, "-m", "amlops", "--help"], project
            ),
        },
        ROUNDS,
    )
    report(f"local run overhead, {ROUNDS} rounds", figures, baseline)
    ratio = figures[f"make local ({env['RUNTIME']}, warm)"] / figures[baseline]
    print(f"  make local / {baseline}: {ratio:.3f} (target <= 1.15)")
    probe = (
        "import runpy, sys; sys.argv=['amlops','--help'];"
        "\ntry: runpy.run_module('amlops', run_name='__main__')"
        "\nexcept SystemExit: pass"
        "\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'azure'))"
    )
    loaded = (
        subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    print(f"  azure modules imported by python -m amlops --help: {loaded}")


if __name__ == "__main__":
    main()
