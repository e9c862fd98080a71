"""Turn a job's `${{inputs.*}}` / `${{outputs.*}}` into local paths and values.

Input paths resolve in this order: an override (INPUTS="name=path"); a local
`path:` in job.yaml (relative to job.yaml); `data/<asset name>/` for an
`azureml:<asset>` path; `data/<input name>/`."""

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from amlops.errors import UserError
from amlops.jobspec import EXPRESSION, InputSpec, JobSpec
from amlops.project import Project

CONTAINER_INPUTS = "/mnt/inputs"
CONTAINER_OUTPUTS = "/mnt/outputs"
REMOTE_PREFIXES = ("azureml:", "http://", "https://", "wasbs://", "abfss://", "adl://")
ASSET_REF = re.compile(r"azureml:(?!//)([^:@/]+)|.*/data/([^/]+)/versions/")


@dataclass(frozen=True)
class Binding:
    """A host path and the path the command sees (container or host)."""

    host: Path
    target: str
    read_only: bool
    mount: str = ""

    @property
    def mount_point(self) -> str:
        """Where the host path is mounted in a container."""
        return self.mount or self.target


@dataclass
class ResolvedJob:
    """A job ready to run: its command with every expression replaced."""

    spec: JobSpec
    command: str
    inputs: Dict[str, Binding] = field(default_factory=dict)
    outputs: Dict[str, Binding] = field(default_factory=dict)
    literals: Dict[str, str] = field(default_factory=dict)


def parse_overrides(items: Iterable[str], spec: JobSpec) -> Dict[str, str]:
    """`name=value` pairs, each naming a declared input."""
    overrides: Dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UserError(f"input override {item!r}: expected name=value")
        if name not in spec.inputs:
            declared = ", ".join(sorted(spec.inputs)) or "none"
            raise UserError(
                f"input override {item!r}: {spec.shown_as} declares no input"
                f" {name!r} (declared: {declared})"
            )
        overrides[name] = value
    return overrides


def split_overrides(text: str) -> List[str]:
    """The INPUTS setting: space-separated name=value pairs, shell quoting allowed."""
    try:
        return shlex.split(text)
    except ValueError as err:
        raise UserError(f"INPUTS={text!r}: {err}") from None


def asset_name(path: str) -> Optional[str]:
    match = ASSET_REF.match(path)
    return (match.group(1) or match.group(2)) if match else None


def input_host_path(
    item: InputSpec, spec: JobSpec, project: Project, override: Optional[str]
) -> Path:
    """Where the data for a job.yaml path input lives on this machine."""
    return locate_input(item, spec.file.parent, spec.where(item.line), project, override)


def locate_input(
    item: InputSpec,
    base: Path,
    where: str,
    project: Project,
    override: Optional[str],
    fix: str = "",
) -> Path:
    """Where a path input's data lives; a local `path:` is relative to `base`.

    `fix` replaces the default advice when the data is missing."""
    if override:
        candidate, how = Path(override).expanduser(), "from INPUTS"
    elif item.path and not item.path.startswith(REMOTE_PREFIXES):
        local = item.path[len("file:") :] if item.path.startswith("file:") else item.path
        candidate, how = base / local, "its local path:"
    else:
        asset = asset_name(item.path or "") or item.name
        candidate, how = project.data / asset, f"data/{asset}/ by convention"
    candidate = candidate.resolve()
    if item.type == "uri_file" and candidate.is_dir():
        files = [p for p in candidate.iterdir() if p.is_file()]
        if len(files) != 1:
            raise UserError(
                f"{where}: uri_file input {item.name!r}: folder"
                f" {project.relative(candidate)} must hold exactly one file,"
                f" found {len(files)}"
            )
        candidate = files[0]
    if not candidate.exists():
        raise UserError(
            f"{where}: input {item.name!r}: no local data at"
            f" {project.relative(candidate)} ({how}); "
            + (
                fix
                or f'create it, set a local path: in job.yaml, or pass INPUTS="{item.name}=<path>"'
            )
        )
    return candidate


def _target(base: str, name: str, host: Path, in_container: bool) -> str:
    if not in_container:
        return str(host)
    return f"{base}/{name}/{host.name}" if host.is_file() else f"{base}/{name}"


def bind_inputs(
    spec: JobSpec, project: Project, overrides: Dict[str, str], in_container: bool
) -> Tuple[Dict[str, Binding], Dict[str, str]]:
    """Path inputs as bindings and literal inputs as text; touches nothing."""
    inputs: Dict[str, Binding] = {}
    literals: Dict[str, str] = {}
    for name, item in spec.inputs.items():
        if item.is_path:
            host = input_host_path(item, spec, project, overrides.get(name))
            target = _target(CONTAINER_INPUTS, name, host, in_container)
            inputs[name] = Binding(host, target, read_only=True)
            continue
        literals[name] = literal_text(item, overrides.get(name), spec.where(item.line))
    return inputs, literals


def literal_text(item: InputSpec, override: Optional[str], where: str) -> str:
    """A literal input's value as the command sees it; refuses a missing value."""
    value = item.value if override is None else override
    if value is None:
        raise UserError(
            f"{where}: input {item.name!r} has no value;"
            f' set value: or pass INPUTS="{item.name}=<value>"'
        )
    return str(value)


def resolve_job(
    spec: JobSpec,
    project: Project,
    outputs_dir: Path,
    overrides: Dict[str, str],
    in_container: bool,
) -> ResolvedJob:
    """Bind every input and output; substitute them into the command."""
    inputs, literals = bind_inputs(spec, project, overrides, in_container)
    job = ResolvedJob(spec=spec, command=spec.command, inputs=inputs, literals=literals)
    for name, item in spec.outputs.items():
        folder = outputs_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        mount = f"{CONTAINER_OUTPUTS}/{name}"
        target = mount if in_container else str(folder)
        if item.type == "uri_file":
            target = f"{target}/{name}"
        job.outputs[name] = Binding(folder, target, read_only=False, mount=mount)
    job.command = substitute(spec.command, job, quote_paths=not in_container)
    return job


def substitute(command: str, job: ResolvedJob, quote_paths: bool) -> str:
    """Replace `${{inputs.x}}`/`${{outputs.y}}` as Azure ML does (raw text)."""

    def value(match: "re.Match[str]") -> str:
        kind, _, name = match.group(1).partition(".")
        if kind == "inputs" and name in job.literals:
            return job.literals[name]
        binding = (job.inputs if kind == "inputs" else job.outputs)[name]
        return shlex.quote(binding.target) if quote_paths else binding.target

    return EXPRESSION.sub(value, command)
