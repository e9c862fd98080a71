"""Offline SDK v1 (azureml-core, azureml-pipeline) for the AML_SDK=v1 tests.

install() keeps the SDK's own objects (ScriptRunConfig, PythonScriptStep,
CommandStep, OutputFileDatasetConfig, DatasetConsumptionConfig, Environment,
FileDataset) and replaces each call that would reach the workspace: the
Workspace's service check, Datastore.get, Dataset.get_by_name, data and build
context uploads, Experiment.submit, Pipeline (whose graph build calls the
pipelines service), PipelineEndpoint and Datastore.upload_files. Each one
records what it was given, described as JSON, in $AMLOPS_FAKE_AZURE/v1.jsonl.
Any other connection attempt raises: no workspace call reaches the network.
Endpoint state persists in $AMLOPS_FAKE_AZURE_STATE (for republish tests)."""

import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

SUBSCRIPTION_PREFIX = "/subscriptions/sub/resourceGroups/rg/providers"


def _record(kind: str, **fields: Any) -> None:
    folder = Path(os.environ["AMLOPS_FAKE_AZURE"])
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "v1.jsonl", "a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, **fields}, default=str) + "\n")


def _files(root: str) -> Dict[str, str]:
    base = Path(root)
    return {
        p.relative_to(base).as_posix(): p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


def _state() -> Dict[str, Any]:
    path = os.environ.get("AMLOPS_FAKE_AZURE_STATE")
    if path and Path(path).is_file():
        return json.loads(Path(path).read_text(encoding="utf-8"))
    return {}


def _save_state(state: Dict[str, Any]) -> None:
    path = os.environ.get("AMLOPS_FAKE_AZURE_STATE")
    if path:
        Path(path).write_text(json.dumps(state), encoding="utf-8")


def _block_network() -> None:
    """Refuse (and record) every HTTP request and every TCP connection."""
    from requests.adapters import HTTPAdapter
    from requests.exceptions import ConnectionError

    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _record("network", url=str(address))
            raise OSError(f"fake_azureml_v1: network call to {address} blocked")
        return real_connect(self, address)

    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        _record("network", url=request.url)
        raise ConnectionError(f"fake_azureml_v1: {request.method} {request.url} blocked")

    socket.socket.connect = connect
    HTTPAdapter.send = send


# -- describing SDK objects -------------------------------------------------------
def describe_value(value: Any, producers: Dict[int, str]) -> Any:
    kind = type(value).__name__
    if kind == "DatasetConsumptionConfig":
        source = value.dataset
        described: Dict[str, Any] = {"input": value.name, "mode": value.mode}
        if type(source).__name__ == "OutputFileDatasetConfig":
            described["from_step"] = producers.get(id(source), "?")
            described["from_output"] = source.name
        elif type(source).__name__ == "PipelineParameter":
            described["parameter"] = source.name
        else:
            described["dataset"] = getattr(source, "_amlops_source", repr(source)[:80])
        return described
    if kind == "OutputFileDatasetConfig":
        return {"output": value.name, "mode": value.mode}
    if kind == "PipelineParameter":
        return {"parameter": value.name, "default": value.default_value}
    return value


def describe_environment(env: Any) -> Dict[str, Any]:
    context = env.docker.build_context
    return {
        "name": env.name,
        "build_context": getattr(context, "location", None),
        "dockerfile": getattr(context, "dockerfile_path", None),
        "base_image": env.docker.base_image,
        "user_managed": env.python.user_managed_dependencies,
        "variables": dict(env.environment_variables or {}),
    }


def describe_steps(steps: List[Any]) -> List[Dict[str, Any]]:
    producers: Dict[int, str] = {}
    for step in steps:
        for output in step._outputs or []:
            producers[id(output)] = step.name
    described = []
    for step in steps:
        # CommandStep keeps its program in _command and the rest in _arguments; steps
        # keep data arguments as "<class>:<name>" placeholders of their inputs/outputs
        arguments = ([step._command] if step._command else []) + list(step._arguments or [])
        ports = {f"DatasetConsumptionConfig:{i.name}": i for i in step._inputs or []}
        ports.update({f"DatasetOutputConfig:{o.name}": o for o in step._outputs or []})
        arguments = [ports.get(a, a) if isinstance(a, str) else a for a in arguments]
        described.append(
            {
                "type": type(step).__name__,
                "name": step.name,
                "script": step._script_name,
                "arguments": [describe_value(a, producers) for a in arguments],
                "inputs": [describe_value(i, producers) for i in step._inputs or []],
                "outputs": [describe_value(o, producers) for o in step._outputs or []],
                "compute": step._compute_target,
                "allow_reuse": step._allow_reuse,
                "source_directory": sorted(_files(step._source_directory)),
                "environment": describe_environment(step._runconfig.environment),
            }
        )
    return described


# -- the replaced calls -----------------------------------------------------------
class FakeRun:
    def __init__(self, experiment: Any) -> None:
        self.id = f"run_{uuid.uuid4().hex[:8]}"
        self.experiment = experiment

    def get_portal_url(self) -> str:
        return f"https://ml.azure.com/runs/{self.id}?wsid=fake"

    def wait_for_completion(self, show_output: bool = False) -> None:
        print("training...", flush=True)
        if "job_running" not in os.environ.get("AMLOPS_FAKE_AZURE_SCENARIO", ""):
            return
        try:  # a run that keeps going until Ctrl-C, reported as azureml-core's Run does
            time.sleep(120)
        except KeyboardInterrupt:
            from azureml.exceptions import ExperimentExecutionException

            raise ExperimentExecutionException(
                "The output streaming for the run interrupted.\n"
                "But the run is still executing on the compute target."
            )

    def get_status(self) -> str:
        return (
            "Failed"
            if "job_failed" in os.environ.get("AMLOPS_FAKE_AZURE_SCENARIO", "")
            else ("Completed")
        )


class FakeExperiment:
    def __init__(self, workspace: Any, name: str, **kwargs: Any) -> None:
        self.workspace = workspace
        self.name = name

    def submit(self, config: Any, tags: Any = None, **kwargs: Any) -> FakeRun:
        if isinstance(config, FakePipeline):
            _record(
                "pipeline_submit",
                experiment=self.name,
                tags=tags,
                options=kwargs,
                steps=describe_steps(config.steps),
            )
        else:
            producers: Dict[int, str] = {}
            _record(
                "job_submit",
                experiment=self.name,
                tags=tags,
                command=[describe_value(a, producers) for a in config.command],
                compute=config.run_config.target,
                source_directory=sorted(_files(config.source_directory)),
                environment=describe_environment(config.run_config.environment),
            )
        return FakeRun(self)


class FakePublished:
    def __init__(self, name: str, version: str, pipeline_id: str = "") -> None:
        self.name = name
        self.version = version
        self.id = pipeline_id or str(uuid.uuid4())


class FakePipeline:
    def __init__(self, workspace: Any, steps: List[Any], description: Any = None, **kw: Any):
        self.workspace = workspace
        self.steps = steps
        self.description = description

    def publish(self, name: str, description: str, version: str, continue_on_step_failure: Any):
        _record(
            "publish",
            name=name,
            version=version,
            continue_on_step_failure=continue_on_step_failure,
            steps=describe_steps(self.steps),
        )
        published = FakePublished(name, version)
        state = _state()
        state.setdefault("v1_published", {})[published.id] = {"name": name, "version": version}
        _save_state(state)
        return published


class FakePipelineEndpoint:
    def __init__(self, name: str) -> None:
        self.name = name
        self.id = f"endpoint-{name}"
        self.endpoint = (
            f"https://westeurope.api.azureml.ms/pipelines/v1.0{SUBSCRIPTION_PREFIX}/x/{name}"
        )

    def _data(self, state: Dict[str, Any]) -> Dict[str, Any]:
        return state.setdefault("v1_endpoints", {}).setdefault(
            self.name, {"pipelines": [], "default": None}
        )

    @staticmethod
    def get(workspace: Any, name: str, **kwargs: Any) -> "FakePipelineEndpoint":
        if name not in _state().get("v1_endpoints", {}):
            raise Exception(f"PipelineEndpoint {name} not found")  # what the SDK raises
        return FakePipelineEndpoint(name)

    @staticmethod
    def publish(workspace: Any, name: str, description: str, pipeline: Any) -> Any:
        endpoint = FakePipelineEndpoint(name)
        state = _state()
        endpoint._data(state).update({"pipelines": [pipeline.id], "default": pipeline.id})
        _save_state(state)
        _record("endpoint_publish", name=name, pipeline=pipeline.id)
        return endpoint

    def list_pipelines(self) -> List[FakePublished]:
        state = _state()
        published = state.get("v1_published", {})
        return [
            FakePublished(published[p]["name"], published[p]["version"], p)
            for p in self._data(state)["pipelines"]
        ]

    def add(self, pipeline: Any) -> None:
        state = _state()
        self._data(state)["pipelines"].append(pipeline.id)
        _save_state(state)
        _record("endpoint_add", name=self.name, pipeline=pipeline.id)

    def set_default(self, pipeline: Any) -> None:
        state = _state()
        self._data(state)["default"] = pipeline.id
        _save_state(state)
        _record("endpoint_default", name=self.name, pipeline=pipeline.id)


def install() -> None:
    _block_network()  # before azureml is imported: it fetches cloud metadata on import
    import azure.identity
    import azureml.core
    import azureml.pipeline.core
    from azureml.core import Dataset, Datastore, Workspace
    from azureml.core.environment import DockerBuildContext
    from azureml.data.azure_storage_datastore import AzureBlobDatastore
    from azureml.data.dataset_factory import FileDatasetFactory
    from fake_azure import FakeCredential

    azure.identity.DefaultAzureCredential = FakeCredential
    azure.identity.DeviceCodeCredential = FakeCredential

    real_init = Workspace.__init__

    def workspace_init(self: Any, subscription_id: str, resource_group: str, name: str, **kw: Any):
        _record("workspace", subscription=subscription_id, resource_group=resource_group, name=name)
        kw.update(_disable_service_check=True, _workspace_id="0000", _location="westeurope")
        real_init(self, subscription_id, resource_group, name, **kw)

    def datastore(workspace: Any, name: str = "workspaceblobstore") -> Any:
        return AzureBlobDatastore(workspace, name, "cont", "acct")

    def tagged(dataset: Any, source: str) -> Any:
        dataset._amlops_source = source
        return dataset

    def get_by_name(workspace: Any, name: str, version: Any = "latest", **kw: Any) -> Any:
        _record("dataset_get", name=name, version=version)
        found = Dataset.File.from_files((datastore(workspace), f"assets/{name}"), validate=False)
        return tagged(found, f"azureml:{name}:{version}")

    def upload_directory(src_dir: str, target: Any, **kw: Any) -> Any:
        _record(
            "data_upload", source=src_dir, target=target.path_on_datastore, files=_files(src_dir)
        )
        found = Dataset.File.from_files(
            (target._datastore, target.path_on_datastore), validate=False
        )
        return tagged(found, f"upload:{target.path_on_datastore}")

    def from_local_directory(workspace: Any, path: str, dockerfile_path: str = "Dockerfile"):
        _record("build_context_upload", source=path, files=_files(path))
        return DockerBuildContext(
            "StorageAccount", f"https://acct/contexts/{Path(path).name}", dockerfile_path
        )

    def upload_files(self: Any, files: List[str], target_path: Any = None, **kw: Any) -> None:
        _record(
            "datastore_upload",
            datastore=self.name,
            target_path=target_path,
            files={Path(f).name: Path(f).read_text(encoding="utf-8") for f in files},
        )

    def register_blob(workspace: Any, datastore_name: str, **kw: Any) -> Any:
        _record("datastore_register", name=datastore_name, **kw)
        return datastore(workspace, datastore_name)

    Workspace.__init__ = workspace_init
    Datastore.register_azure_blob_container = staticmethod(register_blob)
    Workspace.get_default_datastore = lambda self: datastore(self)
    Datastore.get = staticmethod(lambda workspace, name: datastore(workspace, name))
    Dataset.get_by_name = staticmethod(get_by_name)
    FileDatasetFactory.upload_directory = staticmethod(upload_directory)
    DockerBuildContext.from_local_directory = staticmethod(from_local_directory)
    AzureBlobDatastore.upload_files = upload_files
    azureml.core.Experiment = FakeExperiment
    azureml.pipeline.core.Pipeline = FakePipeline
    azureml.pipeline.core.PipelineEndpoint = FakePipelineEndpoint
