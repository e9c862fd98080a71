"""make validate: our checks and the SDK's, every problem listed with file and line;
the workspace checks run against the recording fake service."""

import pytest

from tests.cloud_support import cloud_make, cloud_project
from tests.helpers import error_lines

pytest.importorskip("azure.ai.ml")


def test_a_fresh_project_validates_offline_without_calling_azure(baked, tmp_path):
    result, rec = cloud_make(baked, tmp_path, "validate", OFFLINE="1")
    assert result.returncode == 0, result.stderr
    for shown in ("src/prepare/job.yaml", "src/train/job.yaml", "pipelines/training.yaml"):
        assert f"ok {shown}" in result.stderr
    assert "workspace checks skipped (OFFLINE=1)" in result.stderr
    assert rec.requests == []


def test_every_problem_is_listed_with_file_and_line(baked, tmp_path):
    assert baked.make("new-exp", EXP="broken").returncode == 0
    baked.edit("src/broken/job.yaml", "${{inputs.n_estimators}}", "${{inputs.n_trees}}")
    with open(baked.path / "src/prepare/job.yaml", "a") as job:
        job.write("resources:\n  instance_count: many\n")
    baked.edit("pipelines/training.yaml", "outputs.prepared}}", "outputs.cleaned}}")
    result, _ = cloud_make(baked, tmp_path, "validate", OFFLINE="1")
    assert "Error 2" in result.stderr
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert lines[-1] == "error: validate: 3 problem(s)"
    broken, ours, pipeline = lines[:3]
    # the line that writes it, in the block-scalar command (its command: key is line 10)
    assert broken.startswith("error: src/broken/job.yaml:13: command uses ${{inputs.n_trees}}")
    last = len((baked.path / "src/prepare/job.yaml").read_text().splitlines())
    assert ours == (
        f"error: src/prepare/job.yaml:{last}: resources.instance_count must be a whole number"
        " >= 1, got 'many'"
    )
    # the pipeline names the step whose job file is broken (its binding problem comes next)
    assert pipeline.startswith("error: pipelines/training.yaml:19: step 'prepare': src/prepare/")
    assert "ok src/train/job.yaml" in result.stderr


def test_a_fault_is_one_line_not_one_per_form_the_sdk_tried(baked, tmp_path):
    """A missing code folder: the SDK refuses `code:` once per form it takes (local path,
    URL, git, registry, ARM id; over several lines with blank ones between, one twice),
    beside amlops' own line for the same fault. One line remains: amlops'."""
    baked.edit("src/train/job.yaml", "code: ", "code: source  # ")
    result, _ = cloud_make(baked, tmp_path, "validate", OFFLINE="1")
    assert "Error 2" in result.stderr and "Traceback" not in result.stderr
    assert error_lines(result.stderr) == [
        "error: src/train/job.yaml:9: code: 'source' does not exist (src/train/source)",
        "error: validate: 1 problem(s)",
    ]


def test_a_misspelt_curated_environment_gets_a_note_naming_the_close_one(baked, tmp_path):
    """Neither the SDK's offline checks nor amlops' refuse it (Microsoft adds curated
    environments after amlops' lists), and Azure ML would refuse it when sent: a note."""
    job = baked.path / "src/train/job.yaml"
    text = job.read_text()
    start = text.index("environment:")
    end = text.index("\n", text.index("path: docker", start))
    misspelt = "azureml:AzureML-sklean-1.0-ubuntu20.04-py38-cpu@latest"
    job.write_text(text[:start] + f"environment: {misspelt}" + text[end:])
    result, _ = cloud_make(baked, tmp_path, "validate", OFFLINE="1")
    assert result.returncode == 0, result.stderr
    assert (
        f"note src/train/job.yaml:15: {misspelt} is no curated environment amlops knows (did"
        " you mean 'azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest'?)" in result.stderr
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return cloud_project(tmp_path_factory.mktemp("validate"))


def test_workspace_checks_name_missing_compute_and_data(project, tmp_path):
    project.edit("src/train/job.yaml", "path: ../../data/wine", "path: azureml:wine:1")
    try:
        result, rec = cloud_make(project, tmp_path, "validate", scenario="missing_compute")
    finally:
        project.edit("src/train/job.yaml", "path: azureml:wine:1", "path: ../../data/wine")
    assert "Error 2" in result.stderr
    lines = error_lines(result.stderr)
    missing = "compute 'cpu-cluster' does not exist in workspace ws"
    assert f"error: pipelines/training.yaml: {missing}" in lines
    assert f"error: src/prepare/job.yaml: {missing}" in lines
    assert f"error: src/train/job.yaml: {missing}" in lines
    assert "error: src/train/job.yaml: data 'wine:1' does not exist in workspace ws" in lines
    looked_up = [r["url"].split("?")[0] for r in rec.requests if r["method"] == "GET"]
    assert any(url.endswith("/computes/cpu-cluster") for url in looked_up)
    assert any(url.endswith("/data/wine/versions/1") for url in looked_up)


def test_workspace_checks_pass_when_everything_exists(project, tmp_path):
    result, rec = cloud_make(project, tmp_path, "validate")
    assert result.returncode == 0, result.stderr
    assert "checked 1 compute/data/environment references in ws" in result.stderr
    assert [r for r in rec.requests if r["method"] in ("PUT", "POST")] == []


def test_without_a_login_the_workspace_checks_are_skipped_not_failed(project, tmp_path):
    result, rec = cloud_make(project, tmp_path, "validate", scenario="nologin")
    assert result.returncode == 0, result.stderr
    assert "workspace checks skipped: not logged in to Azure" in result.stderr
    assert rec.requests == []
