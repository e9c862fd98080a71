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
import tempfile
from pathlib import Path
from typing import Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bake_default, interleaved, report, run, scratch  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
BASE_IMAGE = os.environ.get("TEST_BASE_IMAGE", "amlops-test-base:bookworm")


def local_run(project: Path) -> None:
    """One `make local` so .runs/ has a run folder (Docker when the base image is here)."""
    docker = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True)
    env = {"EXP": "train", "VENV_DIR": str(scratch())}
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
    """Files and bytes of the staged code of `make job EXP=train`."""
    sys.path.insert(0, str(root))
    from amlops.project import Project
    from amlops.staging import stage_code

    dest = Path(tempfile.mkdtemp(prefix="amlops-snapshot-"))
    staged = stage_code(Project(root), "train", dest)
    return len(staged), sum((dest / rel).stat().st_size for rel in staged)


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
