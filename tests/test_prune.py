"""`make prune`: lists old runs and unused venvs, removes them only with YES=1, and
never a run that a kept pipeline run reuses or one still running."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Baked, default_project, error_lines
from tests.pipelines import add_diamond, latest_record, pipeline_runs, states


@pytest.fixture
def project(tmp_path) -> Baked:
    """The diamond pipeline with project-local venvs (no shared VENV_DIR)."""
    baked = Baked(default_project(tmp_path), env={"RUNTIME": "venv", "JOBS": "2"})
    add_diamond(baked)
    return baked


def reuse_targets(baked: Baked):
    records = (baked.path / ".runs/.reuse").glob("*.json")
    entries = [json.loads(p.read_text()) for p in records if p.name != "file-hashes.json"]
    return [baked.path / e["step_dir"] for e in entries]


def test_prune_lists_then_removes_and_keeps_reused_and_running_runs(project):
    for _ in range(2):
        assert project.make("pipeline-local", PIPELINE="diamond").returncode == 0
    first_pipeline, second_pipeline = pipeline_runs(project, "diamond")
    assert set(states(latest_record(project, "diamond")).values()) == {"reused"}
    for _ in range(3):
        assert project.make("local", EXP="first", INPUTS="data=data/seed").returncode == 0
    running, middle, newest = project.run_dirs("first")
    record = json.loads((running / "run.json").read_text())
    # Still running: its record names a live process (this one), not the finished run's.
    live = {**record, "status": "running", "pid": os.getpid()}
    (running / "run.json").write_text(json.dumps(live))
    stale_venv = project.path / ".runs/.venvs/0123456789ab"
    (stale_venv / "bin").mkdir(parents=True)
    (stale_venv / "bin" / "python").write_bytes(b"x" * 2048)
    stale_venv.with_suffix(".log").write_text("old build\n")

    listed = project.make("prune", KEEP="1")
    assert listed.returncode == 0, listed.stderr
    shown = [line.split()[2] for line in listed.stdout.splitlines() if "would remove" in line]
    assert shown == [str(middle.relative_to(project.path)), ".runs/.venvs/0123456789ab"]
    assert "`make prune YES=1` removes them" in listed.stderr
    assert middle.is_dir() and stale_venv.is_dir(), "listing removes nothing"

    removed = project.make("prune", KEEP="1", YES="1")
    assert removed.returncode == 0, removed.stderr
    assert "prune: removed 2 items" in removed.stderr
    assert not middle.exists() and not stale_venv.exists()
    assert not stale_venv.with_suffix(".log").exists()
    assert running.is_dir() and newest.is_dir(), "running and newest runs are kept"
    assert first_pipeline.is_dir(), "the kept pipeline run reuses its outputs"
    again = project.make("pipeline-local", PIPELINE="diamond")
    assert again.returncode == 0 and set(states(latest_record(project, "diamond")).values()) == {
        "reused"
    }

    # KEEP=0 keeps only what runs; the reuse records of removed runs go with them.
    assert project.make("prune", KEEP="0", YES="1").returncode == 0
    assert project.run_dirs("first") == [running]
    assert pipeline_runs(project, "diamond") == []
    assert reuse_targets(project) == []
    rerun = project.make("pipeline-local", PIPELINE="diamond")
    assert rerun.returncode == 0, rerun.stderr
    assert set(states(latest_record(project, "diamond")).values()) == {"completed"}
    assert all(Path(p).is_dir() for p in reuse_targets(project))
    assert second_pipeline not in pipeline_runs(project, "diamond")


def test_prune_refuses_a_bad_keep(project):
    result = project.make("prune", KEEP="some")
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "KEEP='some': use a whole number" in line


NATIVE_NODE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
jobs:
  hello:
    type: command
    command: echo hello
    environment:
      image: python:3.11-slim
      conda_file:
        dependencies:
          - pip
          - pip:
              - six
"""


def test_prune_keeps_the_venv_of_a_native_pipeline_node(project):
    """A venv that only a pipeline node uses (its own pip packages: no experiment has
    that set) is in use too."""
    (project.path / "pipelines" / "solo.yml").write_text(NATIVE_NODE)
    ran = project.make("pipeline-local", PIPELINE="solo")
    assert ran.returncode == 0, ran.stderr
    venvs = [p for p in (project.path / ".runs/.venvs").iterdir() if not p.name.startswith(".")]
    assert any(p.is_dir() for p in venvs)
    listed = project.make("prune")
    assert listed.returncode == 0, listed.stderr
    removable = [line for line in listed.stdout.splitlines() if "would remove" in line]
    assert not [line for line in removable if ".venvs" in line], removable


SERVED_VENV = """
import sys
from pathlib import Path
from amlops.project import Project
from amlops.serving.servers import VenvServer
from amlops.spec.endpoints import endpoint_names, load_endpoint

project = Project(Path.cwd())
for name in endpoint_names(project):
    for deployment in load_endpoint(project, name).deployments.values():
        server = VenvServer(project, name, deployment, None, Path(sys.argv[1]))
        print(server.venv.path.name)
"""


def test_prune_keeps_the_venvs_endpoint_deployments_serve_from(project, tmp_path):
    """`make serve` builds a venv of the deployment's environment plus the inference
    server, a set no experiment has: prune used to list it for removal."""
    named = subprocess.run(
        [sys.executable, "-c", SERVED_VENV, str(tmp_path)],
        cwd=project.path,
        env={**os.environ, "PYTHONPATH": str(project.path)},
        capture_output=True,
        text=True,
    )
    assert named.returncode == 0, named.stderr
    served = named.stdout.split()
    assert served, "the sample has an endpoint with a deployment"
    venvs = project.path / ".runs/.venvs"
    for name in [*served, "py311-0123456789ab"]:
        (venvs / name).mkdir(parents=True, exist_ok=True)
    listed = project.make("prune")
    assert listed.returncode == 0, listed.stderr
    removable = [line for line in listed.stdout.splitlines() if "would remove" in line]
    assert [line for line in removable if "py311-0123456789ab" in line], removable
    assert not [line for line in removable if any(name in line for name in served)], removable
