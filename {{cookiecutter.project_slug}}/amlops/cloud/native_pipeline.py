"""A native pipeline file (pipelineJob schema) as it is sent: its own structure, with the
documented rewrites of native.py and nothing else.

- inline command nodes: `code:` staged, local environment files copied, local
  input paths made relative to the submission folder;
- `component: ./file.yaml` nodes: the component is written into the
  submission folder (`component_<node>.yaml`, its code staged and environment
  copied) and the node points there;
- nested pipeline components: written as `pipeline_<node>.yaml`, their nodes
  rewritten the same way;
- `type: sweep` nodes: every field as written, the trial component (`trial:`)
  written and rewritten as a component node's is (`component_<node>.yaml`);
- `type: spark` nodes: every field as written (no compute added: serverless Spark is
  chosen by `resources`), code and environment rewritten as a command node's, a
  component file written as `component_<node>.yaml`;
- `component: azureml:...` nodes: unchanged;
- compute: COMPUTE=... (or AML_COMPUTE, when the file names no default) becomes
  `settings.default_compute`; a command node that names no compute while the
  pipeline has no default runs on `azureml:serverless` (a pipeline must say so).
Shorthand nodes (`experiment: x`) in a native file become inline command nodes."""

from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, Optional

from amlops.cloud import native
from amlops.cloud.submission import Submission
from amlops.inputs import REMOTE_PREFIXES, locate_input
from amlops.project import Project
from amlops.spec.job import InputSpec
from amlops.spec.pipeline import PipelineSpec, Step
from amlops.yamlfile import dump_yaml, load_yaml, plain


class NativePipeline:
    """Rewrites one native pipeline file into a submission folder."""

    def __init__(self, project: Project, spec: PipelineSpec, sub: Submission) -> None:
        self.project = project
        self.spec = spec
        self.sub = sub
        self.compute = project.settings.get("COMPUTE")

    def job(self, overrides: Dict[str, str], tags: Dict[str, str]) -> Dict[str, Any]:
        """The pipeline job as sent."""
        raw, spec = self.spec.raw, self.spec
        result: Dict[str, Any] = {"$schema": native.SCHEMA.format("pipelineJob")}
        settings = plain(raw.get("settings") or {})
        default = native.pipeline_compute(self.project, spec)
        if default:
            settings["default_compute"] = default
        for key, value in raw.items():
            if key == "$schema":
                continue
            if key == "inputs":
                result["inputs"] = {
                    name: native.cloud_input(
                        item,
                        spec.file.parent,
                        spec.where(item.line),
                        self.project,
                        self.sub,
                        overrides.get(name),
                    )
                    for name, item in spec.inputs.items()
                }
            elif key == "settings":
                result["settings"] = settings
            elif key == "jobs":
                result["jobs"] = self.nodes(raw["jobs"], "", bool(default), spec.file)
            else:
                result[key] = plain(value)
        result.setdefault("type", "pipeline")
        if settings and "settings" not in result:
            result["settings"] = settings
        result.setdefault("experiment_name", f"{self.project.slug}-{spec.name}")
        result["tags"] = native._tags(raw.get("tags"), {**tags, "pipeline": spec.name})
        return result

    def nodes(
        self, jobs: Dict[str, Any], prefix: str, has_default: bool, file: Path
    ) -> Dict[str, Any]:
        """The `jobs:` of a pipeline (or of a nested pipeline component) as sent."""
        written: Dict[str, Any] = {}
        for name, raw in jobs.items():
            full = f"{prefix}{name}"
            step = self.spec.steps.get(full)
            if step is None:  # a nested pipeline component
                node = plain(raw)
                node["component"] = self.pipeline_component(raw, full, has_default, file)
            elif step.form == "experiment":
                node = self.experiment_node(step)
            elif step.form == "command":
                node = self.inline_node(step, file)
            elif step.form == "parallel":
                node = self.parallel_node(step, raw)
            elif step.form == "spark":
                node = self.spark_node(step, raw)
            elif step.form == "remote":
                node = self.remote_node(raw, file)
            else:
                node = plain(raw)
                if step.form == "component":
                    node["component"] = self.command_component(step, raw)
                elif step.form == "sweep":
                    node["trial"] = self.command_component(step, raw, "trial")
            if step is not None and (step.form != "remote" or "inputs" in raw):
                node["inputs"] = self.bindings(raw, file, full)
            if step is not None and step.form not in ("registered", "spark"):
                self.set_compute(node, step, has_default)
            written[str(name)] = node
        return written

    def set_compute(self, node: Dict[str, Any], step: Step, has_default: bool) -> None:
        if self.compute:
            node["compute"] = native.compute_ref(self.compute)
        elif not node.get("compute") and not has_default:
            node["compute"] = native.SERVERLESS

    def bindings(self, raw: Dict[str, Any], file: Path, node: str) -> Dict[str, Any]:
        """A node's inputs as written; a local `path:` made relative to the submission."""
        result: Dict[str, Any] = {}
        for name, value in (raw.get("inputs") or {}).items():
            path = value.get("path") if isinstance(value, dict) else None
            if isinstance(path, str) and "${{" not in path and not path.startswith(REMOTE_PREFIXES):
                item = InputSpec(str(name), str(value.get("type", "uri_folder")), path=path)
                where = f"{self.spec.shown_as}: node {node!r}"
                found = locate_input(item, file.parent, where, self.project, None)
                result[str(name)] = {**plain(value), "path": self.sub.local_path(found)}
            else:
                result[str(name)] = plain(value)
        return result

    def inline_node(self, step: Step, file: Path) -> Dict[str, Any]:
        """An inline command node: every field as written, code and environment rewritten."""
        job = step.runnable()
        node: Dict[str, Any] = {}
        for key, value in step.raw.items():
            if key == "code":
                code = self.sub.code(job)
                if code is not None:
                    node["code"] = code
            elif key == "environment":
                node["environment"] = self.sub.environment(job)
            else:
                node[key] = plain(value)
        return node

    def parallel_task(self, step: Step, task: Dict[str, Any]) -> Dict[str, Any]:
        """A parallel task as sent: its code staged (without amlops's local driver) and its
        environment copied like a command job's; every other field as written."""
        job = replace(step.runnable(), staged_files={})
        task = dict(task)
        if "code" in task:
            code = self.sub.code(job)
            if code is not None:
                task["code"] = code
        if "environment" in task:
            task["environment"] = self.sub.environment(job)
        return task

    def parallel_node(self, step: Step, raw: Dict[str, Any]) -> Dict[str, Any]:
        """A parallel node as written, its task's (or its component file's) code and
        environment rewritten as a command node's are."""
        node = plain(raw)
        if "task" in node:
            node["task"] = self.parallel_task(step, node["task"])
        reference = raw.get("component")
        if isinstance(reference, dict) and "task" in reference:
            node["component"] = {**plain(reference)}
            node["component"]["task"] = self.parallel_task(step, plain(reference["task"]))
        elif step.component_file is not None:
            document = plain(load_yaml(step.component_file, str(step.component_file)))
            document["task"] = self.parallel_task(step, document.get("task") or {})
            target = f"component_{native.node_id(step.name)}.yaml"
            dump_yaml(self.sub.folder / target, document)
            node["component"] = f"./{target}"
        return node

    def spark_fields(self, step: Step, fields: Dict[str, Any]) -> Dict[str, Any]:
        """A Spark job's or spark component's fields as sent: `code` staged and its own
        `environment` copied like a command job's (not the local run's pyspark venv)."""
        job = step.runnable()
        fields = dict(fields)
        if "code" in fields:
            code = self.sub.code(job)
            if code is not None:
                fields["code"] = code
        declared = job.spark.declared_environment
        if "environment" in fields and declared is not None:
            fields["environment"] = self.sub.environment(replace(job, environment=declared))
        return fields

    def spark_node(self, step: Step, raw: Dict[str, Any]) -> Dict[str, Any]:
        """A spark node as written (its compute or resources too: serverless Spark is
        chosen by resources, not by a cluster), its code and environment (or its
        component's, written as `component_<node>.yaml`) rewritten as a command node's."""
        node = plain(raw)
        reference = raw.get("component")
        if reference is None:
            return self.spark_fields(step, node)
        if isinstance(reference, dict):
            node["component"] = self.spark_fields(step, plain(reference))
        elif step.component_file is not None:
            document = plain(load_yaml(step.component_file, str(step.component_file)))
            target = f"component_{native.node_id(step.name)}.yaml"
            dump_yaml(self.sub.folder / target, self.spark_fields(step, document))
            node["component"] = f"./{target}"
        return node

    def remote_node(self, raw: Dict[str, Any], file: Path) -> Dict[str, Any]:
        """A node that runs only in Azure ML (automl, data_transfer, import, flow),
        as written; a local component file is named by its absolute path so the file
        sent still finds it."""
        node = plain(raw)
        reference = node.get("component")
        if isinstance(reference, str) and not reference.startswith(("azureml:", "http")):
            local = reference[len("file:") :] if reference.startswith("file:") else reference
            node["component"] = str((file.parent / local).resolve())
        return node

    def experiment_node(self, step: Step) -> Dict[str, Any]:
        """A shorthand node in a native file: its experiment's job as an inline node."""
        job = step.runnable()
        node = {k: v for k, v in native.job_body(job, self.sub).items() if k not in native.JOB_ONLY}
        node.pop("inputs", None)
        node["outputs"] = {n: plain(o.raw) for n, o in job.outputs.items()}
        for output, exported in step.exported.items():
            node["outputs"][output] = "${{parent.outputs.%s}}" % exported
        for key in ("display_name", "description", "compute"):
            if step.raw.get(key):
                node[key] = step.raw[key]
        return node

    def command_component(self, step: Step, raw: Dict[str, Any], key: str = "component") -> Any:
        """Write the component, its code staged and environment copied; the node's
        `component:` (a sweep node's `trial:`) value (an inline component stays inline,
        rewritten)."""
        job = step.runnable()
        document = plain(raw[key]) if isinstance(raw[key], dict) else None
        if document is None:
            assert step.component_file is not None
            document = plain(load_yaml(step.component_file, str(step.component_file)))
        if "code" in document:
            code = self.sub.code(job)
            if code is not None:
                document["code"] = code
        if "environment" in document:
            document["environment"] = self.sub.environment(job)
        if isinstance(raw[key], dict):
            return document
        target = f"component_{native.node_id(step.name)}.yaml"
        dump_yaml(self.sub.folder / target, document)
        return f"./{target}"

    def pipeline_component(
        self, raw: Dict[str, Any], full: str, has_default: bool, file: Path
    ) -> Any:
        reference = raw.get("component")
        if isinstance(reference, dict):
            document, source = plain(reference), file
        else:
            text = str(reference)
            source = (file.parent / (text[5:] if text.startswith("file:") else text)).resolve()
            document = plain(load_yaml(source, str(source)))
        inner_default = has_default or bool((raw.get("settings") or {}).get("default_compute"))
        document["jobs"] = self.nodes(document.get("jobs") or {}, f"{full}.", inner_default, source)
        for name, item in (document.get("inputs") or {}).items():
            local = _local_default(item)
            if local:
                found = locate_input(
                    InputSpec(str(name), str(item.get("type", "uri_folder")), path=local),
                    source.parent,
                    f"{self.project.relative(source)}: input {name!r}",
                    self.project,
                    None,
                )
                document["inputs"][name] = {**item, "path": self.sub.local_path(found)}
        if isinstance(reference, dict):
            return document
        target = f"pipeline_{native.node_id(full)}.yaml"
        dump_yaml(self.sub.folder / target, document)
        return f"./{target}"


def _local_default(item: Any) -> Optional[str]:
    """A pipeline component input's local default path, if it has one."""
    if not isinstance(item, dict) or not isinstance(item.get("path"), str):
        return None
    path = item["path"]
    return None if path.startswith(REMOTE_PREFIXES) or "${{" in path else path
