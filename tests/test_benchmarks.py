"""Every benchmark still runs: each one once in quick mode (BENCH_QUICK=1: tiny sizes,
one round), so a benchmark broken by a change fails CI instead of `make bench` later.
The figures of a quick run mean nothing and are not checked; what is checked is that
the benchmark ran to its end and printed its report."""

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO, cached_venv, tools_cache

# name: (uses Docker, a line its report prints)
BENCHMARKS = {
    "bake_time": (False, "new experiment, 1 rounds"),
    "big_input": (False, "summary: no-op rerun"),
    "dag100": (False, "ratios against dvc:"),
    "demo_disk": (False, "summary:"),
    "docker_rebuild": (True, "summary: rebuild ratio"),
    "local_overhead": (True, "summary: do-nothing venv run CPU overhead"),
    "parallel_local": (False, "driver / hand loop:"),
    "pipeline_local": (False, "the same DAG as a native pipeline file"),
    "serve": (False, "overhead at p50:"),
    "submit_snapshot": (True, "Import time of the submit path"),
    "sweep_local": (False, "host-side tracking per trial"),
    "tracking_store": (False, "what one tracked local run pays for tracking"),
    "validate": (False, "summary: cold make validate / SDK alone"),
    "venv_cold": (False, "summary: cold ratio"),
}
DVC_USERS = {"big_input", "dag100", "pipeline_local"}


def test_make_bench_runs_every_benchmark():
    listed = subprocess.run(
        ["make", "-s", "-C", str(REPO), "--eval", "print-benchmarks: ; @echo $(BENCHMARKS)",
         "print-benchmarks"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    on_disk = {p.stem for p in (REPO / "benchmarks").glob("*.py") if not p.name.startswith("_")}
    assert set(listed.stdout.split()) == on_disk == set(BENCHMARKS)


def dvc() -> str:
    """DVC (the baseline of the pipeline benchmarks), installed once into the tools cache."""
    return str(cached_venv("dvc", ["dvc"]).parent / "dvc")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=[pytest.mark.docker] if docker else [])
        for name, (docker, _) in BENCHMARKS.items()
    ],
)
def test_the_benchmark_runs_in_quick_mode(request, tmp_path, name):
    env = {**os.environ, "BENCH_QUICK": "1", "TMPDIR": str(tmp_path)}
    if name != "venv_cold":  # which times an empty uv cache on purpose
        # The venvs they build (the sample's, mlflow-skinny) link from one kept uv cache
        # instead of downloading into a new one each time.
        env["UV_CACHE_DIR"] = str(tools_cache() / "uv-cache")
    if BENCHMARKS[name][0]:
        env["TEST_BASE_IMAGE"] = request.getfixturevalue("docker_base_image")
    if name in DVC_USERS:
        env["DVC"] = dvc()
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / f"{name}.py")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    quick = ("QUICK MODE", "BENCH_QUICK")
    assert any(mark in done.stdout for mark in quick) or name == "demo_disk", done.stdout
    assert BENCHMARKS[name][1] in done.stdout, done.stdout
