"""make publish (SDK v2) against the recording fake Azure ML service: the component,
endpoint, deployment and schedule PUTs (decoded with the SDK's REST models), an
idempotent republish, new versions only for changed code, and DRY_RUN."""

import json
from pathlib import Path

import pytest

from tests.cloud_support import cloud_make, cloud_project
from tests.helpers import error_lines

pytest.importorskip("azure.ai.ml")

from azure.ai.ml._restclient.arm_ml_service.models import (  # noqa: E402
    BatchDeployment,
    BatchEndpoint,
    ComponentVersion,
    Schedule,
)

ENDPOINT = "azure-ml-project-training"


def put_bodies(rec, collection: str):
    """URL tail -> body of the successful PUTs under .../workspaces/ws/<collection>/."""
    return {
        r["url"].split(f"/workspaces/ws/{collection}/")[1].split("?")[0]: r["body"]
        for r in rec.puts(collection)
        if r["status"] < 300
    }


def versions(rec):
    """component name -> version of every component PUT."""
    found = {}
    for tail in put_bodies(rec, "components"):
        name, _, version = tail.split("/")
        found[name] = version
    return found


@pytest.fixture()
def project(tmp_path):
    return cloud_project(tmp_path / "bake")


def test_publish_registers_components_deploys_and_schedules(project, tmp_path):
    state = tmp_path / "workspace.json"
    result, rec = cloud_make(project, tmp_path, "publish", state=state, SCHEDULE="0 6 * * 1")
    assert result.returncode == 0, result.stderr

    components = {
        tail.split("/")[0]: ComponentVersion(body).properties
        for tail, body in put_bodies(rec, "components").items()
    }
    assert set(components) == {
        "azure_ml_project_prepare",
        "azure_ml_project_train",
        "azure_ml_project_training",
    }
    train = components["azure_ml_project_train"].component_spec
    assert train["type"] == "command"
    assert train["command"].startswith("python -m train.main --data ${{inputs.data}}")
    assert train["inputs"]["n_estimators"] == {"type": "integer", "default": "100"}
    assert train["code"].startswith("azureml:/subscriptions/")  # the uploaded snapshot
    pipeline = components["azure_ml_project_training"].component_spec
    assert pipeline["type"] == "pipeline"
    assert set(pipeline["inputs"]) == {"raw_data"} and set(pipeline["outputs"]) == {"model"}
    nodes = pipeline["jobs"]
    component_ids = {name: node["componentId"] for name, node in nodes.items()}
    prepare_version = versions(rec)["azure_ml_project_prepare"]
    assert component_ids["prepare"].endswith(
        f"/components/azure_ml_project_prepare/versions/{prepare_version}"
    )
    data = nodes["train"]["inputs"]["data"]
    assert data["value"] == "${{parent.jobs.prepare.outputs.prepared}}"
    assert data["mode"] == "ReadOnlyMount"
    assert nodes["train"]["inputs"]["n_estimators"]["value"] == "200"
    assert nodes["train"]["outputs"]["model"]["value"] == "${{parent.outputs.model}}"

    endpoint_puts = [
        BatchEndpoint(r["body"])
        for r in rec.puts("batchEndpoints")
        if "/deployments/" not in r["url"]
    ]
    assert endpoint_puts[0].properties.auth_mode.lower() == "aadtoken"
    pipeline_version = versions(rec)["azure_ml_project_training"]
    deployment_name = f"training-{pipeline_version}"
    (deployment_body,) = [
        r["body"] for r in rec.puts("batchEndpoints") if "/deployments/" in r["url"]
    ]
    config = BatchDeployment(deployment_body).properties.deployment_configuration
    assert type(config).__name__ == "BatchPipelineComponentDeploymentConfiguration"
    assert config.component_id.asset_id.endswith(
        f"/components/azure_ml_project_training/versions/{pipeline_version}"
    )
    assert config.settings == {"default_compute": "cpu-cluster", "continue_on_step_failure": "True"}
    # a new endpoint gets its first deployment as default
    assert endpoint_puts[-1].properties.defaults.deployment_name == deployment_name

    (schedule_body,) = put_bodies(rec, "schedules").values()
    schedule = Schedule(schedule_body).properties
    assert schedule.trigger.expression == "0 6 * * 1" and schedule.trigger.time_zone == "UTC"
    job = schedule.action.job_definition
    assert job.component_id.endswith(
        f"/components/azure_ml_project_training/versions/{pipeline_version}"
    )
    assert "default_compute" not in job.settings  # the nodes keep their jobs' compute

    scoring = f"https://{ENDPOINT}.westeurope.inference.ml.azure.com/jobs"
    assert result.stdout.strip() == scoring
    assert f"--url {scoring} --body @.runs/azure/published/training/" in result.stderr
    assert f"az ml batch-endpoint invoke --name {ENDPOINT}" in result.stderr


def test_publishing_the_same_content_again_creates_nothing(project, tmp_path):
    state = tmp_path / "workspace.json"
    first, _ = cloud_make(project, tmp_path, "publish", state=state)
    assert first.returncode == 0, first.stderr
    again, rec = cloud_make(project, tmp_path, "publish", state=state)
    assert again.returncode == 0, again.stderr
    assert not [r for r in rec.requests if r["method"] == "PUT"], "nothing new is created"
    assert not rec.uploads
    assert again.stderr.count("unchanged") == 3
    assert again.stdout == first.stdout


def test_changed_code_gets_new_versions_and_keeps_the_default_unless_asked(project, tmp_path):
    state = tmp_path / "workspace.json"
    first, rec1 = cloud_make(project, tmp_path, "publish", state=state)
    assert first.returncode == 0, first.stderr
    main = project.path / "src/train/main.py"
    main.write_text(main.read_text() + "\n# tuned\n")

    second, rec2 = cloud_make(project, tmp_path, "publish", state=state)
    assert second.returncode == 0, second.stderr
    changed = versions(rec2)
    assert set(changed) == {"azure_ml_project_train", "azure_ml_project_training"}
    assert changed["azure_ml_project_train"] != versions(rec1)["azure_ml_project_train"]
    new_deployment = f"training-{changed['azure_ml_project_training']}"
    assert "default deployment stays training-" in second.stderr
    endpoint_puts = [r for r in rec2.puts("batchEndpoints") if "/deployments/" not in r["url"]]
    assert not endpoint_puts

    third, rec3 = cloud_make(project, tmp_path, "publish", state=state, DEFAULT="1")
    assert third.returncode == 0, third.stderr
    assert not versions(rec3)
    (endpoint,) = [r for r in rec3.puts("batchEndpoints") if "/deployments/" not in r["url"]]
    assert BatchEndpoint(endpoint["body"]).properties.defaults.deployment_name == new_deployment


def test_a_version_taken_by_other_content_is_refused(project, tmp_path):
    state = tmp_path / "workspace.json"
    first, _ = cloud_make(project, tmp_path, "publish", state=state, VERSION="1")
    assert first.returncode == 0, first.stderr
    main = project.path / "src/train/main.py"
    main.write_text(main.read_text() + "\n# tuned\n")
    second, _ = cloud_make(project, tmp_path, "publish", state=state, VERSION="1")
    assert second.returncode != 0 and "Error 5" in second.stderr  # make reports the exit code
    (line,) = error_lines(second.stderr)
    assert "component azure_ml_project_training version 1 already exists" in line
    assert "VERSION" in line


def test_dry_run_writes_loadable_yaml_and_calls_nothing(project, tmp_path):
    from azure.ai.ml import load_batch_endpoint, load_component
    from azure.ai.ml.entities._load_functions import (
        load_pipeline_component_batch_deployment,
        load_schedule,
    )

    literal = "\ninputs:\n  trees: 150\n"  # a literal pipeline input for invoke.json
    project.edit("pipelines/training.yaml", "\ninputs:\n", literal)
    try:
        result, rec = cloud_make(project, tmp_path, "publish", DRY_RUN="1", SCHEDULE="0 6 * * *")
    finally:
        project.edit("pipelines/training.yaml", literal, "\ninputs:\n")
    assert result.returncode == 0, result.stderr
    assert not rec.requests and not rec.uploads
    folder = project.path / result.stdout.strip().splitlines()[-1]
    pipeline = load_component(folder / "pipeline_component.yaml")
    train = load_component(folder / "component_train.yaml")
    assert pipeline.jobs["train"].component == f"{train.name}:{train.version}"
    deployment = load_pipeline_component_batch_deployment(folder / "deployment.yaml")
    assert deployment.component.endswith(f"{pipeline.name}:{pipeline.version}")
    assert deployment.endpoint_name == load_batch_endpoint(folder / "endpoint.yaml").name
    schedule = load_schedule(folder / "schedule.yaml")
    assert schedule.trigger.expression == "0 6 * * *"
    assert schedule.create_job.component.endswith(f"{pipeline.name}:{pipeline.version}")
    invoke = json.loads((folder / "invoke.json").read_text())
    assert invoke == sdk_invoke_body(pipeline)
    assert invoke["properties"]["inputData"]["trees"] == {"jobInputType": "Literal", "value": 150}
    assert "az ml batch-deployment create -f" in result.stderr


def sdk_invoke_body(pipeline) -> dict:
    """What `ml_client.batch_endpoints.invoke(inputs=...)` sends for the pipeline
    component's inputs (its default values), built by the SDK's own BatchJobSchema."""
    from azure.ai.ml import Input
    from azure.ai.ml._schema._deployment.batch.batch_job import BatchJobSchema
    from azure.ai.ml.constants._common import BASE_PATH_CONTEXT_KEY, PARAMS_OVERRIDE_KEY
    from azure.ai.ml.constants._endpoint import EndpointYamlFields

    local = "azureml://datastores/<datastore>/paths/<folder>"
    inputs = {}
    for name, spec in pipeline.inputs.items():
        if spec.type in ("uri_folder", "uri_file", "mltable"):
            inputs[name] = Input(type=spec.type, path=local)
        else:
            inputs[name] = Input(type=spec.type, default=spec.default)
    override = [{EndpointYamlFields.BATCH_JOB_INPUT_DATA: inputs}]
    context = {BASE_PATH_CONTEXT_KEY: Path("."), PARAMS_OVERRIDE_KEY: override}
    return {"properties": BatchJobSchema(context=context).load(data={})}
