"""make deploy, make register-model, make invoke CLOUD=1 and make validate on endpoint
folders, against the recording fake Azure ML service (tests/support/fake_azure): the
REST bodies of the endpoint, deployment and model PUTs decoded with the SDK's generated
REST models, DRY_RUN files loaded back with the SDK's loaders field by field."""

import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from tests.cloud_support import cloud_make, cloud_project
from tests.helpers import REPO, error_lines

pytest.importorskip("azure.ai.ml")

from azure.ai.ml import load_model, load_online_deployment, load_online_endpoint  # noqa: E402
from azure.ai.ml._restclient.arm_ml_service.models import (  # noqa: E402
    BatchDeployment,
    BatchEndpoint,
    ModelVersion,
    OnlineDeployment,
    OnlineEndpoint,
)

CASE = REPO / "tests" / "cases" / "native" / "endpoint_online"
ENDPOINT = "wine-quality"  # the case's endpoint name; its folder is endpoints/wine/
RUN_ID = "20261201-120000-abcdef"


@pytest.fixture()
def project(tmp_path):
    baked = cloud_project(tmp_path / "bake")
    shutil.copytree(CASE, baked.path / "endpoints" / "wine")
    return baked


def fake_run(project, experiment="train", run_id=RUN_ID, outputs=("model",), status="completed"):
    """A finished local run folder as make local leaves it (run.json + outputs)."""
    run_dir = project.path / ".runs" / experiment / run_id
    recorded = {}
    for name in outputs:
        folder = run_dir / "outputs" / name
        folder.mkdir(parents=True)
        (folder / "model.pkl").write_text(f"{name} of {run_id}")
        recorded[name] = str(folder)
    record = {
        "status": status,
        "experiment": experiment,
        "job_file": f"src/{experiment}/job.yaml",
        "outputs": recorded,
    }
    (run_dir / "run.json").write_text(json.dumps(record))
    return run_dir


def written_folder(result) -> Path:
    return Path(result.stdout.strip().splitlines()[-1]).parent


def put_bodies(rec, collection):
    """(URL tail, body) of every successful PUT under .../workspaces/ws/<collection>/, in order."""
    return [
        (r["url"].split(f"/workspaces/ws/{collection}/")[1].split("?")[0], r["body"])
        for r in rec.puts(collection)
        if r["status"] < 300
    ]


def _resolved_paths(entity, base: Path):
    """The local paths of a loaded deployment, resolved (they differ only in form)."""
    code = entity.code_configuration.code
    return {
        "model": (base / entity.model.path).resolve() if entity.model.path else None,
        "code": (base / code).resolve(),
        "conda": (
            (base / entity.environment.conda_file).resolve()
            if isinstance(entity.environment.conda_file, str)
            else None
        ),
    }


def test_deploy_dry_run_keeps_every_field_of_the_files(project, tmp_path):
    result, rec = cloud_make(project, tmp_path, "deploy", ENDPOINT="wine", DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    assert rec.requests == []  # nothing sent
    folder = project.path / written_folder(result)
    source = project.path / "endpoints" / "wine"
    # The endpoint: every field as written, loaded by the SDK's loader.
    original = load_online_endpoint(source / "endpoint.yml")
    sent = load_online_endpoint(folder / "endpoint.yml")
    assert sent._to_dict() == original._to_dict()
    assert sent.traffic == {"blue": 80, "green": 20} and sent.auth_mode == "key"
    for file_name in ("blue-deployment.yml", "green-deployment.yml"):
        raw_original = yaml.safe_load((source / file_name).read_text())
        raw_sent = yaml.safe_load((folder / file_name).read_text())
        assert set(raw_sent) == set(raw_original), file_name
        for key in raw_original:
            if key not in ("model", "code_configuration", "environment"):
                assert raw_sent[key] == raw_original[key], (file_name, key)
        original = load_online_deployment(source / file_name)
        sent = load_online_deployment(folder / file_name)
        assert _resolved_paths(sent, folder) == _resolved_paths(original, source)
        expected = original._to_dict()
        got = sent._to_dict()
        for key in set(expected) | set(got):
            if key not in ("model", "code_configuration", "environment"):
                assert got.get(key) == expected.get(key), (file_name, key)
        assert sent.code_configuration.scoring_script == "score.py"
        assert sent.environment.image == original.environment.image
        assert sent.request_settings.request_timeout_ms == 2000
        assert sent.liveness_probe.initial_delay == 5 and sent.liveness_probe.period == 5
        assert sent.instance_type == "Standard_DS3_v2" and sent.instance_count == 1


def test_deploy_sends_the_endpoint_then_the_deployments_then_traffic(project, tmp_path):
    result, rec = cloud_make(project, tmp_path, "deploy", ENDPOINT="wine")
    assert result.returncode == 0, result.stderr
    puts = put_bodies(rec, "onlineEndpoints")
    assert [tail for tail, _ in puts] == [
        ENDPOINT,
        f"{ENDPOINT}/deployments/blue",
        f"{ENDPOINT}/deployments/green",
        ENDPOINT,
    ]
    first, last = OnlineEndpoint(puts[0][1]), OnlineEndpoint(puts[-1][1])
    assert first.properties.auth_mode == "Key"
    assert not first.properties.traffic  # a new endpoint: no deployment to route to yet
    assert last.properties.traffic == {"blue": 80, "green": 20}
    for (tail, body), colour in zip(puts[1:3], ("blue", "green")):
        deployment = OnlineDeployment(body)
        props = deployment.properties
        assert props.endpoint_compute_type == "Managed"
        assert props.instance_type == "Standard_DS3_v2"
        assert deployment.sku.capacity == 1
        assert props.environment_variables == {"COLOUR": colour}
        assert props.request_settings.request_timeout.total_seconds() == 2
        assert props.request_settings.max_concurrent_requests_per_instance == 1
        assert props.liveness_probe.initial_delay.total_seconds() == 5
        assert props.liveness_probe.period.total_seconds() == 5
        assert props.code_configuration.scoring_script == "score.py"
        assert "/codes/" in props.code_configuration.code_id
        assert "/models/" in props.model and "/environments/" in props.environment_id
    # Code and model uploaded as the SDK does: the scoring folder and the model folder.
    uploaded = [files for u in rec.uploads for files in [u["files"]]]
    assert any("score.py" in files and "conda.yaml" in files for files in uploaded)
    assert any("weights.json" in files for files in uploaded)
    assert "scoring URI: https://wine-quality." in result.stderr


def test_deploy_one_deployment_with_a_traffic_override(project, tmp_path):
    state = tmp_path / "workspace.json"
    result, rec = cloud_make(
        project, tmp_path, "deploy", state=state, ENDPOINT="wine", TRAFFIC="blue=100"
    )
    assert result.returncode == 0, result.stderr
    result, rec = cloud_make(
        project,
        tmp_path,
        "deploy",
        state=state,
        ENDPOINT="wine",
        DEPLOYMENT="green",
        TRAFFIC="blue=90 green=10",
    )
    assert result.returncode == 0, result.stderr
    puts = put_bodies(rec, "onlineEndpoints")
    assert [tail for tail, _ in puts] == [ENDPOINT, f"{ENDPOINT}/deployments/green", ENDPOINT]
    # The endpoint exists: it keeps its traffic until the new deployment is there.
    assert OnlineEndpoint(puts[0][1]).properties.traffic == {"blue": 100}
    assert OnlineEndpoint(puts[-1][1]).properties.traffic == {"blue": 90, "green": 10}


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"DEPLOYMENT": "red"}, "has no deployment 'red' (known: blue, green)"),
        ({"TRAFFIC": "red=10"}, "TRAFFIC names deployment 'red'"),
        ({"TRAFFIC": "blue=80 green=30"}, "sum to more than 100"),
        ({"TRAFFIC": "blue:80"}, "write name=percent pairs"),
        ({"ENDPOINT": "nope"}, "unknown endpoint 'nope': no endpoints/nope/"),
    ],
)
def test_deploy_bad_input_is_one_line(project, tmp_path, variables, message):
    variables = {"ENDPOINT": "wine", **variables}
    result, rec = cloud_make(project, tmp_path, "deploy", **variables)
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr and rec.requests == []


def test_deploy_missing_model_path_is_one_line(project, tmp_path):
    shutil.rmtree(project.path / "endpoints" / "wine" / "model")
    result, rec = cloud_make(project, tmp_path, "deploy", ENDPOINT="wine", DRY_RUN="1")
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "blue-deployment.yml:5: model: path endpoints/wine/model does not exist" in lines[0]
    assert "make register-model" in lines[0]


def test_register_model_dry_run_writes_a_model_file_load_model_reads(project, tmp_path):
    fake_run(project)
    result, rec = cloud_make(project, tmp_path, "register-model", EXP="train", DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    assert rec.requests == []
    model_file = project.path / result.stdout.strip().splitlines()[-1]
    assert model_file.name == "model.yaml"
    model = load_model(model_file)
    assert (model.name, model.version, model.type) == ("train", "1", "custom_model")
    assert model.tags["amlops.run"] == RUN_ID
    run_output = project.path / ".runs" / "train" / RUN_ID / "outputs" / "model"
    assert (model_file.parent / model.path).resolve() == run_output.resolve()
    assert not (project.path / ".runs" / ".models").exists()  # nothing registered


def test_register_model_locally_and_in_azure_then_serve_resolves_it(project, tmp_path):
    fake_run(project)
    result, rec = cloud_make(
        project, tmp_path, "register-model", EXP="train", NAME="wine-model", VERSION="3"
    )
    assert result.returncode == 0, result.stderr
    puts = put_bodies(rec, "models")
    assert [tail for tail, _ in puts][-1] == "wine-model/versions/3"
    version = ModelVersion(puts[-1][1]).properties
    assert version.model_type == "custom_model"
    assert version.tags["amlops.run"] == RUN_ID
    assert any(u["files"] == {"model.pkl": f"model of {RUN_ID}"} for u in rec.uploads)
    # Locally: a copy where Azure ML keeps it, and the MLflow registry (read with MLflow).
    copy = project.path / ".runs" / ".models" / "wine-model" / "3" / "model" / "model.pkl"
    assert copy.read_text() == f"model of {RUN_ID}"
    probe = (
        "import os, sys; os.environ['MLFLOW_ALLOW_FILE_STORE'] = 'true'\n"
        "from mlflow import MlflowClient\n"
        "uri = 'file://' + os.path.abspath('.runs/mlruns')\n"
        "client = MlflowClient(tracking_uri=uri, registry_uri=uri)\n"
        "v = client.get_model_version('wine-model', '1')\n"
        "print(v.tags['azureml.version'], v.tags['amlops.run'], v.source)\n"
        "from amlops.project import Project\n"
        "from amlops.tracking.models import resolve_model\n"
        "print(resolve_model(Project.find(), 'azureml:wine-model:3').path)\n"
        "print(resolve_model(Project.find(), 'azureml:wine-model@latest').version)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=project.path, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split()[:2] == ["3", RUN_ID]
    assert Path(lines[0].split()[2]) == copy.parent
    assert Path(lines[1]) == copy.parent and lines[2] == "3"
    # Versions never change: the same name and version again is one line.
    again, rec = cloud_make(
        project, tmp_path, "register-model", EXP="train", NAME="wine-model", VERSION="3"
    )
    assert again.returncode == 2 and rec.requests == []
    lines = error_lines(again.stderr)
    assert len(lines) == 1 and "wine-model:3 is already registered locally" in lines[0]


def test_register_model_offline_numbers_versions_and_deploy_uses_the_registered_model(
    project, tmp_path
):
    fake_run(project)
    result, rec = cloud_make(project, tmp_path, "register-model", EXP="train", OFFLINE="1")
    assert result.returncode == 0 and rec.requests == [], result.stderr
    assert "registered locally: azureml:train:1" in result.stderr
    assert not (project.path / "mlflow.db").exists(), "MLflow's default store left behind"
    # The same run's model again: its version, not a new one.
    result, rec = cloud_make(project, tmp_path, "register-model", EXP="train", OFFLINE="1")
    assert result.returncode == 0 and rec.requests == [], result.stderr
    assert "azureml:train:1 is this run's model already" in result.stderr
    assert "registered locally:" not in result.stderr
    assert not (project.path / ".runs/.models/train/2").exists()
    # A newer run: the next version.
    run_dir = fake_run(project, run_id="20261202-120000-abcdef")
    result, rec = cloud_make(project, tmp_path, "register-model", EXP="train", OFFLINE="1")
    assert result.returncode == 0 and rec.requests == [], result.stderr
    assert "registered locally: azureml:train:2" in result.stderr
    # A deployment whose model path is the run output registered as train:2.
    blue = project.path / "endpoints" / "wine" / "blue-deployment.yml"
    text = blue.read_text().replace("path: ./model/", f"path: {run_dir / 'outputs' / 'model'}")
    blue.write_text(text)
    result, rec = cloud_make(
        project, tmp_path, "deploy", ENDPOINT="wine", DEPLOYMENT="blue", DRY_RUN="1"
    )
    assert result.returncode == 0 and rec.requests == [], result.stderr
    assert "DRY_RUN: azureml:train:2 is a local registration: make deploy registers it" in (
        result.stderr
    )
    result, rec = cloud_make(project, tmp_path, "deploy", ENDPOINT="wine", DEPLOYMENT="blue")
    assert result.returncode == 0, result.stderr
    assert "sent as model: azureml:train:2" in result.stderr
    assert "only registered locally: registering it in Azure ML" in result.stderr
    assert [tail for tail, _ in put_bodies(rec, "models")] == ["train/versions/2"]
    deployment = OnlineDeployment(put_bodies(rec, "onlineEndpoints")[1][1])
    assert deployment.properties.model.endswith("/models/train/versions/2")


def test_register_model_without_a_workspace_says_so_before_registering_locally(project, tmp_path):
    fake_run(project)
    (project.path / ".env").unlink()
    result, rec = cloud_make(project, tmp_path, "register-model", EXP="train")
    assert result.returncode == 2 and rec.requests == []
    (line,) = error_lines(result.stderr)
    assert "no Azure ML workspace" in line
    assert not (project.path / ".runs/.models").exists(), "nothing registered locally"


@pytest.mark.parametrize(
    "outputs, variables, message",
    [
        ((), {}, "no completed run of train with a model output"),
        (("metrics", "report"), {}, "say which is the model with OUTPUT=<name>"),
        (("model",), {"RUN": "nope"}, "RUN='nope': no run of train with that id"),
        (("model",), {"OUTPUT": "other"}, "has no output 'other'"),
    ],
)
def test_register_model_bad_input_is_one_line(project, tmp_path, outputs, variables, message):
    if outputs:
        fake_run(project, outputs=outputs)
    result, rec = cloud_make(project, tmp_path, "register-model", EXP="train", **variables)
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert rec.requests == [] and "Traceback" not in result.stderr


def test_serve_resolver_names_how_to_register_an_unknown_model(project):
    probe = (
        "from amlops.project import Project\n"
        "from amlops.errors import UserError\n"
        "from amlops.tracking.models import resolve_model\n"
        "import sys\n"
        "try:\n    resolve_model(Project.find(), 'azureml:nope:1')\n"
        "except UserError as err:\n    print(err)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('azure', 'mlflow'))))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=project.path, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    message, modules = shown.stdout.splitlines()
    assert "model azureml:nope:1 is not registered locally" in message
    assert "make register-model EXP=<exp> NAME=nope VERSION=1" in message
    assert modules == "[]"  # serving a registered model imports neither MLflow nor Azure


class _Scoring(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {k.lower(): v for k, v in self.headers.items()}  # names are case-blind
        _Scoring.seen.append({"headers": headers, "body": json.loads(body)})
        answer = json.dumps({"deployment": self.headers.get("azureml-model-deployment")})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("azureml-model-deployment", "green")  # as Azure ML answers
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args):
        pass


def test_invoke_cloud_posts_with_the_key_and_the_deployment_header(project, tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _Scoring)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_port}/score"
    state = tmp_path / "workspace.json"
    project.env["AMLOPS_FAKE_AZURE_SCORING_URI"] = uri
    try:
        result, _ = cloud_make(project, tmp_path, "deploy", state=state, ENDPOINT="wine")
        assert result.returncode == 0, result.stderr
        result, rec = cloud_make(
            project,
            tmp_path,
            "invoke",
            state=state,
            CLOUD="1",
            ENDPOINT="wine",
            REQUEST="endpoints/wine/sample-request.json",
            DEPLOYMENT="green",
        )
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().splitlines()[-2:]
    assert json.loads(body) == {"deployment": "green"}
    assert status.startswith("200 from green in ") and status.endswith(" ms")
    (request,) = _Scoring.seen
    assert request["headers"]["authorization"] == "Bearer fake-endpoint-key"
    assert request["headers"]["azureml-model-deployment"] == "green"
    assert request["body"] == {"data": [[1, 2, 3], [0, 0, 0]]}
    assert "fake-endpoint-key" not in result.stdout + result.stderr
    assert any(r["url"].split("?")[0].endswith("/listKeys") for r in rec.requests)


def test_validate_checks_endpoint_folders(project, tmp_path):
    result, _ = cloud_make(project, tmp_path, "validate", OFFLINE="1")
    assert result.returncode == 0, result.stderr
    assert "ok endpoints/wine (2 deployment(s))" in result.stderr
    green = project.path / "endpoints" / "wine" / "green-deployment.yml"
    green.write_text(green.read_text() + "instance_cout: 2\n")
    result, _ = cloud_make(project, tmp_path, "validate", OFFLINE="1")
    assert result.returncode == 2
    assert "endpoints/wine/green-deployment.yml:22: unknown field 'instance_cout'" in result.stderr
    assert "did you mean 'instance_count'?" in result.stderr


BATCH_ENDPOINT = """\
$schema: https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json
name: wine-batch
description: scores files
defaults:
  deployment_name: scorer
"""
BATCH_DEPLOYMENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json
name: scorer
endpoint_name: wine-batch
type: model
model:
  path: ./model/
code_configuration:
  code: ./scoring/
  scoring_script: score.py
environment:
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
  conda_file: ./scoring/conda.yaml
compute: azureml:cpu-cluster
resources:
  instance_count: 2
settings:
  max_concurrency_per_instance: 2
  mini_batch_size: 10
  output_action: append_row
  output_file_name: predictions.csv
  error_threshold: -1
"""


def test_deploy_a_batch_endpoint_names_its_default_deployment_last(project, tmp_path):
    folder = project.path / "endpoints" / "batchy"
    folder.mkdir()
    for part in ("model", "scoring"):
        shutil.copytree(CASE / part, folder / part)
    (folder / "endpoint.yml").write_text(BATCH_ENDPOINT)
    (folder / "scorer.yml").write_text(BATCH_DEPLOYMENT)
    result, rec = cloud_make(project, tmp_path, "deploy", ENDPOINT="batchy")
    assert result.returncode == 0, result.stderr
    puts = put_bodies(rec, "batchEndpoints")
    assert [tail for tail, _ in puts] == [
        "wine-batch",
        "wine-batch/deployments/scorer",
        "wine-batch",
    ]
    first, last = BatchEndpoint(puts[0][1]), BatchEndpoint(puts[-1][1])
    assert first.properties.defaults is None  # the deployment does not exist yet
    assert last.properties.defaults.deployment_name == "scorer"
    props = BatchDeployment(puts[1][1]).properties
    assert props.compute.endswith("/computes/cpu-cluster")
    assert props.mini_batch_size == 10 and props.max_concurrency_per_instance == 2
    assert props.output_file_name == "predictions.csv" and props.resources.instance_count == 2
