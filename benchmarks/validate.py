"""What `make validate` costs against the SDK's own checks of the same files (issue 23.4).

A baked project holds N job files (30; BENCH_QUICK=1: 2): copies of the sample job
(src/train/job.yaml, its main.py and docker/) under distinct experiment and experiment
names; the sample's other experiments, pipeline and endpoint are removed, so the job
files are all there is to check. Timed, in interleaved rounds, each started the same
way (a session of its own):
- cold `make validate OFFLINE=1`: .runs/.cache/validate removed first, so every file is
  checked (our checks, the SDK's load and validation of what `make job` would send);
- baseline: one Python process that imports azure-ai-ml and runs the SDK's own
  `load_job(path)._validate()` on the same N files;
- rerun `make validate OFFLINE=1` with no file changed (the kept results are reused:
  azure-ai-ml is not imported).
Targets: cold at most x1.10 of the baseline; the rerun under 1 s.

Both sides find compiled bytecode, as on a user's machine (`make setup` compiles the
SDK's; Python caches amlops' on first use): every measured process runs with
PYTHONPYCACHEPREFIX set to a scratch folder of this run (written by an untimed warm-up
of each side) and without PYTHONDONTWRITEBYTECODE. Without it, a venv installed with no
bytecode (uv's default) makes both sides compile the whole SDK every time (~4 s of CPU
each), which hides amlops' own cost in the ratio; the prefix keeps the shared venv
untouched. Quick mode leaves both settings alone (its figures mean nothing, and CI
should not compile the SDK once more).

BENCH_BASELINE_AMLOPS=<folder> (an amlops package folder of another version, e.g. from
`git worktree add /tmp/main main`: /tmp/main/{{cookiecutter.project_slug}}/amlops) adds a
side to the same interleaved rounds: the cold `make validate` in a copy of the project
with that amlops (same venv, same bytecode prefix), so a change's before/after figures
come from one run."""

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    QUICK,
    bake_default,
    interleaved,
    machine_note,
    ratio,
    report,
    rounds,
    run,
    scratch,
    sized,
)

FILES = sized(30, 2)
ROUNDS = rounds(5)

BASELINE = """import sys
from pathlib import Path

from azure.ai.ml import load_job

for path in sorted(Path("src").glob("*/job.yaml")):
    result = load_job(path)._validate()
    if not result.passed:
        sys.exit(f"{path}: {result.error_messages}")
"""


def project_with_jobs(count: int) -> Path:
    """A baked project whose only Azure ML files are `count` copies of the sample job."""
    project = bake_default(scratch())
    sample = project / "src" / "train"
    for number in range(count):
        name = f"e{number:02d}"
        target = project / "src" / name
        shutil.copytree(sample, target, ignore=shutil.ignore_patterns("tests", "sweep.yaml"))
        job = target / "job.yaml"
        text = job.read_text()
        text = text.replace("experiment_name: ", f"experiment_name: bench-{name}-", 1)
        text = text.replace("display_name: train", f"display_name: {name}", 1)
        job.write_text(text.replace("train.main", f"{name}.main"))
    for other in ("train", "prepare"):
        shutil.rmtree(project / "src" / other)
    shutil.rmtree(project / "endpoints", ignore_errors=True)
    for pipeline in (project / "pipelines").iterdir():
        if pipeline.is_file():
            pipeline.unlink()
    (project / "baseline.py").write_text(BASELINE)
    return project


def main() -> None:
    print(machine_note())
    project = project_with_jobs(FILES)
    if not QUICK:  # bytecode cached as on a user's machine, outside the shared venv (above)
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(project.parent / "pycache")
    make = ["make", "-s", "validate", "OFFLINE=1", f"PYTHON={sys.executable}"]
    baseline_run = [sys.executable, "baseline.py"]
    if not QUICK:  # quick mode: the timed runs are the first (they fail loudly too)
        run(baseline_run, project)  # compiles the SDK's bytecode into the prefix
        run(make, project)  # amlops' bytecode; results kept; fails loudly on a problem

    def cold(where: Path) -> None:
        shutil.rmtree(where / ".runs" / ".cache" / "validate", ignore_errors=True)
        run(make, where)

    baseline = "SDK load_job + _validate (one process)"
    name = "make validate, cold (no kept results)"
    rerun = "make validate, rerun (no file changed)"
    sides = {
        baseline: lambda: run(baseline_run, project),
        name: lambda: cold(project),
        rerun: lambda: run(make, project),
    }
    other_amlops = os.environ.get("BENCH_BASELINE_AMLOPS", "")
    before = "make validate, cold, BENCH_BASELINE_AMLOPS"
    if other_amlops:
        other = project.parent / "other" / project.name
        shutil.copytree(project, other, symlinks=True, ignore=shutil.ignore_patterns(".runs"))
        shutil.rmtree(other / "amlops")
        shutil.copytree(
            other_amlops, other / "amlops", ignore=shutil.ignore_patterns("__pycache__")
        )
        if not QUICK:
            run(make, other)  # its bytecode, as for ours
        sides[before] = lambda: cold(other)
    figures = interleaved(sides, ROUNDS)
    report(f"make validate on {FILES} job files, {ROUNDS} rounds", figures, baseline)
    print(
        f"\nsummary: cold make validate / SDK alone x{ratio(figures[name], figures[baseline]):.2f}"
        f" wall, x{ratio(figures.cpu[name], figures.cpu[baseline]):.2f} cpu (target x1.10);"
        f" unchanged rerun {figures[rerun]:.2f} s wall, {figures.cpu[rerun]:.2f} s cpu"
        " (target under 1 s)" + ("; QUICK MODE" if QUICK else "")
    )
    if other_amlops:
        wall, cpu = figures[before], figures.cpu[before]
        print(
            f"  baseline amlops ({other_amlops}): cold x{ratio(wall, figures[baseline]):.2f}"
            f" wall, x{ratio(cpu, figures.cpu[baseline]):.2f} cpu, same rounds"
        )


if __name__ == "__main__":
    main()
