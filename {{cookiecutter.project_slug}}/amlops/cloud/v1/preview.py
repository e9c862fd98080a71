"""`make job DRY_RUN=1` (and `make step`, `make notebook-job`, `make pipeline`,
`make publish`) with AML_SDK=v1: an offline preview of the ScriptRunConfig (or
Pipeline) SDK v1 would send, built by the same V1Builder code paths (command tokens,
compute, bindings between steps, the refusals of what v1 cannot do) with SDK objects
replaced by their descriptions. Imports no Azure SDK; needs no workspace.

Written beside the native job as `v1-preview.json`:
{"ScriptRunConfig": {"source_directory", "command" (a list; data as
"<dataset ...>.as_mount()" strings), "compute_target", "environment",
"distribution", "shm_size", "docker_arguments", "max_run_duration_seconds"}}, or for
a pipeline {"Pipeline": {"description", "steps": [{"step": "PythonScriptStep" or
"CommandStep", "name", "script_name" (PythonScriptStep), "arguments" or "command",
"compute_target", "source_directory", "environment", "inputs", "outputs",
"allow_reuse"}]}}."""

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

from amlops.cloud.submission import Submission
from amlops.cloud.v1.build import V1Builder
from amlops.errors import UserError
from amlops.fingerprint import fingerprint
from amlops.spec.references import datastore_path, workspace_asset

PREVIEW_FILE = "v1-preview.json"


class Shown:
    """A stand-in for an SDK v1 object: its description, in the command list. As in the
    SDK, a consumption (`as_named_input(...)`, an output's `as_input(...)`) is mounted or
    downloaded, and only a dataset is named."""

    def __init__(self, text: str) -> None:
        self.text = text

    def as_mount(self) -> "Shown":
        return Shown(f"{self.text}.as_mount()")

    def as_download(self) -> "Shown":
        return Shown(f"{self.text}.as_download()")

    def as_input(self, name: str) -> "Shown":
        return Shown(f"{self.text}.as_input(name={name!r})")

    def __str__(self) -> str:
        return f"<{self.text}>"


class ShownDataset(Shown):
    """A stand-in for a FileDataset: named where a step consumes it."""

    def as_named_input(self, name: str) -> Shown:
        return Shown(f"{self.text}.as_named_input({name!r})")


class ShownParameter:
    """A stand-in for a PipelineParameter (a literal pipeline input, settable when the
    pipeline is published): not data, so not a step input."""

    def __init__(self, name: str, value: Any) -> None:
        self.text = f"PipelineParameter(name={name!r}, default_value={value!r})"

    def __str__(self) -> str:
        return f"<{self.text}>"


class V1Preview(V1Builder):
    """V1Builder with descriptions in place of workspace calls and SDK objects."""

    def __init__(self, sub: Submission, slug: str, where: str) -> None:
        super().__init__(None, sub, slug, where)

    def dataset(self, path: str, kind: Optional[str], name: str) -> Any:
        if kind == "uri_file":
            raise UserError(
                f"{self.where}: input {name!r} is a uri_file; SDK v1 FileDatasets mount as"
                " folders - declare it uri_folder (its folder) for AML_SDK=v1"
            )
        found = datastore_path(path)
        if found:
            return ShownDataset(f"FileDataset datastore {found.store} path {found.path}")
        asset = workspace_asset(path)
        if asset:
            version = asset.version_or_label or "latest"
            return ShownDataset(f"Dataset {asset.name} version {version}")
        if path.startswith(("https://", "http://", "wasbs://", "abfss://")):
            return ShownDataset(f"FileDataset {path}")
        if path.startswith("azureml:"):
            raise UserError(f"{self.where}: input {name!r}: {path!r} has no SDK v1 equivalent")
        local = (self.sub.folder / path).resolve()
        digest = fingerprint(local)[:16]
        return ShownDataset(
            f"FileDataset uploaded from {local} to the default datastore,"
            f" amlops/inputs/{digest}/{local.name}"
        )

    @staticmethod
    def output(name: str, entry: Any) -> Any:
        mode = entry.get("mode", "") if isinstance(entry, dict) else ""
        how = "as_upload()" if mode == "upload" else "as_mount()"
        return Shown(f"OutputFileDatasetConfig(name={name!r}).{how}")

    def environment(self, entry: Any, variables: Optional[Dict[str, str]] = None) -> Any:
        described: Dict[str, Any] = {}
        if isinstance(entry, str):
            if not entry.startswith("file:") and not workspace_asset(entry):
                raise UserError(
                    f"{self.where}: environment {entry!r}: SDK v1 cannot use registry"
                    " environments; give its image (environment: image: ...) for AML_SDK=v1"
                )
            described["reference"] = entry
        elif isinstance(entry, dict):
            build = entry.get("build")
            if isinstance(build, dict):
                context = self.sub.folder / str(build.get("path", ""))
                described["docker_build_context"] = str(context.resolve())
                described["dockerfile"] = build.get("dockerfile_path") or "Dockerfile"
            else:
                described["base_image"] = entry.get("image")
                if entry.get("conda_file"):
                    described["conda_file"] = entry["conda_file"]
        if variables:
            described["environment_variables"] = {str(k): str(v) for k, v in variables.items()}
        return described

    def script_run_config(self, native: Dict[str, Any]) -> Dict[str, Any]:
        values = self.job_values(native)
        resources = native.get("resources") or {}
        config = {
            "source_directory": self.source_directory(native),
            "command": [str(token) for token in self.command(native["command"], values)],
            "compute_target": self.compute(native),
            "environment": self.environment(
                native["environment"], native.get("environment_variables")
            ),
            "distribution": native.get("distribution"),
            "shm_size": resources.get("shm_size"),
            "docker_arguments": resources.get("docker_args"),
            "max_run_duration_seconds": (native.get("limits") or {}).get("timeout"),
        }
        return {"ScriptRunConfig": {k: v for k, v in config.items() if v is not None}}

    @staticmethod
    def is_data(value: Any) -> bool:
        return isinstance(value, Shown)

    def run_configuration(self, node: Dict[str, Any]) -> Any:
        return self.environment(node["environment"], node.get("environment_variables"))

    @staticmethod
    def make_step(script: Optional[str], arguments: List[Any], common: Dict[str, Any]) -> Any:
        step: Dict[str, Any] = {"step": "PythonScriptStep" if script else "CommandStep"}
        step["name"] = common["name"]
        if script is not None:
            step["script_name"] = script
        step["arguments" if script is not None else "command"] = [str(a) for a in arguments]
        step.update(
            compute_target=common["compute_target"],
            source_directory=common["source_directory"],
            environment=common["runconfig"],
            inputs=[str(i) for i in common["inputs"]],
            outputs=[str(o) for o in common["outputs"]],
            allow_reuse=common["allow_reuse"],
        )
        return step

    def pipeline(self, native: Dict[str, Any]) -> Dict[str, Any]:
        steps = self.pipeline_steps(native, ShownParameter)
        return {"Pipeline": {"description": native.get("description"), "steps": steps}}


def write_preview(sub: Submission, slug: str, where: str, native: Dict[str, Any]) -> Path:
    """Build the preview of `native` (a command job, or a pipeline job of inline command
    nodes) and write it beside the job file; its path. UserError for what SDK v1 would
    refuse, as a real submission says it."""
    builder = V1Preview(sub, slug, where)
    is_pipeline = native.get("type") == "pipeline"
    preview = builder.pipeline(native) if is_pipeline else builder.script_run_config(native)
    text = json.dumps(preview, indent=2, default=str)
    path = sub.folder / PREVIEW_FILE
    path.write_text(re.sub(r"[ \t]+\n", "\n", text) + "\n", encoding="utf-8")
    return path
