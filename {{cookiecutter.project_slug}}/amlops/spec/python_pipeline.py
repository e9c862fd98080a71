"""Pipelines written in Python: pipelines/<name>.py defines a pipeline with
azure.ai.ml.dsl.pipeline and exposes the built job as a module-level `pipeline_job`.

The file is run once per amlops command, in this process (runpy.run_path, with the
file's folder as working directory and on sys.path, as `python pipelines/<name>.py`
would have it): the only place a local target imports azure-ai-ml (~3 s, said in one
line). The SDK's own serialisation of the job (PipelineJob._to_dict(), the dict
`PipelineJob.dump()` writes) is written to .runs/.python-pipelines/<name>.yaml with
every local `code:` made absolute, and that file is read by the native YAML loader, so
local runs, graphs, validate and DRY_RUN treat it as a YAML pipeline. The job object is
kept (built_job) for submission, which sends the SDK's own object.

Errors while running the file are one UserError: `pipelines/<name>.py:<line>: <error>`."""

import os
import runpy
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

from amlops.console import quiet_sdk_loggers, say
from amlops.errors import UserError
from amlops.project import Project
from amlops.yamlfile import dump_yaml, plain

GENERATED = ".python-pipelines"  # under .runs/: the SDK's YAML of each Python pipeline
EXPOSED = "pipeline_job"
REMOTE_CODE = ("azureml:", "http://", "https://", "git+", "wasbs://", "abfss://")
ANONYMOUS = "azureml_anonymous"  # the name azure-ai-ml gives a command()'s component
_built: Dict[Path, Any] = {}  # generated YAML -> the SDK's PipelineJob, per process


def generated_file(project: Project, name: str) -> Path:
    """Where the SDK's YAML of pipelines/<name>.py is written (the name is its stem, so
    the loaded pipeline keeps the name)."""
    return project.runs / GENERATED / f"{name}.yaml"


def built_job(generated: Path) -> Optional[Any]:
    """The SDK's PipelineJob that `generated` was written from in this process, or None."""
    return _built.get(generated.resolve())


def build(project: Project, path: Path) -> Path:
    """Run pipelines/<name>.py, write the SDK's YAML of its `pipeline_job` and return
    that file (rewritten only when it changes, so its time stamp means something).

    Raises UserError naming <file>:<line> for any error the file raises, and when azure-ai-ml
    is missing or the file defines no PipelineJob named pipeline_job."""
    shown = project.relative(path)
    job = _run(path, shown)
    target = generated_file(project, path.stem)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = _with_local_paths(job, plain(job._to_dict()), path.parent.resolve())
    before = target.read_text(encoding="utf-8") if target.is_file() else None
    scratch = target.with_suffix(f".{os.getpid()}.new")  # two builds at once: each its own
    dump_yaml(scratch, data)
    if scratch.read_text(encoding="utf-8") == before:
        scratch.unlink()
    else:
        scratch.replace(target)
    _built[target.resolve()] = job
    return target


def _run(path: Path, shown: str) -> Any:
    """The module-level pipeline_job of the file (an azure.ai.ml.entities.PipelineJob)."""
    say(f"building {shown} with azure-ai-ml (imports the SDK: ~3 s)")
    quiet_sdk_loggers()
    try:
        from azure.ai.ml.entities import PipelineJob
    except ImportError as err:
        raise UserError(
            f"{shown} is a Python pipeline: it needs azure-ai-ml ({err});"
            " pip install -e '.[azure]' (make setup installs it)"
        ) from None
    try:
        with _beside(path):
            namespace = runpy.run_path(str(path), run_name=f"amlops_pipeline_{path.stem}")
    except SystemExit as err:
        raise UserError(f"{shown}: the file exited (sys.exit({err.code!r}))") from None
    except Exception as err:  # noqa: BLE001 - any error of the user's file is one line
        raise UserError(f"{_where(err, path, shown)}: {_message(err)}") from None
    job = namespace.get(EXPOSED)
    if not isinstance(job, PipelineJob):
        found = "defines none" if job is None else f"is a {type(job).__name__}"
        raise UserError(
            f"{shown}: define a module-level {EXPOSED} = <your @dsl.pipeline function>(...)"
            f" (an azure.ai.ml PipelineJob; the file {found})"
        )
    return job


@contextmanager
def _beside(path: Path) -> Iterator[None]:
    """Run with the file's folder as working directory and first on sys.path, as
    `cd pipelines && python <name>.py` would: command(code="../src/x") resolves there
    (azure-ai-ml takes a command()'s base path from the working directory)."""
    before = os.getcwd()
    folder = str(path.parent.resolve())
    sys.path.insert(0, folder)
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)
        if folder in sys.path:
            sys.path.remove(folder)


def _where(err: BaseException, path: Path, shown: str) -> str:
    """`<shown>:<line>` of the deepest frame of the traceback in the file (a SyntaxError's
    own line), or `<shown>` when none is."""
    if isinstance(err, SyntaxError) and err.filename and Path(err.filename) == path.resolve():
        return f"{shown}:{err.lineno}"
    wanted = str(path.resolve())
    lines = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == wanted]
    return f"{shown}:{lines[-1]}" if lines else shown


def _message(err: BaseException) -> str:
    """The error's type and first line (SDK validation errors run to many lines)."""
    text = (err.msg if isinstance(err, SyntaxError) else str(err)).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def _local_path(value: Any, folder: Path) -> Any:
    """A local `path:` of an input made absolute from `folder` (where the file ran);
    anything else as it is. _to_dict() writes a relative local path as
    `azureml:<path>`, which is no asset reference (those are azureml:<name>:<version>,
    azureml:<name>@latest or azureml://...)."""
    if not isinstance(value, str) or "${{" in value:
        return value
    rest = value[len("azureml:") :] if value.startswith("azureml:") else value
    if rest.startswith("//") or rest.startswith(REMOTE_CODE):
        return value
    if value.startswith("azureml:") and not (rest.startswith(".") or "/" in rest):
        return value
    return str((folder / rest).resolve())


def _absolute_inputs(inputs: Any, folder: Path) -> None:
    for item in (inputs or {}).values() if isinstance(inputs, dict) else ():
        if isinstance(item, dict) and "path" in item:
            item["path"] = _local_path(item["path"], folder)


def _with_local_paths(job: Any, data: Dict[str, Any], folder: Path) -> Dict[str, Any]:
    """`data` (the job's _to_dict()) with local input paths absolute (_local_path), each
    node's local component `code:` absolute from the component's base_path
    (load_component: the component file's folder; command(): the working directory,
    from the entity, CommandComponent.code and .base_path), and a command() node's copy
    of its component's environment dropped (the loader takes it from the component);
    command()'s placeholder component name is dropped, so local runs go by the node's."""
    _absolute_inputs(data.get("inputs"), folder)
    nodes = getattr(job, "jobs", None) or {}
    for name, raw in (data.get("jobs") or {}).items():
        if isinstance(raw, dict):
            _absolute_inputs(raw.get("inputs"), folder)
        node = nodes.get(name)
        component = getattr(node, "component", None)
        inline = raw.get("component") if isinstance(raw, dict) else None
        if component is None or not isinstance(inline, dict):
            continue
        code = getattr(component, "code", None)
        if isinstance(code, (str, os.PathLike)) and not str(code).startswith(REMOTE_CODE):
            base = Path(getattr(component, "base_path", None) or ".")
            inline["code"] = str((base / code).resolve())
        if inline.get("name") == ANONYMOUS:  # command()'s placeholder: use the node's
            inline.pop("name")
        if raw.get("environment") == inline.get("environment"):
            raw.pop("environment", None)
        if getattr(component, "jobs", None):  # a nested @dsl.pipeline
            _with_local_paths(component, inline, folder)
    return data
