"""Overhead of `make local` over a bare `docker run` of the same command (warm image).

Baseline: `docker run` with the same image, mounts and command, typed by hand.
Target: ratio <= 1.15. Also prints `python -m amlops --help` time and the Azure
modules the local path imports (must be none). Without a Docker engine, compares
the venv runtime with running the command in that venv directly.

Then the fixed cost of a venv run (issue 23.2): a do-nothing job (`python -c pass`,
the sample's environment, so a venv of ~10,000 files) run by `make local RUNTIME=venv`
on a ready venv, against `python -c pass` in that same venv, both started under
setsid, rounds interleaved, CPU seconds beside wall seconds. Target: at most 0.15 s of
CPU over the bare command with TRACKING=0. With tracking on, the host also imports
MLflow (its file store) and asks git for the commit: measured and printed apart, not
hidden. A per-part breakdown (benchmarks/_venv_parts.py, medians of fresh processes)
says where the CPU goes, with what the skipped checks would cost for reference.
Python's bytecode cache is on for these runs (PYTHONDONTWRITEBYTECODE removed), as a
user's machine has it: without it every run compiles amlops again.

BENCH_BASELINE_AMLOPS=<folder> (an amlops package folder of another version, e.g. from
`git worktree add /tmp/main main`: /tmp/main/{{cookiecutter.project_slug}}/amlops) adds a
side to the same interleaved rounds: the do-nothing run in a copy of the project with
that amlops (same venv), so a change's before/after figures come from one run."""

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    QUICK,
    REPO,
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
    if QUICK:  # untracked: tracked runs are the second part's (venv_overhead) TRACKING=1 ones
        env["TRACKING"] = "0"
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
    venv_overhead(project)


NOOP_JOB = """$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
code: .
command: python -c pass
environment:
  build:
    path: docker
"""
TARGET = 0.15  # CPU seconds over the bare command, TRACKING=0 (issue 23.2)


def venv_overhead(project: Path) -> None:
    """The do-nothing venv run's fixed cost: figures, ratios and a per-part breakdown."""
    noop = project / "src" / "noop"
    noop.mkdir()
    (noop / "job.yaml").write_text(NOOP_JOB)
    if QUICK:  # an empty venv: nothing to install
        (noop / "docker").mkdir()
        (noop / "docker" / "Dockerfile").write_text(TINY_DOCKERFILE)
        (noop / "docker" / "requirements.txt").write_text("")
    else:  # the sample's environment: the venv the issue measured (~10,000 files)
        shutil.copytree(project / "src" / "train" / "docker", noop / "docker")
    # Bytecode cached as on a user's machine (CI and tests turn it off).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    venvs = scratch() / "venvs"
    env = {"EXP": "noop", "RUNTIME": "venv", "VENV_DIR": str(venvs)}
    make = ["make", "-s", "local", f"PYTHON={sys.executable}"]
    run(make, project, {**env, "TRACKING": "0"})  # builds the venv, compiles bytecode
    if not QUICK:  # quick mode: the timed TRACKING=1 run makes the store
        run(make, project, {**env, "TRACKING": "1"})  # the tracking store exists
    (venv,) = [p for p in venvs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    bare = "python -c pass in the venv (setsid)"
    off = "make local RUNTIME=venv TRACKING=0"
    on = "make local RUNTIME=venv TRACKING=1"
    host = "host python -c pass (amlops' interpreter)"
    sides = {
        bare: lambda: run([str(venv / "bin" / "python"), "-c", "pass"], project),
        off: lambda: run(make, project, {**env, "TRACKING": "0"}),
        on: lambda: run(make, project, {**env, "TRACKING": "1"}),
        host: lambda: run([sys.executable, "-c", "pass"], project),
    }
    baseline = os.environ.get("BENCH_BASELINE_AMLOPS", "")
    before = f"make local RUNTIME=venv TRACKING=0 (amlops of {baseline})"
    if baseline:
        other = scratch() / project.name
        shutil.copytree(project, other, symlinks=True, ignore=shutil.ignore_patterns(".runs"))
        shutil.rmtree(other / "amlops")
        shutil.copytree(baseline, other / "amlops", ignore=shutil.ignore_patterns("__pycache__"))
        run(make, other, {**env, "TRACKING": "0"})  # its bytecode and caches, as for ours
        sides[before] = lambda: run(make, other, {**env, "TRACKING": "0"})
    figures = interleaved(sides, ROUNDS)
    report(f"do-nothing venv run, {ROUNDS} rounds", figures, bare)
    cpu = figures.cpu
    parts_runs = []
    for _ in range(ROUNDS):
        script = str(REPO / "benchmarks" / "_venv_parts.py")
        out = run([sys.executable, script], project, {**env, "TRACKING": "0"})
        parts_runs.append(json.loads(out.strip().splitlines()[-1]))
    print(f"\n  where the CPU of one TRACKING=0 run goes (median of {ROUNDS} fresh processes):")
    print(f"    {'interpreter start (host python -c pass)':<62} {cpu[host]:7.3f} s")
    for name in parts_runs[0]:
        value = statistics.median(r[name] for r in parts_runs)
        print(f"    {name:<62} {value:7.3f} s")
    rest = "the rest of the make local figure: make, exits, noise between runs"
    print(f"    {rest:<62}", end=" ")
    inside = sum(
        statistics.median(r[n] for r in parts_runs) for n in parts_runs[0] if "ref:" not in n
    )
    print(f"{cpu[off] - cpu[host] - inside:7.3f} s")
    print(
        f"  tracking on adds {cpu[on] - cpu[off]:.3f} s of CPU: the host imports MLflow's"
        " file store to record the run (and asks git for the commit); TRACKING=0 skips both"
    )
    overhead = cpu[off] - cpu[bare]
    print(
        f"  summary: do-nothing venv run CPU overhead (TRACKING=0) {overhead:.3f} s over"
        f" the bare command (target <= {TARGET}); tracking on {cpu[on] - cpu[bare]:.3f} s"
    )
    if baseline:
        print(
            f"  baseline amlops ({baseline}): CPU overhead (TRACKING=0)"
            f" {cpu[before] - cpu[bare]:.3f} s over the bare command, this amlops"
            f" {overhead:.3f} s, same rounds"
        )


if __name__ == "__main__":
    main()
