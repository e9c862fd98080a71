"""Turn a job's `${{inputs.*}}` / `${{outputs.*}}` into local paths and values, and
its command into what runs: `$[[...]]` kept or dropped by Azure ML's rule, and
one process or a distribution launcher.

Inside a container, inputs are mounted under /mnt/inputs/<name> (read-only,
except `mode: download` inputs, which are the job's own copy), the run's
outputs folder at /mnt/outputs and its logs at /mnt/logs; the code snapshot
is the working directory, with `./outputs` and `./logs` leading to those."""

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from amlops.inputs import literal_text, locate_input
from amlops.local.distribution import launcher_argv, launcher_env
from amlops.project import Project
from amlops.spec.expressions import drop_unset_optionals, substitute
from amlops.spec.job import COPIED_INPUT_MODES, JobSpec

CONTAINER_INPUTS = "/mnt/inputs"
CONTAINER_OUTPUTS = "/mnt/outputs"
CODE_MOUNT = "/mnt/code"
LOG_MOUNT = "/mnt/logs"


@dataclass(frozen=True)
class Binding:
    """A host path and the path the command sees (container or host).

    `copy` marks a `mode: download` input: the run gets its own writable copy of
    `host` (made by prepare_run), and `host` then names that copy."""

    host: Path
    target: str
    read_only: bool
    mount: str = ""
    copy: bool = False

    @property
    def mount_point(self) -> str:
        """Where the host path is mounted in a container."""
        return self.mount or self.target


@dataclass
class ResolvedJob:
    """A job ready to run: its command with every expression replaced, and the argv
    that runs it inside the environment (one process, or a distribution launcher)."""

    spec: JobSpec
    command: str
    inputs: Dict[str, Binding] = field(default_factory=dict)
    outputs: Dict[str, Binding] = field(default_factory=dict)
    literals: Dict[str, str] = field(default_factory=dict)
    argv: List[str] = field(default_factory=list)
    env: Dict[str, str] = field(default_factory=dict)
    timeout: Optional[float] = None  # limits.timeout, seconds


def _target(base: str, name: str, host: Path, in_container: bool) -> str:
    if not in_container:
        return str(host)
    return f"{base}/{name}/{host.name}" if host.is_file() else f"{base}/{name}"


def bind_inputs(
    spec: JobSpec, project: Project, overrides: Dict[str, str], in_container: bool
) -> Tuple[Dict[str, Binding], Dict[str, str]]:
    """Path inputs as bindings and literal inputs as text; touches nothing.

    An optional input without a value (or local data) is left out, so the
    `$[[...]]` segment that uses it is dropped. UserError for a required input
    without data or value."""
    inputs: Dict[str, Binding] = {}
    literals: Dict[str, str] = {}
    for name, item in spec.inputs.items():
        where = spec.where(item.line)
        override = overrides.get(name)
        if item.is_path:
            if item.optional and not override and not item.path:
                continue
            host = locate_input(item, spec.folder, where, project, override)
            target = _target(CONTAINER_INPUTS, name, host, in_container)
            copy = item.mode in COPIED_INPUT_MODES
            inputs[name] = Binding(host, target, read_only=not copy, copy=copy)
            continue
        text = literal_text(item, override, where)
        if text is not None:
            literals[name] = text
    return inputs, literals


def resolve_job(
    spec: JobSpec,
    project: Project,
    outputs_dir: Path,
    overrides: Dict[str, str],
    in_container: bool,
) -> ResolvedJob:
    """Bind every input and output (creating the output folders); build the command."""
    inputs, literals = bind_inputs(spec, project, overrides, in_container)
    job = ResolvedJob(spec=spec, command=spec.command, inputs=inputs, literals=literals)
    for name, item in spec.outputs.items():
        folder = outputs_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        target = f"{CONTAINER_OUTPUTS}/{name}" if in_container else str(folder)
        if item.type == "uri_file":
            target = f"{target}/{name}"
        job.outputs[name] = Binding(folder, target, read_only=False)
    finish_command(job, quote_paths=not in_container)
    return job


def finish_command(job: ResolvedJob, quote_paths: bool) -> None:
    """Set job.command (optional segments applied, expressions replaced) and job.argv."""
    spec = job.spec
    job.command = render_command(spec.command, job, quote_paths)
    job.argv = launcher_argv(job.command, spec.distribution, spec.instance_count)
    job.env = launcher_env(job.command, job.argv)
    timeout = (spec.raw.get("limits") or {}).get("timeout")
    job.timeout = float(timeout) if timeout else None


def _value(job: ResolvedJob, expression: str, quote_paths: bool) -> Optional[str]:
    kind, _, name = expression.partition(".")
    if kind == "inputs" and name in job.literals:
        return job.literals[name]
    binding = (job.inputs if kind == "inputs" else job.outputs).get(name)
    if binding is None:
        return None
    return shlex.quote(binding.target) if quote_paths else binding.target


def render_command(command: str, job: ResolvedJob, quote_paths: bool) -> str:
    """`$[[...]]` kept when all its inputs have values, else dropped; then every
    `${{inputs.x}}`/`${{outputs.y}}` replaced as Azure ML does (raw text)."""
    kept = drop_unset_optionals(command, lambda e: _value(job, e, quote_paths) is not None)
    return substitute(kept, lambda e: _value(job, e, quote_paths))
