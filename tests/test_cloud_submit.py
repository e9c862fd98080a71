"""make job / pipeline / step against a recording fake Azure ML service: the REST
bodies (decoded with the SDK's own REST models), the uploaded files, DRY_RUN
round trips, and the failure paths."""

import json
import signal
import subprocess

import pytest

from tests.cloud_support import (
    SECRET,
    TRAIN_FILES,
    Recording,
    cloud_make,
    cloud_project,
    fake_env,
    submitted_folder,
)
from tests.helpers import error_lines

pytest.importorskip("azure.ai.ml")

from azure.ai.ml._restclient.arm_ml_service.models import (  # noqa: E402
    ComponentVersion,
    EnvironmentVersion,
    JobBase,
)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return cloud_project(tmp_path_factory.mktemp("cloud"))


def head(project) -> str:
    done = subprocess.run(
        ["git", "-C", str(project.path), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip()


def test_job_uploads_the_staged_snapshot_and_puts_the_command_job(project, tmp_path):
    result, rec = cloud_make(project, tmp_path, "job", EXP="train")
    assert result.returncode == 0, result.stderr
    # code: exactly src/train + src/common after .amlignore (no tests/, local.py, docker/)
    code = [u for u in rec.uploads if "/code/train" in u["source"]]
    assert len(code) == 1 and sorted(code[0]["files"]) == TRAIN_FILES
    assert not any(name.startswith(("data/", "notebooks/", ".runs/")) for name in code[0]["files"])
    # environment: the experiment's own Docker context, the one make local builds
    context = [u for u in rec.uploads if "/environments/train" in u["source"]]
    assert set(context[0]["files"]) == {"Dockerfile", "requirements.txt"}
    dockerfile = (project.path / "src/train/docker/Dockerfile").read_text()
    assert context[0]["files"]["Dockerfile"] == dockerfile
    env = EnvironmentVersion(rec.puts("environments")[0]["body"])
    assert env.properties.build.context_uri.endswith("/train/")
    # the local data folder goes up as an anonymous input, never inside the code
    data = [u for u in rec.uploads if u["source"].endswith("data/wine")]
    assert list(data[0]["files"]) == ["wine.csv"]

    job = JobBase(rec.job_body()).properties
    assert type(job).__name__ == "CommandJob"
    expected = (
        "python -m train.main --data ${{inputs.data}} --n-estimators ${{inputs.n_estimators}}"
        " --model-dir ${{outputs.model}}"
    )
    assert job.command == expected
    assert job.code_id.endswith(
        rec.puts("codes")[0]["url"].split("/workspaces/ws")[1].split("?")[0]
    )
    assert job.compute_id.endswith("/workspaces/ws/computes/cpu-cluster")
    assert "/environments/CliV2AnonymousEnvironment/versions/" in job.environment_id
    assert job.experiment_name == "azure-ml-project-train"
    assert type(job.inputs["data"]).__name__ == "UriFolderJobInput"
    assert job.inputs["data"].mode == "ReadOnlyMount"
    assert job.inputs["n_estimators"].value == "100"
    assert job.outputs["model"].mode == "ReadWriteMount"
    assert job.tags == {
        "git_commit": head(project),
        "git_dirty": "false",
        "user": job.tags["user"],
        "experiment": "train",
    }
    # what the user sees: the job name and the Studio URL; the record keeps both
    name = rec.job_body() and rec.puts("jobs")[0]["url"].split("/jobs/")[1].split("?")[0]
    assert result.stdout.strip().startswith(f"https://ml.azure.com/runs/{name}")
    assert f"submitted {name}" in result.stderr
    records = list((project.path / ".runs/azure/jobs/train").glob("*/submission.json"))
    assert any(json.loads(r.read_text()).get("job_name") == name for r in records)


def test_job_inputs_compute_overrides_and_no_upload_of_remote_data(project, tmp_path):
    result, rec = cloud_make(
        project,
        tmp_path,
        "job",
        EXP="train",
        INPUTS="data=azureml:wine:3 n_estimators=7",
        COMPUTE="gpu-cluster",
    )
    assert result.returncode == 0, result.stderr
    job = JobBase(rec.job_body()).properties
    assert job.inputs["data"].uri.endswith("/workspaces/ws/data/wine/versions/3")
    assert job.inputs["n_estimators"].value == "7"
    assert job.compute_id.endswith("/computes/gpu-cluster")
    assert not [u for u in rec.uploads if "data/wine" in u["source"]]


def test_an_experimental_field_is_sent_without_the_sdks_warning(project, tmp_path):
    """queue_settings is an experimental field of azure-ai-ml: it is sent, and the SDK's
    'This is an experimental field' notice (importing the SDK turns its logger on) is
    not printed among amlops's lines."""
    job_file = project.path / "src/train/job.yaml"
    saved = job_file.read_text()
    job_file.write_text(saved + "queue_settings:\n  job_tier: standard\n")
    try:
        result, rec = cloud_make(project, tmp_path, "job", EXP="train")
    finally:
        job_file.write_text(saved)
    assert result.returncode == 0, result.stderr
    assert "experimental" not in result.stdout + result.stderr
    assert JobBase(rec.job_body()).properties.queue_settings.job_tier.lower() == "standard"


def test_no_sdk_warning_before_a_one_line_error(baked):
    """Without the fake service (which imports the SDK at start-up) the SDK is imported
    by amlops, which turns the SDK's logger on: its experimental-field notice must still
    not come before the error (a fresh project has no workspace configured)."""
    baked.edit(
        "src/train/job.yaml", "\ncommand:", "\nqueue_settings:\n  job_tier: standard\ncommand:"
    )
    result = baked.make("job", EXP="train")
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "no Azure ML workspace" in line
    assert "experimental" not in result.stdout + result.stderr
    assert "code snapshot" not in result.stderr  # said before any staging
    assert not (baked.path / ".runs" / "jobs").exists()


def test_pipeline_puts_one_component_per_step_with_bindings_kept(project, tmp_path):
    result, rec = cloud_make(project, tmp_path, "pipeline")
    assert result.returncode == 0, result.stderr
    job = JobBase(rec.job_body()).properties
    assert type(job).__name__ == "PipelineJob"
    assert job.settings["continue_on_step_failure"] is True
    # no default compute is set anywhere: each node keeps its job file's compute
    assert "default_compute" not in job.settings
    assert job.jobs["train"]["computeId"].endswith("cpu-cluster")
    assert job.experiment_name == "azure-ml-project-training"
    assert job.inputs["raw_data"].uri.startswith("azureml://datastores/workspaceblobstore/")
    prepare, train = job.jobs["prepare"], job.jobs["train"]
    assert prepare["inputs"]["data"]["value"] == "${{parent.inputs.raw_data}}"
    assert train["inputs"]["data"]["value"] == "${{parent.jobs.prepare.outputs.prepared}}"
    assert train["inputs"]["n_estimators"]["value"] == "200"
    assert train["outputs"]["model"]["value"] == "${{parent.outputs.model}}"
    assert job.outputs["model"].mode == "ReadWriteMount"
    specs = [ComponentVersion(c["body"]).properties.component_spec for c in rec.puts("components")]
    commands = sorted(spec["command"].split()[2] for spec in specs)
    assert commands == ["prepare.main", "train.main"]
    assert all(spec["is_deterministic"] for spec in specs)  # Azure ML step reuse stays on
    code = {
        u["source"].rsplit("/", 1)[1]: set(u["files"])
        for u in rec.uploads
        if "/code/" in u["source"]
    }
    assert sorted(code["train"]) == TRAIN_FILES
    assert {f.split("/")[0] for f in code["prepare"]} == {"prepare", "common"}


def test_step_takes_upstream_outputs_from_a_pipeline_job(project, tmp_path):
    project.env["AMLOPS_FAKE_AZURE_CHILDREN"] = json.dumps({"prepare": "child_prep_7"})
    try:
        result, rec = cloud_make(project, tmp_path, "step", STEP="train", FROM_JOB="pj_1")
    finally:
        del project.env["AMLOPS_FAKE_AZURE_CHILDREN"]
    assert result.returncode == 0, result.stderr
    assert any(r["url"].split("?")[0].endswith("/runs/pj_1/children") for r in rec.requests)
    job = JobBase(rec.job_body()).properties
    assert type(job).__name__ == "CommandJob"
    assert job.inputs["data"].uri == "azureml://jobs/child_prep_7/outputs/prepared"
    assert job.inputs["data"].mode == "ReadOnlyMount"
    assert job.inputs["n_estimators"].value == "200"
    assert job.tags["step"] == "train" and job.tags["pipeline"] == "training"
    assert "output prepared of step prepare in pj_1" in result.stderr


def test_step_without_a_pipeline_job_says_how_to_name_one(tmp_path):
    fresh = cloud_project(tmp_path / "fresh")
    result, rec = cloud_make(fresh, tmp_path, "step", STEP="train")
    assert result.returncode != 0
    [line] = error_lines(result.stderr)
    assert "FROM_JOB=" in line and "INPUTS=" in line and "Traceback" not in result.stderr
    assert rec.requests == []
    assert not (fresh.path / ".runs/azure/steps").exists() or not any(
        (fresh.path / ".runs/azure/steps").rglob("job.yaml")
    )
    # with the upstream input given, no pipeline job is needed
    result, rec = cloud_make(
        fresh, tmp_path, "step", STEP="train", INPUTS="data=azureml:prepared_wine:2"
    )
    assert result.returncode == 0, result.stderr
    job = JobBase(rec.job_body()).properties
    assert job.inputs["data"].uri.endswith("/data/prepared_wine/versions/2")


@pytest.mark.parametrize(
    "target,variables",
    [
        ("job", {"EXP": "train"}),
        ("pipeline", {}),
        ("step", {"STEP": "train", "INPUTS": "data=azureml:prepared:1"}),
    ],
)
def test_dry_run_sends_nothing_and_round_trips_through_load_job(
    project, tmp_path, target, variables
):
    from azure.ai.ml import load_job

    result, rec = cloud_make(project, tmp_path, target, DRY_RUN="1", **variables)
    assert result.returncode == 0, result.stderr
    assert rec.requests == [] and rec.uploads == []
    folder = submitted_folder(result.stdout, project)
    job = load_job(folder / "job.yaml")
    if target == "pipeline":
        assert set(job.jobs) == {"prepare", "train"}
        assert job.settings.continue_on_step_failure is True
        binding = str(job.jobs["train"].inputs["data"]._data)
        assert "'path': '${{parent.jobs.prepare.outputs.prepared}}'" in binding
    else:
        assert "--n-estimators ${{inputs.n_estimators}}" in job.command
        assert (folder / "code" / "train" / "train" / "main.py").is_file()
        assert (folder / "environments" / "train" / "Dockerfile").is_file()
    assert "az ml job create -f" in result.stderr


@pytest.mark.parametrize(
    "scenario,code,words",
    [
        ("nologin", 3, "az login"),
        ("put401", 3, "log in again"),
        ("put404", 4, "Compute cpu-cluster not found"),
        ("put409", 5, "conflict (409)"),
        ("put500always", 6, "service error (500) after retries"),
    ],
)
def test_service_errors_become_one_line_and_an_exit_code(project, tmp_path, scenario, code, words):
    result, rec = cloud_make(project, tmp_path, "job", EXP="train", scenario=scenario)
    assert f"Error {code}" in result.stderr, result.stderr
    [line] = error_lines(result.stderr)
    assert words in line
    assert "Traceback" not in result.stderr
    if scenario == "put500always":
        assert len(rec.puts("jobs")) == 4  # the first try plus AZURE_RETRIES=3
    folder = project.run_dirs("azure/jobs/train")[-1]
    record = json.loads((folder / "submission.json").read_text())
    if scenario != "nologin":
        assert record["status"] == "not submitted" and words in record["error"]
    assert (folder / "job.yaml").is_file()  # nothing lost: what would have gone is kept


def test_a_500_is_retried_and_then_succeeds(project, tmp_path):
    result, rec = cloud_make(project, tmp_path, "job", EXP="train", scenario="put500once")
    assert result.returncode == 0, result.stderr
    assert [r["status"] for r in rec.puts("jobs")] == [500, 201]


@pytest.mark.parametrize("scenario,code", [("", 0), ("job_failed", 1)])
def test_stream_exits_with_the_job_status(project, tmp_path, scenario, code):
    result, rec = cloud_make(project, tmp_path, "job", EXP="train", STREAM="1", scenario=scenario)
    name = rec.puts("jobs")[0]["url"].split("/jobs/")[1].split("?")[0]
    assert any(f"/runs/{name}/details" in r["url"] for r in rec.requests)
    if code == 0:
        assert result.returncode == 0, result.stderr
        assert f"{name} completed" in result.stderr
    else:
        assert "Error 1" in result.stderr
        [line] = error_lines(result.stderr)
        assert f"job {name} ended Failed" in line


def test_secrets_are_never_printed_written_or_sent(project, tmp_path):
    result, rec = cloud_make(project, tmp_path, "job", EXP="train", STREAM="1")
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert SECRET not in json.dumps(rec.requests) + json.dumps(rec.uploads)
    for path in (project.path / ".runs" / "azure").rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path


def test_step_defaults_to_the_latest_pipeline_job_sent_from_here(project, tmp_path):
    result, rec = cloud_make(project, tmp_path, "pipeline")
    assert result.returncode == 0, result.stderr
    pipeline_job = rec.puts("jobs")[0]["url"].split("/jobs/")[1].split("?")[0]
    project.env["AMLOPS_FAKE_AZURE_CHILDREN"] = json.dumps({"prepare": "child_prep_9"})
    try:
        result, rec = cloud_make(project, tmp_path, "step", STEP="train")
    finally:
        del project.env["AMLOPS_FAKE_AZURE_CHILDREN"]
    assert result.returncode == 0, result.stderr
    assert any(f"/runs/{pipeline_job}/children" in r["url"] for r in rec.requests)
    job = JobBase(rec.job_body()).properties
    assert job.inputs["data"].uri == "azureml://jobs/child_prep_9/outputs/prepared"


def test_workspace_from_config_json_and_no_secret_from_committed_files(tmp_path):
    fresh = cloud_project(tmp_path / "fresh")
    (fresh.path / ".env").write_text("")
    (fresh.path / "config.json").write_text(
        json.dumps({"subscription_id": "sub-json", "resource_group": "rg", "workspace_name": "ws"})
    )
    result, rec = cloud_make(fresh, tmp_path, "job", EXP="train")
    assert result.returncode == 0, result.stderr
    assert "/subscriptions/sub-json/resourceGroups/rg/" in rec.puts("jobs")[0]["url"]
    with open(fresh.path / "config.env", "a") as config:
        config.write(f"AZURE_CLIENT_SECRET={SECRET}\n")
    result, rec = cloud_make(fresh, tmp_path, "job", EXP="train")
    [line] = error_lines(result.stderr)
    assert "config.env sets AZURE_CLIENT_SECRET" in line and ".env" in line
    assert SECRET not in result.stdout + result.stderr
    assert rec.requests == []


def test_stream_follows_a_running_job_and_prints_each_log_line_once(project, tmp_path):
    result, rec = cloud_make(
        project, tmp_path, "job", EXP="train", STREAM="1", scenario="job_running"
    )
    assert result.returncode == 0, result.stderr
    name = rec.puts("jobs")[0]["url"].split("/jobs/")[1].split("?")[0]
    polls = [r for r in rec.requests if r["url"].split("?")[0].endswith(f"/runs/{name}/details")]
    assert len(polls) == 3, "Running, Running, then Completed"
    lines = result.stdout.splitlines()
    assert lines.count("epoch 1") == 1 and lines.count("epoch 2") == 1
    assert lines.index("epoch 1") < lines.index("epoch 2")
    assert f"{name} completed" in result.stderr


def test_ctrl_c_while_streaming_stops_the_stream_not_the_job(project, tmp_path):
    record = tmp_path / "record"
    # never completes: a loaded machine must not let the job finish before the signal
    fake = fake_env(record, "job_running,job_running_forever")
    proc = project.start("job", EXP="train", STREAM="1", **fake)
    rec = Recording(record)
    polling = project.wait_for(
        lambda: record.joinpath("requests.jsonl").is_file()
        and any(r["url"].split("?")[0].endswith("/details") for r in rec.requests),
        seconds=60,
    )
    assert polling, "the stream never started"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    name = rec.puts("jobs")[0]["url"].split("/jobs/")[1].split("?")[0]
    assert f"stopped streaming; {name} keeps running in Azure ML" in err
    assert f"az ml job stream --name {name}" in err
    assert "Traceback" not in err
    assert not [r for r in rec.requests if "cancel" in r["url"]], "the job is not canceled"
    records = [
        json.loads(p.read_text())
        for p in project.path.glob(".runs/azure/*/*/*/*.json")
        if not p.parent.is_symlink()  # `latest`
    ]
    (mine,) = [r for r in records if r.get("job_name") == name]
    assert mine["status"] == "submitted; streaming stopped"
