"""The native v2 job dicts (native.py) as SDK v1 objects, so both backends send the
same command, inputs, outputs and bindings from the same files.

- a command job -> ScriptRunConfig on the staged snapshot, the environment built
  from the experiment's Docker context;
- a data input -> a FileDataset `as_mount()` (read-only) or `as_download()`;
  local data is uploaded once to the default datastore under a content address;
- an output -> OutputFileDatasetConfig `as_mount()` (or `as_upload()`);
- a pipeline step -> PythonScriptStep for `python <script>.py ...`, CommandStep
  for any other command (`python -m pkg.main` included), `allow_reuse` on; a
  step output feeds its consumers through `as_input()`."""

import json
import re
import shlex
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from amlops.cloud.submission import Submission
from amlops.errors import UserError
from amlops.fingerprint import fingerprint
from amlops.spec.expressions import drop_unset_optionals
from amlops.spec.references import datastore_path, workspace_asset
from amlops.yamlfile import load_yaml

EXPRESSION = re.compile(r"\$\{\{\s*(inputs|outputs)\.(\w+)\s*\}\}")
PARENT = re.compile(r"^\$\{\{\s*parent\.(inputs\.(\w+)|jobs\.(\w+)\.outputs\.(\w+))\s*\}\}$")
READ_MODES = {"": "mount", "ro_mount": "mount", "download": "download", "direct": "mount"}


def _path_and_mode(entry: Any) -> tuple:
    if isinstance(entry, dict):
        return str(entry.get("path", "")), str(entry.get("mode", "") or ""), entry.get("type")
    return str(entry), "", None


class V1Builder:
    """Turns native v2 jobs into v1 objects against one workspace."""

    def __init__(self, workspace: Any, sub: Submission, slug: str, where: str) -> None:
        self.workspace = workspace
        self.sub = sub
        self.slug = slug
        self.where = where
        self._environments: Dict[str, Any] = {}
        self._uploads: Dict[str, Any] = {}

    # -- data -------------------------------------------------------------------
    def dataset(self, path: str, kind: Optional[str], name: str) -> Any:
        """A FileDataset for a v2 input path."""
        from azureml.core import Dataset, Datastore

        if kind == "uri_file":
            raise UserError(
                f"{self.where}: input {name!r} is a uri_file; SDK v1 FileDatasets mount as"
                " folders - declare it uri_folder (its folder) for AML_SDK=v1"
            )
        found = datastore_path(path)
        if found:
            store = Datastore.get(self.workspace, found.store)
            return Dataset.File.from_files((store, found.path), validate=False)
        asset = workspace_asset(path)
        if asset:
            version = asset.version_or_label or "latest"
            return Dataset.get_by_name(self.workspace, asset.name, version=version)
        if path.startswith(("https://", "http://", "wasbs://", "abfss://")):
            return Dataset.File.from_files(path, validate=False)
        if path.startswith("azureml:"):
            raise UserError(f"{self.where}: input {name!r}: {path!r} has no SDK v1 equivalent")
        return self._upload((self.sub.folder / path).resolve())

    def _upload(self, local: Path) -> Any:
        """Upload local data once per content to `amlops/inputs/<digest>/`."""
        from azureml.core import Dataset
        from azureml.data.datapath import DataPath

        key = str(local.resolve())
        if key not in self._uploads:
            digest = fingerprint(local)[:16]
            store = self.workspace.get_default_datastore()
            target = DataPath(store, f"amlops/inputs/{digest}/{local.name}")
            self._uploads[key] = Dataset.File.upload_directory(
                src_dir=str(local), target=target, overwrite=True, show_progress=False
            )
        return self._uploads[key]

    def consume(self, dataset: Any, name: str, mode: str) -> Any:
        """A dataset (or a step output) as a read-only mount or a download."""
        if mode not in READ_MODES:
            raise UserError(
                f"{self.where}: input {name!r}: mode {mode!r} has no SDK v1 equivalent"
                f" (use {', '.join(m for m in READ_MODES if m)})"
            )
        named = dataset.as_named_input(name) if hasattr(dataset, "as_named_input") else dataset
        return named.as_download() if READ_MODES[mode] == "download" else named.as_mount()

    @staticmethod
    def output(name: str, entry: Any) -> Any:
        from azureml.data import OutputFileDatasetConfig

        mode = entry.get("mode", "") if isinstance(entry, dict) else ""
        config = OutputFileDatasetConfig(name=name)
        return config.as_upload() if mode == "upload" else config.as_mount()

    # -- environment --------------------------------------------------------------
    def environment(self, entry: Any, variables: Optional[Dict[str, str]] = None) -> Any:
        """A native environment entry as a v1 Environment (one object per distinct entry)."""
        key = json.dumps(entry, sort_keys=True, default=str)
        if key not in self._environments:
            self._environments[key] = self._new_environment(entry, self.sub.folder)
        env = self._environments[key]
        if variables:
            env.environment_variables = {str(k): str(v) for k, v in variables.items()}
        return env

    def _new_environment(self, entry: Any, base: Path) -> Any:
        """build -> DockerBuildContext; image (+ conda_file) -> base image (+ conda);
        azureml:<name>[:<version>|@<label>] -> Environment.get; `file:` -> its YAML."""
        from azureml.core import Environment
        from azureml.core.environment import DockerBuildContext

        if isinstance(entry, str) and entry.startswith("file:"):
            path = (base / entry[len("file:") :]).resolve()
            return self._new_environment(load_yaml(path, str(path)), path.parent)
        if isinstance(entry, str):
            reference = workspace_asset(entry)
            if not reference:
                raise UserError(
                    f"{self.where}: environment {entry!r}: SDK v1 cannot use registry"
                    " environments; give its image (environment: image: ...) for AML_SDK=v1"
                )
            name, version, label = reference.name, reference.version, reference.label
            return Environment.get(self.workspace, name, version=version if not label else None)
        name = f"{self.slug}-env-{len(self._environments) + 1}"
        build = entry.get("build")
        if isinstance(build, dict):
            env = Environment(name=name)
            env.docker.base_image = None
            env.docker.build_context = DockerBuildContext.from_local_directory(
                workspace=self.workspace,
                path=str(base / build["path"]),
                dockerfile_path=build.get("dockerfile_path") or "Dockerfile",
            )
            env.python.user_managed_dependencies = True  # the image has its own Python
            return env
        conda = entry.get("conda_file")
        if isinstance(conda, str):
            env = Environment.from_conda_specification(name, str(base / conda))
        elif isinstance(conda, dict):
            from azureml.core.conda_dependencies import CondaDependencies

            env = Environment(name=name)
            env.python.conda_dependencies = CondaDependencies(_underlying_structure=conda)
        else:
            env = Environment(name=name)
            env.python.user_managed_dependencies = True
        env.docker.base_image = entry["image"]
        return env

    # -- commands -----------------------------------------------------------------
    def command(self, text: str, values: Dict[str, Any]) -> List[Any]:
        """The command as an argument list; each `${{inputs.x}}`/`${{outputs.y}}` becomes
        its v1 object (alone in its argument) or its literal value."""
        tokens: List[Any] = []
        present = {k for k, v in values.items() if v is not None}
        text = drop_unset_optionals(text, lambda expression: expression in present)
        for token in shlex.split(text):
            whole = EXPRESSION.fullmatch(token)
            if whole:
                tokens.append(values[f"{whole.group(1)}.{whole.group(2)}"])
                continue

            def literal(match: Any) -> str:
                value = values[f"{match.group(1)}.{match.group(2)}"]
                if not isinstance(value, (str, int, float, bool)):
                    raise UserError(
                        f"{self.where}: {token!r}: SDK v1 passes data paths as whole"
                        " arguments; write `--flag ${{inputs.x}}`, not `--flag=${{inputs.x}}`"
                    )
                return str(value)

            tokens.append(EXPRESSION.sub(literal, token))
        return tokens

    def job_values(self, native: Dict[str, Any]) -> Dict[str, Any]:
        """`inputs.x` / `outputs.y` -> v1 objects or literals, for a command job."""
        values: Dict[str, Any] = {}
        for name, entry in native.get("inputs", {}).items():
            path, mode, kind = _path_and_mode(entry)
            if isinstance(entry, dict):
                values[f"inputs.{name}"] = self.consume(self.dataset(path, kind, name), name, mode)
            else:
                values[f"inputs.{name}"] = _literal(entry)
        for name, entry in native.get("outputs", {}).items():
            values[f"outputs.{name}"] = self.output(name, entry)
        return values

    def source_directory(self, native: Dict[str, Any]) -> str:
        """The staged code folder (an empty one for a job without code:)."""
        code = native.get("code")
        if code is None:
            empty = self.sub.folder / "code" / "_none"
            empty.mkdir(parents=True, exist_ok=True)
            return str(empty)
        if not (self.sub.folder / code).is_dir():
            raise UserError(f"{self.where}: code {code!r}: AML_SDK=v1 needs a local code folder")
        return str(self.sub.folder / code)

    def compute(self, native: Dict[str, Any], fallback: str = "") -> str:
        """The compute target's name; v1 has no serverless compute."""
        chosen = native.get("compute") or fallback
        if not chosen:
            raise UserError(
                f"{self.where}: AML_SDK=v1 has no serverless compute: set compute: in the"
                " job file, AML_COMPUTE in config.env, or COMPUTE=<cluster>"
            )
        return str(chosen).split(":", 1)[-1]

    def script_run_config(self, native: Dict[str, Any]) -> Any:
        """`make job` / `make step`: a ScriptRunConfig on the staged snapshot, with the
        job's distribution, resources and limits."""
        from azureml.core import ScriptRunConfig

        values = self.job_values(native)
        config = ScriptRunConfig(
            source_directory=self.source_directory(native),
            command=self.command(native["command"], values),
            compute_target=self.compute(native),
            environment=self.environment(
                native["environment"], native.get("environment_variables")
            ),
            distributed_job_config=distributed_config(native),
        )
        resources = native.get("resources") or {}
        if resources.get("shm_size"):
            config.run_config.docker.shm_size = str(resources["shm_size"])
        if resources.get("docker_args"):
            config.run_config.docker.arguments = shlex.split(str(resources["docker_args"]))
        timeout = (native.get("limits") or {}).get("timeout")
        if timeout:
            config.max_run_duration_seconds = int(timeout)
        return config

    @staticmethod
    def is_data(value: Any) -> bool:
        """Whether a step's input value is data (a dataset consumption or a step's
        output), listed among the step's inputs; a literal or a PipelineParameter is not."""
        return not isinstance(value, (str, int, float, bool)) and hasattr(value, "mode")

    def run_configuration(self, node: Dict[str, Any]) -> Any:
        """A node's RunConfiguration: its environment and environment variables."""
        from azureml.core.runconfig import RunConfiguration

        run_config = RunConfiguration()
        run_config.environment = self.environment(
            node["environment"], node.get("environment_variables")
        )
        return run_config

    @staticmethod
    def make_step(script: Optional[str], arguments: List[Any], common: Dict[str, Any]) -> Any:
        """A PythonScriptStep running `script` with `arguments`, or (script None) a
        CommandStep running `arguments`; `common`: name, compute_target, runconfig,
        source_directory, inputs, outputs, allow_reuse."""
        from azureml.pipeline.steps import CommandStep, PythonScriptStep

        if script is not None:
            return PythonScriptStep(script_name=script, arguments=arguments, **common)
        return CommandStep(command=arguments, **common)

    def pipeline_steps(self, native: Dict[str, Any], parameter: Callable) -> List[Any]:
        """`make pipeline` / `make publish`: one step per node, bindings kept."""
        parent_inputs: Dict[str, Any] = {}
        for name, entry in native.get("inputs", {}).items():
            if isinstance(entry, dict):
                path, _, kind = _path_and_mode(entry)
                parent_inputs[name] = self.dataset(path, kind, name)
            else:
                parent_inputs[name] = parameter(name, entry)
        produced: Dict[str, Dict[str, Any]] = {}
        default_compute = native["settings"].get("default_compute", "")
        steps = []
        for step_name, node in native["jobs"].items():
            if node.get("distribution"):
                raise UserError(
                    f"{self.where}: step {step_name!r}: AML_SDK=v1 pipeline steps cannot be"
                    " distributed here; submit it with AML_SDK=v2"
                )
            values: Dict[str, Any] = {}
            inputs, outputs = [], []
            for name, entry in node.get("inputs", {}).items():
                value = self._node_input(name, entry, parent_inputs, produced)
                values[f"inputs.{name}"] = value
                if self.is_data(value):
                    inputs.append(value)
            produced[step_name] = {}
            for name, entry in node.get("outputs", {}).items():
                bound = PARENT.match(entry) if isinstance(entry, str) else None
                output_name = bound.group(1).split(".")[-1] if bound else name
                config = self.output(output_name, entry if isinstance(entry, dict) else {})
                produced[step_name][name] = config
                values[f"outputs.{name}"] = config
                outputs.append(config)
            arguments = self.command(node["command"], values)
            common = dict(
                name=step_name,
                compute_target=self.compute(node, default_compute),
                runconfig=self.run_configuration(node),
                source_directory=self.source_directory(node),
                inputs=inputs,
                outputs=outputs,
                allow_reuse=True,
            )
            if (
                len(arguments) > 1
                and arguments[0] == "python"
                and str(arguments[1]).endswith(".py")
            ):
                steps.append(self.make_step(str(arguments[1]), arguments[2:], common))
            else:
                steps.append(self.make_step(None, arguments, common))
        return steps

    def _node_input(
        self,
        name: str,
        entry: Any,
        parent_inputs: Dict[str, Any],
        produced: Dict[str, Dict[str, Any]],
    ) -> Any:
        path, mode, kind = _path_and_mode(entry)
        bound = PARENT.match(path)
        if not bound:
            if isinstance(entry, dict):
                return self.consume(self.dataset(path, kind, name), name, mode)
            return _literal(entry)
        if bound.group(2):  # a pipeline input
            source = parent_inputs[bound.group(2)]
            if not hasattr(source, "as_named_input"):  # a PipelineParameter (literal)
                return source
            return self.consume(source, name, mode)
        upstream = produced[bound.group(3)][bound.group(4)]
        return self.consume(upstream.as_input(name=name), name, mode)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def distributed_config(native: Dict[str, Any]) -> Any:
    """`distribution:` + `resources.instance_count` as a v1 distributed job config."""
    dist = native.get("distribution")
    if not dist:
        return None
    from azureml.core.runconfig import (
        MpiConfiguration,
        PyTorchConfiguration,
        TensorflowConfiguration,
    )

    nodes = int((native.get("resources") or {}).get("instance_count", 1))
    per_node = int(dist.get("process_count_per_instance", 1))
    if dist["type"] == "pytorch":
        return PyTorchConfiguration(process_count=per_node * nodes, node_count=nodes)
    if dist["type"] == "mpi":
        return MpiConfiguration(process_count_per_node=per_node, node_count=nodes)
    return TensorflowConfiguration(
        worker_count=int(dist.get("worker_count", 1)),
        parameter_server_count=int(dist.get("parameter_server_count", 0)),
    )
