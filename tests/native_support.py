"""Native Azure ML job files (tests/cases/native/, copied from ../shared/cases) dropped
into baked projects, and the local images their environments name.

No image can be pulled here, so the images the cases name (python:3.11-slim, Azure
ML's base and curated images) are the offline test image tagged under those names;
it has a stand-in `conda` (tests/support/images/python/conda), because no conda
channel is reachable either."""

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List

import yaml

from tests.helpers import REPO, Baked, named_images_lock

CASES = REPO / "tests" / "cases" / "native"
# The command-job cases every runtime runs (tests/cases/native/<case>).
JOB_CASES = [
    "code_dot_common",
    "code_subfolder",
    "distributed",
    "download_mode",
    "env_build_folder",
    "env_curated",
    "env_image",
    "env_image_conda",
    "optional_args",
    "output_fields",
    "outputs_dir",
    "serverless",
]
IMAGES = REPO / "tests" / "support" / "images"
PYTHON_IMAGE = "amlops-test-python"
TORCH_IMAGE = "amlops-test-torch"
# Image names the cases use, each served by the test image.
# tests/support/docker_engine.sh removes stale tags of these names (a killed run leaves them)
NAMED_IMAGES = [
    "python:3.11-slim",
    "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest",
    "mcr.microsoft.com/azureml/curated/sklearn-1.0-ubuntu20.04-py38-cpu:latest",
    "mcr.microsoft.com/azureml/curated/sklearn-1.5:latest",
]


def add_case(project: Baked, case: str, name: str = "") -> Path:
    """Copy a case folder into src/<name or case>/ (without its CASE.md); its folder."""
    target = project.path / "src" / (name or case)
    shutil.copytree(CASES / case, target, ignore=shutil.ignore_patterns("CASE.md"))
    return target


def edit_yaml(path: Path, change) -> None:
    """Load a YAML file, let `change(data)` edit it, write it back."""
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _docker(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(["docker", *args], capture_output=True, text=True)


def image_present(tag: str) -> bool:
    return _docker("image", "inspect", tag).returncode == 0


def build_test_image(name: str, folder: Path, base: str, network: bool = False) -> str:
    """Build tests/support/images/<folder> on `base` once; the tag is a digest of the
    folder and the base, so a changed recipe builds anew and an unchanged one is kept."""
    digest = hashlib.sha256(base.encode())
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    tag = f"{name}:{digest.hexdigest()[:12]}"
    if not image_present(tag):
        argv = ["build", "-q", "-t", tag, "--build-arg", f"BASE_IMAGE={base}"]
        done = _docker(*argv, *(["--network", "host"] if network else []), str(folder))
        assert done.returncode == 0, done.stderr[-3000:]
    return tag


def python_image(base_image: str) -> str:
    """The test image with `python` and the conda stand-in (built on the base once)."""
    return build_test_image(PYTHON_IMAGE, IMAGES / "python", base_image)


def torch_image(base_image: str) -> str:
    """The python test image plus Debian's PyTorch, Open MPI and mpi4py (from apt)."""
    return build_test_image(TORCH_IMAGE, IMAGES / "torch", python_image(base_image), True)


def tag_case_images(base_image: str) -> Iterator[List[str]]:
    """Tag the test image under every name in NAMED_IMAGES that is not present; yields
    the names it tagged and removes those tags afterwards (never an image of yours)."""
    image = python_image(base_image)
    with named_images_lock(exclusive=True):  # no test outside Docker's runs meanwhile
        tagged = [name for name in NAMED_IMAGES if not image_present(name)]
        for name in tagged:
            assert _docker("tag", image, name).returncode == 0
        try:
            yield tagged
        finally:
            for name in tagged:
                _docker("rmi", "--no-prune", name)


def dry_run_folder(project: Baked, result) -> Path:
    """The submission folder a DRY_RUN wrote (its job.yaml is the last stdout line)."""
    return (project.path / result.stdout.strip().splitlines()[-1]).parent


def sent(project: Baked, result) -> Dict[str, Any]:
    """The native job a DRY_RUN wrote, as YAML data."""
    return yaml.safe_load((dry_run_folder(project, result) / "job.yaml").read_text())


# Fields the submission may rewrite or add (cloud/native.py's documented rewrites).
REWRITTEN = {"code", "environment", "$schema", "experiment_name", "tags", "compute", "inputs"}


def unchanged_fields(source: Dict[str, Any], native: Dict[str, Any]) -> List[str]:
    """The fields of `source` that `native` does not carry unchanged (documented rewrites
    excepted, and for inputs only their local `path:`)."""
    differ = []
    for key, value in source.items():
        if key == "inputs":
            for name, entry in (value or {}).items():
                got = native["inputs"][name]
                if (
                    isinstance(entry, dict)
                    and "path" in entry
                    and not str(entry["path"]).startswith("azureml:")
                ):
                    entry = {k: v for k, v in entry.items() if k != "path"}
                    got = {k: v for k, v in got.items() if k != "path"}
                if entry != got:
                    differ.append(f"inputs.{name}")
        elif key == "command":
            if native[key] != value.strip():
                differ.append(key)
        elif key not in REWRITTEN and native.get(key) != value:
            differ.append(key)
    return differ
