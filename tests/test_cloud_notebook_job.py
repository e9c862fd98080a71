"""make notebook-job: one notebook as an Azure ML command job in an experiment's
environment (the recording fake service for v2; the v1 interceptors for v1)."""

import pytest

from tests.cloud_support import TRAIN_FILES, cloud_make, cloud_project, v1_python
from tests.helpers import error_lines

pytest.importorskip("azure.ai.ml")

from azure.ai.ml._restclient.arm_ml_service.models import JobBase  # noqa: E402

NB = "notebooks/explore.ipynb"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return cloud_project(tmp_path_factory.mktemp("nbjob"))


def test_the_notebook_runs_with_the_experiments_inputs_and_environment(project, tmp_path):
    result, rec = cloud_make(project, tmp_path, "notebook-job", NB=NB, EXP="train")
    assert result.returncode == 0, result.stderr
    job = JobBase(rec.job_body()).properties
    assert job.command == (
        f"python notebook_runner.py {NB} -- data ${{{{inputs.data}}}}"
        " n_estimators ${{inputs.n_estimators}} model ${{outputs.model}}"
    ), "papermill comes with the image, not a pip install at job start"
    (context,) = rec.uploaded("/environments/train")
    dockerfile = (project.path / "src/train/docker/Dockerfile").read_text()
    assert context["Dockerfile"].startswith(dockerfile.rstrip("\n"))
    assert context["Dockerfile"].endswith(
        "RUN python -m pip install --no-cache-dir 'papermill>=2.5' 'ipykernel>=6'\n"
    )
    assert "papermill" not in dockerfile, "the experiment's own Dockerfile is untouched"
    assert job.tags["notebook"] == NB and job.display_name == "explore (train)"
    assert type(job.inputs["data"]).__name__ == "UriFolderJobInput"
    assert "/environments/CliV2AnonymousEnvironment/" in job.environment_id
    (code,) = [u["files"] for u in rec.uploads if "/code/train" in u["source"]]
    assert set(code) == set(TRAIN_FILES) | {NB, "notebook_runner.py"}
    assert code[NB] == (project.path / NB).read_text()


def test_a_missing_or_outside_notebook_is_refused_before_anything_is_sent(project, tmp_path):
    for name in ("notebooks/nope.ipynb", "src/train/main.py", ""):
        result, rec = cloud_make(project, tmp_path, "notebook-job", NB=name, EXP="train")
        assert result.returncode != 0 and not rec.requests
        assert "NB" in error_lines(result.stderr)[0]


def test_v1_submits_the_notebook_as_a_script_run(tmp_path):
    baked = cloud_project(tmp_path / "v1", aml_sdk="v1")
    python = str(v1_python(baked.path))
    result, rec = cloud_make(baked, tmp_path, "notebook-job", NB=NB, EXP="train", PYTHON=python)
    assert result.returncode == 0, result.stderr
    (job,) = rec.v1("job_submit")
    tokens = job["command"]
    assert tokens[tokens.index("notebook_runner.py") + 1 : tokens.index("--")] == [NB]
    data = [t for t in tokens if isinstance(t, dict) and t.get("input") == "data"]
    assert data and data[0]["mode"] == "mount"
    assert NB in job["source_directory"]
    assert "pip" not in [t for t in tokens if isinstance(t, str)]
    staged = baked.run_dirs("azure/notebooks/explore")[-1] / "environments/train"
    assert "'papermill>=2.5'" in (staged / "Dockerfile").read_text()


def test_a_registered_environment_gets_papermill_at_job_start(project, tmp_path):
    block = "environment:\n  build:\n    path: docker\n"
    project.edit("src/train/job.yaml", block, "environment: azureml:team-env:3\n")
    try:
        result, rec = cloud_make(project, tmp_path, "notebook-job", NB=NB, EXP="train")
    finally:
        project.edit("src/train/job.yaml", "environment: azureml:team-env:3\n", block)
    assert result.returncode == 0, result.stderr
    job = JobBase(rec.job_body()).properties
    assert job.command.startswith("python -m pip install --quiet 'papermill>=2.5'")
    assert job.environment_id.endswith("team-env/versions/3")
    assert rec.uploaded("/environments/") == [], "no build context to add papermill to"
