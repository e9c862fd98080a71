"""Docker rebuild after adding one requirement: what `make build-exp` does now (a
layered build over the previous image, amlops/local/layered.py), and a plain `docker
build` of the Dockerfile the template bakes now (uv in a layer of its own, what Azure
ML runs), against a `docker build` of the one it baked before (pip, in the same layer as
the venv).

All build the sample experiment's requirements on the offline base image
(TEST_BASE_IMAGE, default amlops-test-base:bookworm; --network host), once untimed so
every layer before the change is cached; then each round appends a requirement none
has seen (a small package) and times the build. Rounds alternate. Images are removed
at the end.

Baseline: the previous Dockerfile. Goal: make build-exp / baseline <= 0.3."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    REPO,
    bake_default,
    interleaved,
    machine_note,
    report,
    rounds,
    run,
    scratch,
    sized,
    timed,
)

ROUNDS = rounds(2)
BASE_IMAGE = os.environ.get("TEST_BASE_IMAGE", "amlops-test-base:bookworm")
DOCKER = (
    REPO / "{{cookiecutter.project_slug}}/templates/experiment/{{cookiecutter.exp_name}}/docker"
)
# The Dockerfile the template baked before uv (commit efa4ac1).
PREVIOUS = """ARG BASE_IMAGE=mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
FROM ${BASE_IMAGE}

COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \\
    && /opt/venv/bin/python -m pip install --no-cache-dir --upgrade pip \\
    && /opt/venv/bin/python -m pip install --no-cache-dir -r /tmp/requirements.txt

ENV PATH=/opt/venv/bin:$PATH \\
    PYTHONUNBUFFERED=1
"""
# Quick mode (BENCH_QUICK=1): the same, less the pip upgrade (a download and install on
# every rebuild of that Dockerfile, a minute of the quick run) and less the venv's own pip:
# it runs the base image's (ensurepip took ~10 s of every build of that Dockerfile).
PREVIOUS = sized(
    PREVIOUS,
    PREVIOUS.replace(
        "--upgrade pip \\\n    && /opt/venv/bin/python -m pip install --no-cache-dir ", ""
    ).replace(
        "python3 -m venv /opt/venv",
        "python3 -m venv --without-pip --system-site-packages /opt/venv",
    ),
)
# Small pure-Python packages that the sample's requirements do not pull in.
SLUG = "amlops-bench-rebuild"  # the baked project's images: amlops-bench-rebuild-train:*
ADDED = ["toolz", "tabulate", "wcwidth", "more-itertools", "text-unidecode", "pyfiglet"]


def build(context: Path, tag: str) -> None:
    argv = ["docker", "build", "-q", "--network", "host", "--build-arg"]
    argv += [f"BASE_IMAGE={BASE_IMAGE}", "-t", tag, str(context)]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"docker build of {context} failed:\n{done.stdout}\n{done.stderr[-3000:]}")


def main() -> None:
    print(machine_note())
    if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True).returncode:
        sys.exit(f"needs a Docker engine and the base image {BASE_IMAGE} (tests/support)")
    work = scratch()
    requirements = (
        (DOCKER / "requirements.txt").read_text().replace("{{ cookiecutter.exp_name }}", "train")
    )
    # Quick mode (BENCH_QUICK=1): no requirements before the added one, so the first
    # builds are only the Dockerfiles' own layers (cached after the first time).
    requirements = sized(requirements, "")
    contexts = {"previous": work / "previous", "uv": work / "uv"}
    for name, context in contexts.items():
        context.mkdir()
        dockerfile = PREVIOUS if name == "previous" else (DOCKER / "Dockerfile").read_text()
        (context / "Dockerfile").write_text(dockerfile)
        (context / "requirements.txt").write_text(requirements)
    project = bake_default(work / "baked")
    (project / "config.env").write_text(
        (project / "config.env").read_text()
        + f"\nBASE_IMAGE={BASE_IMAGE}\nDOCKER_BUILD_ARGS=--network host\nPROJECT_SLUG={SLUG}\n"
    )
    (project / "src/train/docker/requirements.txt").write_text(requirements)
    make = ["make", "--no-print-directory", "build-exp", "EXP=train", f"PYTHON={sys.executable}"]
    tags = []
    try:
        for name, context in contexts.items():
            tags.append(f"amlops-bench-{name}:first")
            first = timed(lambda: build(context, tags[-1]))
            print(f"first build ({name} Dockerfile): {first:.1f} s", flush=True)
        first = timed(lambda: run(make, project))
        print(f"first build (make build-exp): {first:.1f} s", flush=True)

        def rebuild(name: str, package: str) -> None:
            if name == "make":
                with open(project / "src/train/docker/requirements.txt", "a") as handle:
                    handle.write(f"{package}\n")
                run(make, project)
                return
            context = contexts[name]
            with open(context / "requirements.txt", "a") as handle:
                handle.write(f"{package}\n")
            tags.append(f"amlops-bench-{name}:{package}")
            build(context, tags[-1])

        # Every build gets the same new package in a round.
        round_packages = ADDED[:ROUNDS]
        order = {name: iter(round_packages) for name in ("previous", "uv", "make")}
        baseline = "previous Dockerfile, docker build (baseline)"
        figures = interleaved(
            {
                baseline: lambda: rebuild("previous", next(order["previous"])),
                "new Dockerfile, docker build (as Azure ML)": lambda: rebuild(
                    "uv", next(order["uv"])
                ),
                "make build-exp (layered)": lambda: rebuild("make", next(order["make"])),
            },
            ROUNDS,
        )
        report(f"docker rebuild after adding one requirement, {ROUNDS} rounds", figures, baseline)
        ratio = figures["make build-exp (layered)"] / figures[baseline]
        print(f"summary: rebuild ratio {ratio:.2f} (goal <= 0.3)")
    finally:
        subprocess.run(["docker", "image", "rm", "-f", *tags], capture_output=True)
        listed = subprocess.run(
            ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", f"{SLUG}-train"],
            capture_output=True,
            text=True,
        )
        built = listed.stdout.split()
        if built:
            subprocess.run(["docker", "image", "rm", "-f", *built], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
