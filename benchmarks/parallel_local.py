"""The local parallel driver against a hand-written concurrent.futures loop.

2,000 small files (BENCH_QUICK=1: 30), mini-batches of 10 files, 2 worker processes.
The same entry script (init() loads a lookup table, run() reads each file of its
mini-batch and returns one row per file) runs:
- through amlops's driver (amlops/parallel/driver.py, the script a parallel job runs
  as its command in the job's runtime), rows appended to one output file;
- through a ProcessPoolExecutor(2, initializer=init) mapping run() over the same
  mini-batches, rows written to one file: what a user would write by hand.
Both run as a fresh `python` process, so interpreter and worker start-up count alike.
Target: driver / hand loop <= 1.2. Also printed: the whole `make local` of the same
parallel job in the venv runtime (staging, tracking, run record included), for scale."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, bake_default, interleaved, report, run, scratch  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"
FILES = 30 if QUICK else 2000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if QUICK else "5"))
WORKERS = 2
DRIVER = REPO / "{{cookiecutter.project_slug}}" / "amlops" / "parallel" / "driver.py"

ENTRY = """\
import pathlib

table = None


def init():
    global table
    table = {str(i): i * i for i in range(1000)}


def run(mini_batch):
    rows = []
    for path in mini_batch:
        words = pathlib.Path(path).read_text().split()
        rows.append(f"{pathlib.Path(path).name} {len(words)} {table[str(len(words))]}")
    return rows
"""

BY_HAND = """\
import os
import sys
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.getcwd())
import score  # noqa: E402

folder, out = sys.argv[1], sys.argv[2]
files = sorted(os.path.join(folder, name) for name in os.listdir(folder))
batches = [files[i : i + 10] for i in range(0, len(files), 10)]
with ProcessPoolExecutor(%d, initializer=score.init) as pool, open(out, "w") as target:
    for rows in pool.map(score.run, batches):
        target.write("".join(row + "\\n" for row in rows))
""" % WORKERS

JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/parallelJob.schema.json
type: parallel
inputs:
  pages:
    type: uri_folder
    path: ../../data/pages
outputs:
  rows:
    type: uri_folder
input_data: ${{inputs.pages}}
mini_batch_size: "10"
max_concurrency_per_instance: %d
task:
  type: run_function
  code: ./code
  entry_script: score.py
  environment:
    image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
  append_row_to: ${{outputs.rows}}
""" % WORKERS


def main() -> None:
    root = scratch()
    try:
        project = bake_default(root)
        pages = project / "data" / "pages"
        pages.mkdir(parents=True)
        for i in range(FILES):
            (pages / f"page{i:05d}.txt").write_text(" ".join(["word"] * (i % 50 + 1)))
        code = project / "src" / "pscore" / "code"
        code.mkdir(parents=True)
        (code / "score.py").write_text(ENTRY)
        (code / "by_hand.py").write_text(BY_HAND)
        (project / "src" / "pscore" / "job.yaml").write_text(JOB)
        shutil.copy(DRIVER, code / "_driver.py")
        out = root / "out"
        py = sys.executable

        def driver() -> None:
            shutil.rmtree(out, ignore_errors=True)
            argv = [py, "_driver.py", "--entry_script", "score.py", "--input_data", str(pages)]
            argv += ["--mini_batch_size", "10", "--workers", str(WORKERS)]
            argv += ["--append_row_to", str(out), "--logs", str(root / "logs")]
            run(argv, code)

        def by_hand() -> None:
            run([py, "by_hand.py", str(pages), str(root / "by_hand.txt")], code)

        def make_local() -> None:
            run(["make", "local", "EXP=pscore", "RUNTIME=venv", f"PYTHON={py}"], project)

        if not QUICK:  # quick mode: the one timed run builds the venv
            make_local()  # builds the venv once, outside the timings
        figures = interleaved(
            {
                "hand-written concurrent.futures loop": by_hand,
                "amlops parallel driver": driver,
                "make local (whole run, venv runtime)": make_local,
            },
            ROUNDS,
        )
        expected = sorted((root / "by_hand.txt").read_text().splitlines())
        assert sorted((out / "parallel_run_step.txt").read_text().splitlines()) == expected
        report(
            f"parallel job over {FILES} files, mini-batches of 10, {WORKERS} workers",
            figures,
            "hand-written concurrent.futures loop",
        )
        ratio = figures["amlops parallel driver"] / figures["hand-written concurrent.futures loop"]
        print(f"  driver / hand loop: {ratio:.2f} (target <= 1.2)")
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(root)], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
