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
Targets: cold at most x1.10 of the baseline; the rerun under 1 s."""

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
    make = ["make", "-s", "validate", "OFFLINE=1", f"PYTHON={sys.executable}"]
    cache = project / ".runs" / ".cache" / "validate"
    # amlops' bytecode as a user's second command finds it (PYTHONDONTWRITEBYTECODE may be
    # set here; the SDK's was compiled when it was installed)
    if not QUICK:  # quick mode: the first run compiles what it imports (figures mean nothing)
        run([sys.executable, "-m", "compileall", "-q", "amlops"], project)
    if not QUICK:  # quick mode: the timed cold run is the first (it fails loudly too)
        run(make, project)  # once first (results kept); fails loudly on a problem

    def cold() -> None:
        shutil.rmtree(cache, ignore_errors=True)
        run(make, project)

    figures = interleaved(
        {
            "SDK load_job + _validate (one process)": lambda: run(
                [sys.executable, "baseline.py"], project
            ),
            "make validate, cold (no kept results)": cold,
            "make validate, rerun (no file changed)": lambda: run(make, project),
        },
        ROUNDS,
    )
    baseline = "SDK load_job + _validate (one process)"
    report(f"make validate on {FILES} job files, {ROUNDS} rounds", figures, baseline)
    name = "make validate, cold (no kept results)"
    rerun = "make validate, rerun (no file changed)"
    print(
        f"\nsummary: cold make validate / SDK alone x{ratio(figures[name], figures[baseline]):.2f}"
        f" wall, x{ratio(figures.cpu[name], figures.cpu[baseline]):.2f} cpu (target x1.10);"
        f" unchanged rerun {figures[rerun]:.2f} s wall, {figures.cpu[rerun]:.2f} s cpu"
        " (target under 1 s)" + ("; QUICK MODE" if QUICK else "")
    )


if __name__ == "__main__":
    main()
