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
from _common import bake_default, interleaved, report, run, scratch  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
BASE_IMAGE = os.environ.get("TEST_BASE_IMAGE", "amlops-test-base:bookworm")


def engine_ready() -> bool:
    ok = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True)
    return ok.returncode == 0


def main() -> None:
    project = bake_default(scratch())
    docker = engine_ready()
    env = {"EXP": "train", "RUNTIME": "docker" if docker else "venv"}
    if docker:
        env.update(BASE_IMAGE=BASE_IMAGE, DOCKER_BUILD_ARGS="--network host")
    make = ["make", "-s", "local", f"PYTHON={sys.executable}"]
    run(make, project, env)  # warm: image (or venv) built once, not timed
    last = sorted((project / ".runs" / "train").iterdir())[-1]
    record = json.loads((last / "run.json").read_text())
    out = project / "bench-out"
    out.mkdir()
    if docker:
        tag = record["environment"].split()[-1]
        bare = ["docker", "run", "--rm", "--user", f"{os.getuid()}:{os.getgid()}"]
        bare += ["-v", f"{last / 'src'}:/mnt/code", "-w", "/mnt/code", "-e", "HOME=/tmp"]
        bare += ["-v", f"{project / 'data/wine'}:/mnt/inputs/data:ro"]
        bare += ["-v", f"{out}:/mnt/outputs/model", tag, "bash", "-c", record["command"]]
        baseline = "bare docker run"
    else:
        venv = record["environment"].split()[-1]
        command = record["command"].replace(record["outputs"]["model"], str(out))
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
