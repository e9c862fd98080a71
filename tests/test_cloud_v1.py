"""AML_SDK=v1 (azureml-core, azureml-pipeline, in their own venv): the run
configuration, pipeline steps and publish calls are built by the real SDK with
every workspace call intercepted (tests/support/fake_azure/fake_azureml_v1.py),
and their wiring is compared with the v2 build of the same files."""

import ast
import fcntl
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cloud_support import (
    TRAIN_FILES,
    azure_extra,
    cloud_make,
    cloud_project,
    fake_env,
    v1_python,
)
from tests.helpers import Baked, bake, error_lines, tools_cache

METADATA = "https://management.azure.com/metadata/endpoints"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    baked = cloud_project(tmp_path_factory.mktemp("v1"), aml_sdk="v1")
    baked.python = str(v1_python(baked.path))
    return baked


def v1_make(project, tmp_path, *args, **variables):
    return cloud_make(project, tmp_path, *args, PYTHON=project.python, **variables)


def no_workspace_traffic(rec) -> None:
    """Only the SDK's import-time cloud metadata fetch tried the network (refused)."""
    tried = [r["url"] for r in rec.v1("network")]
    assert all(url.startswith(METADATA) for url in tried), tried


def as_v1(command: str, inputs: dict, outputs: dict) -> list:
    """A v2 command as the v1 argument list it must become."""
    argv = []
    for token in shlex.split(command):
        if token.startswith("${{inputs."):
            argv.append(inputs[token[len("${{inputs.") : -2]])
        elif token.startswith("${{outputs."):
            argv.append(outputs[token[len("${{outputs.") : -2]])
        else:
            argv.append(token)
    return argv


def written_job(project, kind: str, name: str) -> dict:
    folder = project.run_dirs(f"azure/{kind}/{name}")[-1]
    return yaml.safe_load((folder / "job.yaml").read_text())


def test_v1_job_runs_the_v2_command_on_the_same_snapshot_and_data(project, tmp_path):
    result, rec = v1_make(project, tmp_path, "job", EXP="train")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("https://ml.azure.com/runs/run_")
    no_workspace_traffic(rec)
    (job,) = rec.v1("job_submit")
    v2 = written_job(project, "jobs", "train")  # the native v2 job, written first as with v2
    (upload,) = rec.v1("data_upload")
    assert list(upload["files"]) == ["wine.csv"] and upload["target"].startswith("amlops/inputs/")
    data = {"input": "data", "mode": "mount", "dataset": f"upload:{upload['target']}"}
    assert v2["inputs"]["data"]["mode"] == "ro_mount"  # read-only in both
    expected = as_v1(
        v2["command"],
        {"data": data, "n_estimators": "100"},
        {"model": {"output": "model", "mode": "mount"}},
    )
    assert job["command"] == expected
    assert job["source_directory"] == TRAIN_FILES
    assert job["compute"] == v2["compute"].split(":", 1)[1] == "cpu-cluster"
    assert job["experiment"] == v2["experiment_name"]
    assert job["tags"]["experiment"] == "train" and "git_commit" in job["tags"]
    (context,) = rec.v1("build_context_upload")
    assert set(context["files"]) == {"Dockerfile", "requirements.txt"}
    assert (
        context["files"]["Dockerfile"] == (project.path / "src/train/docker/Dockerfile").read_text()
    )
    assert job["environment"]["user_managed"] is True and job["environment"]["base_image"] is None


def test_v1_pipeline_steps_keep_the_v2_bindings(project, tmp_path):
    result, rec = v1_make(project, tmp_path, "pipeline")
    assert result.returncode == 0, result.stderr
    no_workspace_traffic(rec)
    (submitted,) = rec.v1("pipeline_submit")
    assert submitted["options"] == {"continue_on_step_failure": True}
    v2 = written_job(project, "pipelines", "training")
    steps = {step["name"]: step for step in submitted["steps"]}
    assert list(steps) == list(v2["jobs"]) == ["prepare", "train"]
    (upload,) = rec.v1("data_upload")
    raw = {"input": "data", "mode": "mount", "dataset": f"upload:{upload['target']}"}
    from_prepare = {
        "input": "data",
        "mode": "mount",
        "from_step": "prepare",
        "from_output": "prepared",
    }
    expected = {
        "prepare": ({"data": raw}, {"prepared": {"output": "prepared", "mode": "mount"}}),
        "train": (
            {"data": from_prepare, "n_estimators": "200"},
            {"model": {"output": "model", "mode": "mount"}},
        ),
    }
    for name, node in v2["jobs"].items():
        step = steps[name]
        inputs, outputs = expected[name]
        assert step["type"] == "CommandStep"  # `python -m ...` is not a script file
        assert step["arguments"] == as_v1(node["command"], inputs, outputs)
        assert step["allow_reuse"] is True and step["compute"] == "cpu-cluster"
        assert step["outputs"] == list(outputs.values())
        assert [i for i in step["inputs"]] == [v for v in inputs.values() if isinstance(v, dict)]
        assert f"{name}/main.py" in step["source_directory"]
    # the binding itself, as v2 writes it
    assert (
        v2["jobs"]["train"]["inputs"]["data"]["path"] == "${{parent.jobs.prepare.outputs.prepared}}"
    )


def test_v1_pipeline_dry_run_previews_the_steps_v1_sends(project, tmp_path):
    """DRY_RUN=1 with AML_SDK=v1 showed only the v2 YAML: make pipeline now writes the
    steps SDK v1 would build (V1Builder's own code paths, SDK objects described), offline,
    and they are the steps a real submission sends."""
    result, rec = v1_make(project, tmp_path, "pipeline")
    assert result.returncode == 0, result.stderr
    sent = {step["name"]: step for step in rec.v1("pipeline_submit")[0]["steps"]}
    dry, rec = v1_make(project, tmp_path, "pipeline", DRY_RUN="1")
    assert dry.returncode == 0, dry.stderr
    assert not rec.v1("pipeline_submit") and not rec.v1("data_upload")
    job_file = project.path / dry.stdout.strip().splitlines()[-1]
    assert "DRY_RUN: what SDK v1 would send (offline preview)" in dry.stderr
    preview = json.loads((job_file.parent / "v1-preview.json").read_text())["Pipeline"]
    native = yaml.safe_load(job_file.read_text())
    steps = {step["name"]: step for step in preview["steps"]}
    assert list(steps) == list(sent) == list(native["jobs"]) == ["prepare", "train"]
    for name, step in steps.items():
        real = sent[name]
        assert step["step"] == real["type"] and step["allow_reuse"] is real["allow_reuse"]
        assert step["compute_target"] == real["compute"]
        assert len(step["command"]) == len(real["arguments"])
        assert len(step["inputs"]) == len(real["inputs"])
        assert len(step["outputs"]) == len(real["outputs"])
        assert step["source_directory"] == str(job_file.parent / "code" / name)
    shown = " ".join(steps["train"]["command"])
    assert "<OutputFileDatasetConfig(name='prepared').as_mount().as_input(name='data')" in shown
    assert "200" in steps["train"]["command"]  # the literal input, as v1 passes it
    assert ".as_named_input('data').as_mount()>" in " ".join(steps["prepare"]["command"])
    published, rec = v1_make(project, tmp_path, "publish", DRY_RUN="1")
    assert published.returncode == 0, published.stderr
    assert not rec.v1("publish")
    folder = (project.path / published.stdout.strip().splitlines()[-1]).parent
    preview = json.loads((folder / "v1-preview.json").read_text())["Pipeline"]
    assert [step["name"] for step in preview["steps"]] == ["prepare", "train"]


def test_v1_publish_endpoint_marker_and_versions(project, tmp_path):
    state = tmp_path / "workspace.json"
    marker = "workspaceblobstore/markers/training.csv"
    first, rec = v1_make(project, tmp_path, "publish", state=state, PUBLISH_MARKER=marker)
    assert first.returncode == 0, first.stderr
    no_workspace_traffic(rec)
    (published,) = rec.v1("publish")
    assert published["name"] == "azure-ml-project-training"
    assert published["continue_on_step_failure"] is True
    assert [s["name"] for s in published["steps"]] == ["prepare", "train"]
    (endpoint,) = rec.v1("endpoint_publish")
    (upload,) = rec.v1("datastore_upload")
    assert upload["datastore"] == "workspaceblobstore" and upload["target_path"] == "markers"
    row = upload["files"]["training.csv"].splitlines()[1].split(",")
    assert row[:4] == ["training", published["version"], endpoint["pipeline"], first.stdout.strip()]
    assert f"published pipeline id: {endpoint['pipeline']}" in first.stderr

    again, rec = v1_make(project, tmp_path, "publish", state=state)
    assert again.returncode == 0, again.stderr
    assert not rec.v1("publish") and not rec.v1("endpoint_add")
    assert "is already published" in again.stderr

    main = project.path / "src/train/main.py"
    original = main.read_text()
    main.write_text(original + "\n# tuned\n")
    try:
        changed, rec = v1_make(project, tmp_path, "publish", state=state)
        assert changed.returncode == 0, changed.stderr
        (new,) = rec.v1("publish")
        assert new["version"] != published["version"]
        assert rec.v1("endpoint_add") and not rec.v1("endpoint_default")
        assert "DEFAULT=1" in changed.stderr
        default, rec = v1_make(project, tmp_path, "publish", state=state, DEFAULT="1")
        assert not rec.v1("publish") and rec.v1("endpoint_default")
    finally:
        main.write_text(original)


def test_v1_step_takes_upstream_data_from_inputs_and_says_so_otherwise(project, tmp_path):
    result, _ = v1_make(project, tmp_path, "step", STEP="train")
    assert result.returncode != 0
    (line,) = error_lines(result.stderr)
    assert "AML_SDK=v1" in line and 'INPUTS="data=azureml://datastores/' in line
    path = "azureml://datastores/workspaceblobstore/paths/prepared/wine"
    result, rec = v1_make(project, tmp_path, "step", STEP="train", INPUTS=f"data={path}")
    assert result.returncode == 0, result.stderr
    (job,) = rec.v1("job_submit")
    assert job["command"][job["command"].index("--data") + 1]["mode"] == "mount"
    assert "--n-estimators" in job["command"] and "200" in job["command"]


def test_v1_refuses_what_it_cannot_do_before_sending_anything(project, tmp_path):
    result, rec = v1_make(project, tmp_path, "publish", PUBLISH_MARKER="markers.csv")
    assert result.returncode != 0 and "PUBLISH_MARKER" in error_lines(result.stderr)[0]
    result, rec = v1_make(project, tmp_path, "publish", SCHEDULE="0 6 * * *")
    assert result.returncode != 0 and "SCHEDULE" in error_lines(result.stderr)[0]
    assert not rec.v1("publish") and not rec.v1("workspace")


@pytest.mark.parametrize(
    "sdk,wanted,unwanted",
    [
        ("v1", {"azureml-core", "azureml-pipeline-core"}, "azure-ai-ml"),
        ("v2", {"azure-ai-ml", "azure-identity"}, "azureml-core"),
    ],
)
def test_the_baked_project_installs_only_its_sdk(tmp_path, sdk, wanted, unwanted):
    project = bake(tmp_path, aml_sdk=sdk)
    report = tmp_path / "report.json"
    pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    done = subprocess.run(
        [*pip, "--report", str(report), *azure_extra(project)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert wanted <= names and unwanted not in names
    # make setup installs by AML_SDK from amlops/cloud/packages.py: the same list
    tree = ast.parse((project / "amlops/cloud/packages.py").read_text())
    (packages,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "PACKAGES"
    ]
    assert packages[sdk] == azure_extra(project)


def test_setup_refuses_an_environment_holding_the_other_sdk(project, tmp_path):
    v2 = Baked(bake(tmp_path, aml_sdk="v2"))
    # a Python with azureml-core (v1): installing v2 next to it is refused (v1 itself now
    # goes into a venv of its own: test_a_v1_project_lints_commits_and_submits below)
    done = subprocess.run(
        [project.python, "-m", "amlops", "install-sdk"],
        cwd=v2.path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    (line,) = error_lines(done.stderr)
    assert "azureml.core" in line and "rm -rf .venv && make setup" in line


def has_module(python: str, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([python, "-c", probe], capture_output=True).returncode == 0


def test_a_v1_project_lints_commits_and_submits_from_its_tools_python(tmp_path):
    """azureml-core pins an old pathspec that breaks black: make setup puts SDK v1 in a
    venv of its own, so lint and the pre-commit hooks run in the tools' Python and the
    cloud targets re-execute themselves in the v1 venv."""
    baked = cloud_project(tmp_path / "p", aml_sdk="v1")
    tools = sys.executable  # the tools' Python (black, isort, flake8, pre-commit), no SDK v1
    assert not has_module(tools, "azureml.core")
    # AML_SDK_V1_VENV (default .runs/.tools/aml-sdk-v1) in the test cache: a real install
    # the first time, "already satisfied" later
    venv = tools_cache() / "aml-sdk-v1-setup"
    tools_cache().mkdir(parents=True, exist_ok=True)
    baked.env["AML_SDK_V1_VENV"] = str(venv)
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            [tools, "-m", "amlops", "install-sdk"],
            cwd=baked.path,
            capture_output=True,
            text=True,
            env={**os.environ, **baked.env},
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(done.stderr.splitlines()) == 1, done.stderr  # pip's output is in the log
    assert has_module(str(venv / "bin/python"), "azureml.core")
    assert not has_module(tools, "azureml.core")

    path = {"PATH": f"{Path(tools).parent}:{os.environ['PATH']}"}  # the hooks' python
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    hooks = subprocess.run(
        [tools, "-m", "pre_commit", "install"], cwd=baked.path, capture_output=True, text=True
    )
    assert hooks.returncode == 0, hooks.stdout + hooks.stderr
    main = baked.path / "src/train/main.py"
    main.write_text(main.read_text() + "\n\ndef added():\n    return 1\n")
    commit = subprocess.run(
        [*git, "commit", "-qam", "user work"],
        cwd=baked.path,
        capture_output=True,
        text=True,
        env={**os.environ, **path},
    )
    assert commit.returncode == 0, commit.stdout + commit.stderr
    assert "black" in commit.stdout + commit.stderr  # the hooks ran
    lint = baked.make("lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr

    result, rec = cloud_make(baked, tmp_path, "job", EXP="train", DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    assert f"AML_SDK=v1: running in its own environment, {venv}" in result.stderr
    job_file = baked.path / result.stdout.strip().splitlines()[-1]
    assert job_file.name == "job.yaml"
    assert not rec.v1("job_submit")
    # the offline preview of what SDK v1 would send, beside the native job
    assert "DRY_RUN: what SDK v1 would send (offline preview)" in result.stderr
    preview = json.loads((job_file.parent / "v1-preview.json").read_text())["ScriptRunConfig"]
    native = yaml.safe_load(job_file.read_text())
    assert len(preview["command"]) == len(shlex.split(native["command"]))
    shown = " ".join(preview["command"])
    assert "<FileDataset uploaded from " in shown and ".as_named_input('data').as_mount()>" in shown
    assert "<OutputFileDatasetConfig(name='model').as_mount()>" in shown
    assert preview["compute_target"] == native["compute"].split(":", 1)[-1]
    environment = preview["environment"]
    assert (Path(environment["docker_build_context"]) / environment["dockerfile"]).is_file()


def test_ctrl_c_while_streaming_a_v1_run_stops_the_stream_not_the_run(project, tmp_path):
    fake = fake_env(tmp_path / "record", "job_running")
    proc = project.start("job", python=project.python, EXP="train", STREAM="1", **fake)
    lines = []
    for line in proc.stdout:  # the run is streaming once its output arrives
        lines.append(line)
        if line.strip() == "training...":
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(lines) + out + err
    assert "stopped streaming; run_" in err and "keeps running in Azure ML" in err
    assert "https://ml.azure.com/runs/" in err, "says where to follow the run"
    assert "Traceback" not in err


@pytest.mark.parametrize("uv_works", [True, False])
def test_install_sdk_uses_the_uv_beside_the_tools_python_and_pip_where_uv_fails(
    baked, tmp_path, uv_works
):
    """make setup's SDK step (the slowest part of make setup with pip): uv when the
    tools' venv has it, pip when uv cannot install (a private index only pip knows)."""
    real = Path(sys.prefix)
    clone = tmp_path / "tools"  # the tools' venv, with a uv that records its call
    (clone / "bin").mkdir(parents=True)
    (clone / "pyvenv.cfg").write_text((real / "pyvenv.cfg").read_text())
    (clone / "lib").symlink_to(real / "lib")
    (clone / "bin" / "python").symlink_to(Path(sys.executable).resolve())
    calls = tmp_path / "uv-calls"
    uv = clone / "bin" / "uv"
    uv.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit {0 if uv_works else 1}\n')
    uv.chmod(0o755)
    done = subprocess.run(
        [str(clone / "bin" / "python"), "-m", "amlops", "install-sdk"],
        cwd=baked.path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    (call,) = calls.read_text().splitlines()
    assert call.startswith("pip install --quiet --python ") and "azure-ai-ml>=1.20" in call
    assert ("trying pip" in done.stderr) is not uv_works  # pip: already satisfied here
