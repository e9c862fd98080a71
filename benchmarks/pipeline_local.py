"""`make pipeline-local` against DVC (`dvc repro`) on the same 10-step pipeline.

The pipeline is generated: ten tiny experiments s0..s9 wired as a DAG of width
three (s0 -> s1 s2 s3 -> s4 s5 s6 -> s7 -> s8 s9); each step sums its inputs'
value.txt and adds one. Ours runs it with the venv runtime; DVC runs the same
scripts (`python -m sN.main` from src/, same venv interpreter) from an
equivalent dvc.yaml. Both start with their environment built; every figure is
the median of interleaved rounds.

Baseline: DVC. Goals: ours at or below DVC on (1) a cold run, (2) a no-op
rerun, (3) a rerun after one step changed; and the no-op rerun under 1 s. The
same DAG written as a native Azure ML pipeline file (inline command nodes) must
cost the same as the shorthand: its ratio to the shorthand is printed too.
DVC comes from PyPI into build/bench/dvc-venv (or set DVC=/path/to/dvc)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    QUICK,
    bake_default,
    dvc_command,
    interleaved,
    machine_note,
    report,
    rounds,
    run,
    scratch,
    sized,
)

ROUNDS = rounds(5)
FULL_DAG: Dict[str, List[str]] = {
    "s0": [],
    "s1": ["s0"],
    "s2": ["s0"],
    "s3": ["s0"],
    "s4": ["s1", "s2"],
    "s5": ["s2", "s3"],
    "s6": ["s3"],
    "s7": ["s4", "s5", "s6"],
    "s8": ["s7"],
    "s9": ["s7"],
}
# Quick mode (BENCH_QUICK=1): s4 (the changed one), its inputs s1 and s2 (parallel with
# JOBS=2) and their input s0.
UPSTREAM = sized(FULL_DAG, {step: FULL_DAG[step] for step in ("s0", "s1", "s2", "s4")})
# Quick mode: runs untracked (TRACKING=0): MLflow's import, ~1.5 s of CPU a run, would be
# most of it, and tracking is not what this benchmark runs (tracking_store.py is).
TRACKING = sized({}, {"TRACKING": "0"})
# DVC hashes src/<step> in place: no __pycache__ may appear there between runs.
QUIET_PYTHON = {"PYTHONDONTWRITEBYTECODE": "1"}
CHANGED = "s4"  # the one-step change: s4 and its downstream s7, s8, s9 re-run
SCRIPT = '''"""Benchmark step: out/value.txt = sum of the inputs' value.txt + ADD."""

import argparse
from pathlib import Path

ADD = 1

parser = argparse.ArgumentParser()
parser.add_argument("--inp", action="append", default=[])
parser.add_argument("--out", required=True)
args = parser.parse_args()
total = sum(int(Path(folder, "value.txt").read_text()) for folder in args.inp)
Path(args.out).mkdir(parents=True, exist_ok=True)
Path(args.out, "value.txt").write_text(str(total + ADD))
'''


def write_experiments(project: Path, dag: Dict[str, List[str]] = UPSTREAM) -> None:
    """src/sN/ with the step script, a job.yaml, and no requirements."""
    for step, upstream in dag.items():
        folder = project / "src" / step
        (folder / "docker").mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        (folder / "main.py").write_text(SCRIPT)
        (folder / "docker" / "requirements.txt").write_text("")
        (folder / "docker" / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
        inputs = [f"in{i}" for i in range(len(upstream))]
        flags = "".join(f" --inp ${{{{inputs.{name}}}}}" for name in inputs)
        declared = "".join(f"  {name}:\n    type: uri_folder\n" for name in inputs)
        (folder / "job.yaml").write_text(
            "type: command\ncode: ..\n"
            f"command: python -m {step}.main{flags} --out ${{{{outputs.out}}}}\n"
            "environment:\n  build:\n    path: docker\n"
            + (f"inputs:\n{declared}" if declared else "")
            + "outputs:\n  out:\n    type: uri_folder\n"
        )


def write_pipeline(project: Path, dag: Dict[str, List[str]] = UPSTREAM) -> None:
    lines = ["settings:\n  continue_on_step_failure: true\njobs:\n"]
    for step, upstream in dag.items():
        lines.append(f"  {step}:\n    experiment: {step}\n")
        if upstream:
            lines.append("    inputs:\n")
            for i, source in enumerate(upstream):
                lines.append(f"      in{i}: ${{{{parent.jobs.{source}.outputs.out}}}}\n")
    (project / "pipelines" / "bench.yaml").write_text("".join(lines))


def write_native_pipeline(project: Path, dag: Dict[str, List[str]] = UPSTREAM) -> None:
    """The same DAG as a native Azure ML pipeline job: inline command nodes running the
    same scripts in the same environments."""
    lines = [
        "$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\n"
        "type: pipeline\nsettings:\n  continue_on_step_failure: true\njobs:\n"
    ]
    for step, upstream in dag.items():
        inputs = [f"in{i}" for i in range(len(upstream))]
        flags = "".join(f" --inp ${{{{inputs.{name}}}}}" for name in inputs)
        lines.append(
            f"  {step}:\n    type: command\n    code: ../src/{step}\n"
            f"    command: python main.py{flags} --out ${{{{outputs.out}}}}\n"
            f"    environment:\n      build:\n        path: ../src/{step}/docker\n"
            "    outputs:\n      out:\n        type: uri_folder\n"
        )
        if upstream:
            lines.append("    inputs:\n")
            for name, source in zip(inputs, upstream):
                lines.append(f"      {name}: ${{{{parent.jobs.{source}.outputs.out}}}}\n")
    (project / "pipelines" / "native.yaml").write_text("".join(lines))


def write_dvc_yaml(project: Path, python: str, dag: Dict[str, List[str]] = UPSTREAM) -> None:
    """The same DAG for DVC: each stage depends on its code, common/ and its inputs."""
    stages = {}
    for step, upstream in dag.items():
        flags = "".join(f" --inp ../dvc-out/{source}" for source in upstream)
        stages[step] = {
            "cmd": f"{python} -m {step}.main{flags} --out ../dvc-out/{step}",
            "wdir": "src",
            "deps": [step, "common"] + [f"../dvc-out/{source}" for source in upstream],
            "outs": [f"../dvc-out/{step}"],
        }
    (project / "dvc.yaml").write_text(json.dumps({"stages": stages}, indent=2))


def venv_python(project: Path, env: Dict[str, str]) -> str:
    """The interpreter of the venv our runtime built (DVC runs the scripts with it)."""
    run([sys.executable, "-m", "amlops", "pipeline-local"], project, env)
    record = json.loads(
        next((project / ".runs" / "pipelines" / "bench").glob("*/s0/run.json")).read_text()
    )
    return str(project / record["environment"].split()[-1] / "bin" / "python")


def main() -> None:
    print(machine_note())
    project = bake_default(scratch())
    write_experiments(project)
    write_pipeline(project)
    write_native_pipeline(project)
    env = {"RUNTIME": "venv", "PIPELINE": "bench", "VENV_DIR": str(project / ".runs" / ".venvs")}
    env.update(TRACKING)
    python = venv_python(project, env)
    write_dvc_yaml(project, python)
    dvc = dvc_command()
    run(dvc + ["init", "--no-scm", "-q"], project)
    print(f"baseline: dvc {subprocess.check_output(dvc + ['--version'], text=True).strip()}")
    ours = ["make", "--no-print-directory", "pipeline-local", f"PYTHON={sys.executable}"]
    native = ours + ["PIPELINE=native"]
    if not QUICK:  # quick mode: no warm-up (the timed native runs build nothing either)
        run(native, project, env)  # builds nothing new: the same venv

    def ours_cold(argv: List[str]) -> None:
        for folder in ("pipelines", ".reuse"):
            shutil.rmtree(project / ".runs" / folder, ignore_errors=True)
        run(argv, project, env)

    def native_cold() -> None:
        ours_cold(native + ["JOBS=2"])

    def dvc_cold() -> None:
        for path in (project / "dvc-out", project / ".dvc" / "cache"):
            shutil.rmtree(path, ignore_errors=True)
        (project / "dvc.lock").unlink(missing_ok=True)
        run(dvc + ["repro", "-q"], project, QUIET_PYTHON)

    cold = interleaved(
        {
            "dvc repro (baseline)": dvc_cold,
            "make pipeline-local (JOBS=2)": lambda: ours_cold(ours + ["JOBS=2"]),
            "make pipeline-local (JOBS=1)": lambda: ours_cold(ours + ["JOBS=1"]),
            "native pipeline file (JOBS=2)": native_cold,
        },
        ROUNDS,
    )
    report(f"(1) cold run of {len(UPSTREAM)} steps, {ROUNDS} rounds", cold, "dvc repro (baseline)")

    noop = interleaved(
        {
            "dvc repro (baseline)": lambda: run(dvc + ["repro", "-q"], project, QUIET_PYTHON),
            "make pipeline-local": lambda: run(ours, project, env),
            "native pipeline file": lambda: run(native, project, env),
        },
        ROUNDS,
    )
    report(f"(2) no-op rerun, {ROUNDS} rounds", noop, "dvc repro (baseline)")

    script = project / "src" / CHANGED / "main.py"
    version = iter(range(2, 10_000))

    def change_one_step() -> None:
        text = script.read_text()
        script.write_text(
            text.replace(text[text.index("ADD = ") :].split("\n")[0], f"ADD = {next(version)}")
        )

    def changed(argv: List[str], extra: Dict[str, str]) -> None:
        change_one_step()
        run(argv, project, extra)

    one = interleaved(
        {
            "dvc repro (baseline)": lambda: changed(dvc + ["repro", "-q"], QUIET_PYTHON),
            "make pipeline-local": lambda: changed(ours, env),
            "native pipeline file": lambda: changed(native, env),
        },
        ROUNDS,
    )
    report(
        f"(3) rerun after {CHANGED} changed (re-runs it and its downstream steps),"
        f" {ROUNDS} rounds",
        one,
        "dvc repro (baseline)",
    )
    latest = sorted((project / ".runs" / "pipelines" / "bench").glob("*/pipeline.json"))
    record = json.loads(max(latest, key=lambda p: json.loads(p.read_text())["started"]).read_text())
    reran = sorted(n for n, s in record["steps"].items() if s["state"] == "completed")
    print(f"  steps our last one-step rerun ran: {', '.join(reran)}")
    print(
        f"  no-op rerun: {noop['make pipeline-local']:.3f} s (goal < 1 s); ratios against DVC:"
        f" cold {cold['make pipeline-local (JOBS=2)'] / cold['dvc repro (baseline)']:.2f},"
        f" no-op {noop['make pipeline-local'] / noop['dvc repro (baseline)']:.2f},"
        f" one step {one['make pipeline-local'] / one['dvc repro (baseline)']:.2f} (goal <= 1)"
    )
    print(
        "  the same DAG as a native pipeline file, ratio to the shorthand (goal ~1):"
        f" cold {cold['native pipeline file (JOBS=2)'] / cold['make pipeline-local (JOBS=2)']:.2f},"
        f" no-op {noop['native pipeline file'] / noop['make pipeline-local']:.2f},"
        f" one step {one['native pipeline file'] / one['make pipeline-local']:.2f};"
        " to DVC:"
        f" cold {cold['native pipeline file (JOBS=2)'] / cold['dvc repro (baseline)']:.2f},"
        f" no-op {noop['native pipeline file'] / noop['dvc repro (baseline)']:.2f},"
        f" one step {one['native pipeline file'] / one['dvc repro (baseline)']:.2f}"
    )


if __name__ == "__main__":
    main()
