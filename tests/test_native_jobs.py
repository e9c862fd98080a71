"""Native Azure ML command jobs copied into src/<name>/ as they are (tests/cases/native/):
local runs in the venv runtime, DRY_RUN loaded back with the SDK and compared field
by field with the file, make validate, names. The same cases in Docker:
test_native_docker.py."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import error_lines, tree_digest
from tests.native_support import (
    JOB_CASES,
    add_case,
    dry_run_folder,
    edit_yaml,
    sent,
    unchanged_fields,
)

pytest.importorskip("azure.ai.ml")


@pytest.fixture
def cases(baked):
    """A fresh project with every job case under src/<case>/."""
    for case in JOB_CASES:
        add_case(baked, case)
    return baked


def latest(project, experiment: str) -> Path:
    run = project.latest_run(experiment)
    assert run is not None, f"no run folder for {experiment}"
    return run


@pytest.mark.parametrize("case", JOB_CASES)
def test_every_case_runs_locally_in_the_venv_runtime(cases, case):
    """The venv stands in for each environment form and says how it differs."""
    result = cases.make("local", EXP=case, RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((latest(cases, case) / "run.json").read_text())
    assert record["status"] == "completed" and record["runtime"] == "venv"
    assert "venv stands in for" in result.stderr


def test_make_experiments_lists_every_case_and_exp_accepts_each(cases):
    listed = cases.make("experiments").stdout.split()
    assert set(JOB_CASES) <= set(listed)


def test_code_subfolder_is_the_working_directory_and_code_root(cases):
    result = cases.make("local", EXP="code_subfolder", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    run = latest(cases, "code_subfolder")
    assert (run / "outputs" / "result" / "greeting.txt").read_text() == "hi"
    staged = sorted(p.name for p in (run / "src").iterdir())
    assert staged == ["common", "logs", "outputs", "run.py"]
    assert "venv stands in for image python:3.11-slim" in result.stderr

    dry = cases.make("job", EXP="code_subfolder", DRY_RUN="1")
    assert dry.returncode == 0, dry.stderr
    folder = dry_run_folder(cases, dry)
    job = sent(cases, dry)
    code = folder / job["code"]
    assert (code / "run.py").is_file() and (code / "common" / "__init__.py").is_file()
    assert not (code / "app").exists()


def test_code_dot_imports_common_locally_and_in_the_snapshot(cases):
    result = cases.make("local", EXP="code_dot_common", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    assert (latest(cases, "code_dot_common") / "outputs/report/report.txt").read_text() == "common"
    dry = cases.make("job", EXP="code_dot_common", DRY_RUN="1")
    job = sent(cases, dry)
    files = sorted(
        p.relative_to(dry_run_folder(cases, dry) / job["code"]).as_posix()
        for p in (dry_run_folder(cases, dry) / job["code"]).rglob("*")
        if p.is_file()
    )
    # the job's own folder at the root, src/common as common/, docker/ left to the environment
    assert "score.py" in files and "common/__init__.py" in files and "job.yaml" in files
    assert not any(name.startswith("docker/") for name in files)


def test_outputs_and_logs_folders_exist_and_are_kept_in_the_run_folder(cases):
    result = cases.make("local", EXP="outputs_dir", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    run = latest(cases, "outputs_dir")
    assert (run / "outputs" / "marker.txt").read_text() == "done\n"
    assert (run / "logs" / "extra.log").read_text() == "line\n"


def test_optional_arguments_follow_the_service_rule(cases):
    result = cases.make("local", EXP="optional_args", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    assert "['--n', '3', '--seed', '7']" in result.stdout
    edit_yaml(cases.path / "src/optional_args/job.yaml", lambda d: d["inputs"].pop("seed"))
    dropped = cases.make("local", EXP="optional_args", RUNTIME="venv")
    assert dropped.returncode == 0, dropped.stderr
    assert "['--n', '3']" in dropped.stdout
    # the cloud gets the command as written: the service applies the rule itself
    job = sent(cases, cases.make("job", EXP="optional_args", DRY_RUN="1"))
    assert "$[[--seed ${{inputs.seed}}]]" in job["command"]


def test_download_mode_input_is_the_runs_own_writable_copy(cases):
    before = tree_digest(cases.path / "data")
    result = cases.make("local", EXP="download_mode", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    run = latest(cases, "download_mode")
    assert (run / "inputs" / "data" / "scratch.tmp").is_file()
    assert tree_digest(cases.path / "data") == before
    # ro_mount stays read-only: the same write now fails the run
    edit_yaml(
        cases.path / "src/download_mode/job.yaml",
        lambda d: d["inputs"]["data"].update(mode="ro_mount"),
    )
    refused = cases.make("local", EXP="download_mode", RUNTIME="venv")
    assert refused.returncode != 0
    (cases.path / "data" / "wine" / "scratch.tmp").unlink(missing_ok=True)


def test_distribution_starts_every_rank_with_azure_ml_variables(cases):
    result = cases.make("local", EXP="distributed", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    run = latest(cases, "distributed")
    ranks = {}
    for rank in ("0", "1"):
        ranks[rank] = eval((run / f"outputs/ranks/rank{rank}.txt").read_text())  # noqa: S307
    assert ranks["1"] == {
        "RANK": "1",
        "LOCAL_RANK": "1",
        "WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "6105",
        "NODE_RANK": "0",
    }
    assert ranks["0"]["RANK"] == "0"
    assert (run / "logs" / "std_log_process_1.txt").is_file()
    assert json.loads((run / "run.json").read_text())["processes"] == 2


def test_instance_count_runs_as_local_nodes(cases):
    edit_yaml(
        cases.path / "src/distributed/job.yaml",
        lambda d: d["resources"].update(instance_count=2),
    )
    result = cases.make("local", EXP="distributed", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    ranks = latest(cases, "distributed") / "outputs" / "ranks"
    envs = [eval((ranks / f"rank{r}.txt").read_text()) for r in range(4)]  # noqa: S307
    assert [e["NODE_RANK"] for e in envs] == ["0", "0", "1", "1"]
    assert [e["LOCAL_RANK"] for e in envs] == ["0", "1", "0", "1"]
    assert {e["WORLD_SIZE"] for e in envs} == {"4"}


def test_tensorflow_distribution_sets_tf_config_per_process(cases):
    edit_yaml(
        cases.path / "src/distributed/job.yaml",
        lambda d: d.update(
            distribution={"type": "tensorflow", "worker_count": 2, "parameter_server_count": 1},
            command="mkdir -p ${{outputs.ranks}} && echo $TF_CONFIG >"
            " ${{outputs.ranks}}/$(python -c 'import json,os; t=json.loads(os.environ"
            '["TF_CONFIG"])["task"]; print(t["type"] + str(t["index"]))\')',
        ),
    )
    result = cases.make("local", EXP="distributed", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    ranks = latest(cases, "distributed") / "outputs" / "ranks"
    assert sorted(p.name for p in ranks.iterdir()) == ["ps0", "worker0", "worker1"]
    config = json.loads((ranks / "worker1").read_text())
    assert config["task"] == {"type": "worker", "index": 1}
    assert len(config["cluster"]["worker"]) == 2 and len(config["cluster"]["ps"]) == 1
    assert config["environment"] == "cloud"


def test_a_failing_rank_stops_the_others_and_fails_the_run(cases):
    edit_yaml(
        cases.path / "src/distributed/job.yaml",
        lambda d: d.update(command="bash -c '[ \"$RANK\" = 1 ] && exit 3; sleep 30'"),
    )
    result = cases.make("local", EXP="distributed", RUNTIME="venv", timeout=60)
    assert result.returncode != 0
    assert json.loads((latest(cases, "distributed") / "run.json").read_text())["exit_code"] == 3


def test_conda_environment_installs_its_pip_section_in_the_venv(cases):
    conda = cases.path / "src/env_image_conda/conda.yaml"
    edit_yaml(conda, lambda d: d["dependencies"].insert(0, "numpy=1.26"))
    result = cases.make("local", EXP="env_image_conda", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    assert "six 1.16.0" in result.stdout
    assert "conda-only packages not installed: numpy=1.26" in result.stderr


def test_build_context_other_than_docker_feeds_the_venv_its_requirements(cases):
    folder = cases.path / "src/env_build_folder/environment"
    (folder / "reqs.txt").write_text("six==1.16.0\n")
    dockerfile = folder / "train.Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text() + "COPY reqs.txt /r.txt\nRUN pip install -r /r.txt\n"
    )
    (cases.path / "src/env_build_folder/hello.py").write_text(
        "import six\nprint('six', six.__version__)\n"
    )
    result = cases.make("local", EXP="env_build_folder", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    assert "six 1.16.0" in result.stdout
    assert "installs src/env_build_folder/environment/reqs.txt" in result.stderr


def test_every_case_is_sent_field_for_field_and_loads_back(cases):
    from azure.ai.ml import load_job

    for case in JOB_CASES:
        source = yaml.safe_load((cases.path / "src" / case / "job.yaml").read_text())
        dry = cases.make("job", EXP=case, DRY_RUN="1")
        assert dry.returncode == 0, f"{case}: {dry.stderr}"
        native = sent(cases, dry)
        assert unchanged_fields(source, native) == [], case
        assert native.get("compute") == source.get("compute"), case
        job = load_job(dry_run_folder(cases, dry) / "job.yaml")
        assert job._validate().passed, case
    registry = cases.path / "src/env_curated/job_registry.yaml"
    assert registry.is_file()


def test_output_path_name_and_version_are_sent(cases):
    native = sent(cases, cases.make("job", EXP="output_fields", DRY_RUN="1"))
    assert native["outputs"]["scores"] == {
        "type": "uri_folder",
        "mode": "upload",
        "path": "azureml://datastores/workspaceblobstore/paths/scores/",
        "name": "churn-scores",
        "version": "7",
    }


def test_no_compute_is_serverless_unless_a_project_compute_is_set(cases):
    native = sent(cases, cases.make("job", EXP="serverless", DRY_RUN="1"))
    assert "compute" not in native
    assert native["resources"] == {"instance_type": "Standard_E4s_v3", "instance_count": 1}
    chosen = sent(cases, cases.make("job", EXP="serverless", DRY_RUN="1", AML_COMPUTE="gpu"))
    assert chosen["compute"] == "azureml:gpu"
    # the sample's own job file names its compute, which is kept as written
    assert sent(cases, cases.make("job", EXP="train", DRY_RUN="1"))["compute"] == (
        "azureml:cpu-cluster"
    )


def test_environment_forms_are_sent_with_their_files(cases):
    build = cases.make("job", EXP="env_build_folder", DRY_RUN="1")
    env = sent(cases, build)["environment"]
    assert env["build"]["dockerfile_path"] == "train.Dockerfile"
    assert (dry_run_folder(cases, build) / env["build"]["path"] / "train.Dockerfile").is_file()
    conda = cases.make("job", EXP="env_image_conda", DRY_RUN="1")
    env = sent(cases, conda)["environment"]
    assert env["image"] == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    assert (dry_run_folder(cases, conda) / env["conda_file"]).read_text() == (
        cases.path / "src/env_image_conda/conda.yaml"
    ).read_text()
    curated = sent(cases, cases.make("job", EXP="env_curated", DRY_RUN="1"))
    assert curated["environment"] == "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest"


def test_environment_file_form_runs_and_is_sent(cases):
    folder = cases.path / "src/env_image"
    (folder / "env.yml").write_text("name: local-env\nimage: python:3.11-slim\n")
    edit_yaml(folder / "job.yaml", lambda d: d.update(environment="file:./env.yml"))
    assert cases.make("local", EXP="env_image", RUNTIME="venv").returncode == 0
    dry = cases.make("job", EXP="env_image", DRY_RUN="1")
    assert dry.returncode == 0, dry.stderr
    env = sent(cases, dry)["environment"]
    assert env.startswith("file:")
    written = yaml.safe_load((dry_run_folder(cases, dry) / env[len("file:") :]).read_text())
    assert written["image"] == "python:3.11-slim"
    assert cases.make("validate", OFFLINE="1").returncode == 0


def test_validate_accepts_every_case_as_dry_run_writes_it(cases):
    result = cases.make("validate", OFFLINE="1")
    assert result.returncode == 0, result.stderr
    for case in JOB_CASES:
        assert f"ok src/{case}/job.yaml" in result.stderr


def test_workspace_environment_without_login_is_one_line_and_writes_nothing(cases):
    edit_yaml(
        cases.path / "src/env_image/job.yaml", lambda d: d.update(environment="azureml:my-env:3")
    )
    before = (
        sorted(p.name for p in (cases.path / ".runs").glob("*"))
        if (cases.path / ".runs").exists()
        else []
    )
    for runtime in ("venv", "docker"):
        result = cases.make("local", EXP="env_image", RUNTIME=runtime)
        assert result.returncode == 2
        lines = error_lines(result.stderr)
        assert len(lines) == 1 and "Traceback" not in result.stderr
        assert "src/env_image/job.yaml" in lines[0] and "azureml:my-env:3" in lines[0]
        assert "LOCAL_IMAGE=" in lines[0]
    after = (
        sorted(p.name for p in (cases.path / ".runs").glob("*"))
        if (cases.path / ".runs").exists()
        else []
    )
    assert "env_image" not in set(after) - set(before)


def test_symlinked_folder_is_staged_and_a_broken_link_is_one_line(cases):
    exp = cases.path / "src/code_dot_common"
    shared = cases.path / "src/shared_helpers"
    shared.mkdir()
    (shared / "helper.py").write_text("VALUE = 'linked'\n")
    (exp / "helpers").symlink_to("../shared_helpers")
    (exp / "score.py").write_text(
        "import argparse, pathlib\nfrom helpers.helper import VALUE\n"
        "p = argparse.ArgumentParser(); p.add_argument('--out'); a = p.parse_args()\n"
        "pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)\n"
        "(pathlib.Path(a.out) / 'report.txt').write_text(VALUE)\n"
    )
    result = cases.make("local", EXP="code_dot_common", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    run = latest(cases, "code_dot_common")
    assert (run / "outputs/report/report.txt").read_text() == "linked"
    assert not (run / "src/helpers").is_symlink() and (run / "src/helpers/helper.py").is_file()
    dry = cases.make("job", EXP="code_dot_common", DRY_RUN="1")
    assert (dry_run_folder(cases, dry) / sent(cases, dry)["code"] / "helpers/helper.py").is_file()

    (exp / "gone.py").symlink_to("missing.py")
    runs_before = len(cases.run_dirs("code_dot_common"))
    for target in (("local", {"RUNTIME": "venv"}), ("job", {"DRY_RUN": "1"})):
        broken = cases.make(target[0], EXP="code_dot_common", **target[1])
        assert broken.returncode == 2 and "Traceback" not in broken.stderr
        lines = error_lines(broken.stderr)
        assert len(lines) == 1 and "gone.py" in lines[0] and "broken symlink" in lines[0]
    assert len(cases.run_dirs("code_dot_common")) == runs_before


def test_job_yml_and_dashed_folder_names_work(cases):
    folder = cases.path / "src/my-job"
    shutil.copytree(cases.path / "src/code_subfolder", folder)
    (folder / "job.yaml").rename(folder / "job.yml")
    assert "my-job" in cases.make("experiments").stdout.split()
    result = cases.make("local", EXP="my-job", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    assert cases.make("job", EXP="my-job", DRY_RUN="1").returncode == 0
    # a name Python cannot import: one line that says why
    edit_yaml(folder / "job.yml", lambda d: d.update(command="python -m my-job.run"))
    refused = cases.make("local", EXP="my-job", RUNTIME="venv")
    lines = error_lines(refused.stderr)
    assert refused.returncode == 2 and len(lines) == 1
    assert "python -m my-job.run cannot work" in lines[0]


def test_a_folder_exp_refuses_is_not_listed(cases):
    odd = cases.path / "src" / "has space"
    shutil.copytree(cases.path / "src/env_image", odd)
    listed = cases.make("experiments").stdout.split("\n")
    assert "has space" not in listed


def test_names_are_checked_against_azure_rules_offline(cases):
    edit_yaml(
        cases.path / "src/env_image/job.yaml", lambda d: d.update(experiment_name="bad name!")
    )
    result = cases.make("local", EXP="env_image", RUNTIME="venv")
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1
    assert "src/env_image/job.yaml:" in lines[0] and "experiment_name 'bad name!'" in lines[0]


def test_sweep_case_as_it_is_tells_that_no_trial_logged_its_metric(baked):
    """The case's environment has no mlflow: every trial fails to import it, and the
    sweep says so at the end with each trial's telling log line (tests/test_sweeps.py
    runs it with mlflow-skinny added)."""
    add_case(baked, "sweep")
    result = baked.make("local", EXP="sweep", RUNTIME="venv")
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1
    assert "objective.primary_metric 'loss': no trial logged it" in lines[0]
    assert "No module named 'mlflow'" in result.stderr


def test_inputs_are_type_checked_for_local_and_cloud_targets(cases):
    for target, extra in (("local", {"RUNTIME": "venv"}), ("job", {"DRY_RUN": "1"})):
        result = cases.make(target, EXP="train", INPUTS="n_estimators=abc", **extra)
        lines = error_lines(result.stderr)
        assert result.returncode == 2 and len(lines) == 1, (target, result.stderr)
        assert "n_estimators" in lines[0] and "integer" in lines[0]


def test_native_fields_reach_the_service(tmp_path):
    """Through the recording fake service: what the REST API receives for output fields,
    serverless compute and resources, decoded with the SDK's own REST models."""
    from azure.ai.ml._restclient.arm_ml_service.models import JobBase

    from tests.cloud_support import cloud_make, cloud_project

    project = cloud_project(tmp_path / "cloud")
    for case in ("output_fields", "serverless", "distributed"):
        add_case(project, case)
    result, rec = cloud_make(project, tmp_path, "job", EXP="output_fields")
    assert result.returncode == 0, result.stderr
    job = JobBase(rec.job_body()).properties
    scores = job.outputs["scores"]
    assert (scores.asset_name, scores.get("assetVersion"), scores.mode) == (
        "churn-scores",
        "7",
        "Upload",
    )
    assert scores.uri == "azureml://datastores/workspaceblobstore/paths/scores/"

    result, rec = cloud_make(project, tmp_path, "job", EXP="serverless")
    assert result.returncode == 0, result.stderr
    job = JobBase(rec.job_body()).properties
    assert job.compute_id is None
    assert job.resources.instance_type == "Standard_E4s_v3"

    result, rec = cloud_make(project, tmp_path, "job", EXP="distributed")
    assert result.returncode == 0, result.stderr
    job = JobBase(rec.job_body()).properties
    assert job.distribution.distribution_type == "PyTorch"
    assert job.distribution.process_count_per_instance == 2


def test_pipeline_steps_keep_their_jobs_compute_unless_the_pipeline_overrides(baked):
    edit_yaml(baked.path / "src/prepare/job.yaml", lambda d: d.pop("compute"))
    native = sent(baked, baked.make("pipeline", DRY_RUN="1"))
    assert "default_compute" not in native["settings"]
    assert native["jobs"]["prepare"]["compute"] == "azureml:serverless"  # like its job
    assert native["jobs"]["train"]["compute"] == "azureml:cpu-cluster"
    edit_yaml(
        baked.path / "pipelines/training.yaml",
        lambda d: (
            d["jobs"]["train"].update(compute="gpu"),
            d.update(settings={**d["settings"], "default_compute": "azureml:cpu-small"}),
        ),
    )
    native = sent(baked, baked.make("pipeline", DRY_RUN="1"))
    assert native["settings"]["default_compute"] == "azureml:cpu-small"
    assert "compute" not in native["jobs"]["prepare"]  # takes the default
    assert native["jobs"]["train"]["compute"] == "azureml:gpu"


def test_limits_timeout_stops_a_local_run_as_azure_ml_would(cases):
    edit_yaml(
        cases.path / "src/env_image/job.yaml",
        lambda d: d.update(
            command="echo started && sleep 60 && echo slept-$((6 * 7))", limits={"timeout": 2}
        ),
    )
    # make's own timeout (a minute) is only a guard against a hang; what is asserted is that
    # the job was stopped before its command finished, and recorded as timed out.
    result = cases.make("local", EXP="env_image", RUNTIME="venv", timeout=60)
    assert result.returncode == 124 or "Error 124" in result.stderr, result.stderr
    run = latest(cases, "env_image")
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "timed out" and record["exit_code"] == 124
    log = (run / "logs/std_log.txt").read_text()
    assert "limits.timeout of 2 s reached" in log
    assert "started" in log.splitlines() and "slept-42" not in log  # stopped mid-command
    assert "env_image timed out (limits.timeout, exit 124)" in result.stderr  # as make runs
    assert "no code: the job has no `code:`; its working directory" in result.stderr
