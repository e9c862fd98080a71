"""What `make job` uploads, and what the submit path costs to import.

1. Code snapshot of the sample experiment (src/train + src/common after
   .amlignore, what `make job` sends as `code:`) against the naive `code: .`
   (the project root, filtered by the SDK's own ignore-file rules, which is what
   azure-ai-ml would upload), after one local run so .runs/ holds what it
   normally does. Printed as files and bytes, and the ratio.
2. Import time (median of several fresh interpreters) of the local command
   path, the submit modules without the SDK, and the SDK the cloud targets load,
   against a bare interpreter."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Tuple

import yaml

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
    scratch,
)
from pipeline_local import write_experiments  # noqa: E402

ROUNDS = rounds(5)
BASE_IMAGE = os.environ.get("TEST_BASE_IMAGE", "amlops-test-base:bookworm")


def local_run(project: Path) -> None:
    """One `make local` so .runs/ has a run folder (Docker when the base image is here).
    Quick mode runs a one-step experiment with nothing to install instead of train."""
    docker = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True)
    experiment = "train"
    if QUICK:
        experiment = "s0"
        write_experiments(project, {experiment: []})
        (project / "src" / experiment / "docker" / "Dockerfile").write_text(TINY_DOCKERFILE)
    env = {"EXP": experiment, "VENV_DIR": str(scratch())}
    if QUICK:  # untracked: no MLflow import on the host (nor .runs/mlruns for naive to count)
        env["TRACKING"] = "0"
    if docker.returncode == 0:
        env.update(RUNTIME="docker", BASE_IMAGE=BASE_IMAGE, DOCKER_BUILD_ARGS="--network host")
    else:
        env.update(RUNTIME="venv")
    run(["make", "-s", "local", f"PYTHON={sys.executable}"], project, env)


def naive_upload(root: Path) -> Tuple[int, int]:
    """Files and bytes azure-ai-ml would upload for `code: .` at the project root."""
    from azure.ai.ml._utils._asset_utils import get_ignore_file

    ignore = get_ignore_file(str(root))
    files = size = 0
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if not ignore.is_file_excluded(path):
                files += 1
                size += os.path.getsize(path)
    return files, size


def our_snapshot(root: Path) -> Tuple[int, int]:
    """Files and bytes of the code `make job EXP=train` sends: the `code:` folder of the
    submission its DRY_RUN writes (the job.yaml path is its last line of output)."""
    out = run(["make", "-s", "job", "EXP=train", "DRY_RUN=1", f"PYTHON={sys.executable}"], root)
    job = root / out.strip().splitlines()[-1]
    code = job.parent / yaml.safe_load(job.read_text())["code"]
    files = [path for path in code.rglob("*") if path.is_file()]
    return len(files), sum(path.stat().st_size for path in files)


def import_times(root: Path) -> None:
    def importing(code: str):
        return lambda: run([sys.executable, "-c", code], root)

    figures = interleaved(
        {
            "bare interpreter": importing("pass"),
            "amlops.cli (local command path)": importing("import amlops.cli"),
            "amlops.cloud.submit (no SDK yet)": importing("import amlops.cloud.submit"),
            "+ azure-ai-ml, azure-identity": importing(
                "from amlops.cloud.sdk import require_sdk; require_sdk('job')"
            ),
        },
        ROUNDS,
    )
    report("Import time of the submit path", figures, "amlops.cli (local command path)")


def main() -> None:
    print(machine_note())
    project = bake_default(scratch())
    local_run(project)
    ours, naive = our_snapshot(project), naive_upload(project)
    print("\nCode snapshot of `make job EXP=train` (baseline: naive `code: .` at the root)")
    print(f"  {'naive code: . (SDK ignore rules)':<40} {naive[0]:6d} files {naive[1]:10d} bytes")
    print(f"  {'amlops staged snapshot':<40} {ours[0]:6d} files {ours[1]:10d} bytes")
    print(f"  ratio: files x{ours[0] / naive[0]:.3f}, bytes x{ours[1] / naive[1]:.4f}")
    import_times(project)


if __name__ == "__main__":
    main()
