"""Per-step overhead as pipelines grow: a generated 100-step DAG, cold and no-op, ours
(`make pipeline-local`, venv runtime) against DVC (`dvc repro`) on the same DAG.

Ten layers of ten steps; each step of a layer reads two steps of the layer before
(the same tiny step script as pipeline_local.py: sum the inputs' value.txt, add one).
The 100 experiments have the same (empty) requirements, so they share one venv, which
is built before timing. A third figure runs the 100 step commands one after another
from a shell script: what the steps cost without any orchestrator, so
(ours - bare) / 100 is our overhead per step.

Baseline: DVC. Goals: ours at or below DVC, cold and no-op."""

import shutil
import sys
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    bake_default,
    dvc_command,
    dvc_version,
    interleaved,
    machine_note,
    report,
    rounds,
    run,
    scratch,
    sized,
)
from pipeline_local import (  # noqa: E402
    QUIET_PYTHON,
    TRACKING,
    write_dvc_yaml,
    write_experiments,
    write_pipeline,
)

ROUNDS = rounds(3)
LAYERS, WIDTH = sized((10, 10), (2, 2))  # quick mode (BENCH_QUICK=1): 4 steps


def dag() -> Dict[str, List[str]]:
    steps: Dict[str, List[str]] = {}
    for layer in range(LAYERS):
        for k in range(WIDTH):
            upstream = []
            if layer:
                upstream = [f"s{layer - 1}{k}", f"s{layer - 1}{(k + 1) % WIDTH}"]
            steps[f"s{layer}{k}"] = upstream
    return steps


def bare_script(project: Path, python: str, steps: Dict[str, List[str]]) -> Path:
    """The 100 step commands in topological order, as one shell script."""
    lines = ["set -e", "cd src", "rm -rf ../bare-out"]
    for step, upstream in steps.items():
        flags = "".join(f" --inp ../bare-out/{source}" for source in upstream)
        lines.append(f"{python} -m {step}.main{flags} --out ../bare-out/{step}")
    script = project / "bare.sh"
    script.write_text("\n".join(lines) + "\n")
    return script


def main() -> None:
    print(machine_note())
    steps = dag()
    project = bake_default(scratch())
    shutil.rmtree(project / "src" / "train")  # only the generated experiments
    shutil.rmtree(project / "src" / "prepare")
    for old in (project / "pipelines").glob("*.yaml"):
        old.unlink()
    write_experiments(project, steps)
    write_pipeline(project, steps)
    env = {"RUNTIME": "venv", "PIPELINE": "bench", "VENV_DIR": str(project / ".runs" / ".venvs")}
    env.update(TRACKING)  # quick mode: untracked, as in pipeline_local.py
    ours = ["make", "--no-print-directory", "pipeline-local", f"PYTHON={sys.executable}"]
    run(ours, project, env)  # builds the one shared venv; not timed
    venvs = [p for p in (project / ".runs" / ".venvs").iterdir() if p.is_dir() and p.name[0] != "."]
    print(f"venvs built for {len(steps)} experiments: {len(venvs)}")
    python = str(venvs[0] / "bin" / "python")
    write_dvc_yaml(project, python, steps)
    script = bare_script(project, python, steps)
    dvc = dvc_command()
    run(dvc + ["init", "--no-scm", "-q"], project)
    print(f"baseline: dvc {dvc_version(dvc)}")

    def ours_cold(jobs: str) -> None:
        for folder in ("pipelines", ".reuse"):
            shutil.rmtree(project / ".runs" / folder, ignore_errors=True)
        run(ours + [f"JOBS={jobs}"], project, env)

    def dvc_cold() -> None:
        for path in (project / "dvc-out", project / ".dvc" / "cache"):
            shutil.rmtree(path, ignore_errors=True)
        (project / "dvc.lock").unlink(missing_ok=True)
        run(dvc + ["repro", "-q"], project, QUIET_PYTHON)

    cold = interleaved(
        {
            "dvc repro (baseline)": dvc_cold,
            "bare shell script (no orchestrator)": lambda: run(
                ["bash", str(script)], project, QUIET_PYTHON
            ),
            "make pipeline-local (JOBS=1)": lambda: ours_cold("1"),
            "make pipeline-local (JOBS=2)": lambda: ours_cold("2"),
        },
        ROUNDS,
    )
    report(f"(1) cold run of {len(steps)} steps, {ROUNDS} rounds", cold, "dvc repro (baseline)")
    noop = interleaved(
        {
            "dvc repro (baseline)": lambda: run(dvc + ["repro", "-q"], project, QUIET_PYTHON),
            "make pipeline-local": lambda: run(ours, project, env),
        },
        ROUNDS,
    )
    report(f"(2) no-op rerun of {len(steps)} steps, {ROUNDS} rounds", noop, "dvc repro (baseline)")
    bare = cold["bare shell script (no orchestrator)"]
    n = len(steps)
    print(
        f"\nper step: cold (JOBS=1) {cold['make pipeline-local (JOBS=1)'] / n * 1000:.0f} ms, of"
        f" which overhead over the bare command"
        f" {(cold['make pipeline-local (JOBS=1)'] - bare) / n * 1000:.0f} ms"
        f" (dvc: {(cold['dvc repro (baseline)'] - bare) / n * 1000:.0f} ms);"
        f" no-op {noop['make pipeline-local'] / n * 1000:.1f} ms"
        f" (dvc: {noop['dvc repro (baseline)'] / n * 1000:.1f} ms)"
    )
    dvc_cold = cold["dvc repro (baseline)"]
    print(
        f"ratios against dvc: cold {cold['make pipeline-local (JOBS=2)'] / dvc_cold:.2f}"
        f" (JOBS=2), {cold['make pipeline-local (JOBS=1)'] / dvc_cold:.2f}"
        f" (JOBS=1); no-op {noop['make pipeline-local'] / noop['dvc repro (baseline)']:.2f}"
        " (goal <= 1)"
    )
    shutil.rmtree(project.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
