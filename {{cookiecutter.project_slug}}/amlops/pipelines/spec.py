"""A pipeline file (pipelines/<name>.yaml) read and checked before anything runs.

Each step names an experiment; its job.yaml gives the command, environment,
inputs and outputs. The pipeline binds step inputs to pipeline inputs
(`${{parent.inputs.x}}`), to other steps' outputs
(`${{parent.jobs.<step>.outputs.<o>}}`), to a local path, or to a literal.
Every problem is one line naming the file, the line and the step."""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Union

from amlops.errors import UserError
from amlops.expressions import EXPRESSION
from amlops.inputs import LITERAL_CHECKS
from amlops.jobspec import (
    COMMON_JOB_FIELDS,
    LITERAL_TYPES,
    InputSpec,
    JobSpec,
    check_known_fields,
    fail_at,
    load_job,
    parse_input,
    section,
)
from amlops.names import STEP_NAME
from amlops.project import Project
from amlops.yamlfile import line_of, load_yaml

PIPELINE_FIELDS = COMMON_JOB_FIELDS | {"settings", "inputs", "outputs", "jobs"}
STEP_FIELDS = {
    "experiment",
    "display_name",
    "description",
    "tags",
    "compute",
    "inputs",
    "outputs",
}
SETTINGS_FIELDS = {
    "default_compute",
    "continue_on_step_failure",
    "force_rerun",
    "default_datastore",
}
PARENT_INPUT = re.compile(r"parent\.inputs\.([A-Za-z_][A-Za-z0-9_]*)")
STEP_OUTPUT = re.compile(
    r"parent\.jobs\.([A-Za-z_][A-Za-z0-9_]*)\.outputs\.([A-Za-z_][A-Za-z0-9_]*)"
)


@dataclass(frozen=True)
class FromParent:
    """`${{parent.inputs.<name>}}`"""

    name: str


@dataclass(frozen=True)
class FromStep:
    """`${{parent.jobs.<step>.outputs.<output>}}`"""

    step: str
    output: str


@dataclass(frozen=True)
class FromPath:
    """`{type: ..., path: <local path>}`, relative to the pipeline file."""

    path: str


@dataclass(frozen=True)
class Literal:
    """A literal value for a literal (string/integer/number/boolean) input."""

    value: Any


Source = Union[FromParent, FromStep, FromPath, Literal]


@dataclass
class Step:
    """One node: an experiment's job plus where each of its inputs comes from."""

    name: str
    experiment: str
    job: JobSpec
    bindings: Dict[str, Source] = field(default_factory=dict)
    line: int = 0
    raw: Dict[str, Any] = field(default_factory=dict)

    def upstream(self) -> Set[str]:
        """Names of the steps whose outputs this step consumes."""
        return {s.step for s in self.bindings.values() if isinstance(s, FromStep)}


@dataclass
class PipelineSpec:
    """A checked pipeline; `order` is a topological order of the steps."""

    name: str
    file: Path
    shown_as: str
    inputs: Dict[str, InputSpec]
    outputs: Dict[str, FromStep]
    steps: Dict[str, Step]
    order: List[str]
    continue_on_step_failure: bool
    default_compute: str
    raw: Dict[str, Any]

    def where(self, line: int) -> str:
        return f"{self.shown_as}:{line}" if line else self.shown_as

    def downstream(self, name: str) -> Set[str]:
        """Every step that depends on `name`, directly or not."""
        found: Set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for step in self.steps.values():
                if current in step.upstream() and step.name not in found:
                    found.add(step.name)
                    frontier.append(step.name)
        return found


def _parse_source(value: Any, shown: str, line: int, context: str) -> Source:
    """What a step input (or pipeline output) is bound to."""
    if isinstance(value, dict):
        if "path" not in value:
            raise fail_at(shown, line, f"{context}: a mapping needs path: (and type:)")
        value = value["path"]
        if not isinstance(value, str) or not EXPRESSION.fullmatch(value.strip()):
            return FromPath(str(value))
    if isinstance(value, str) and "${{" in value:
        match = EXPRESSION.fullmatch(value.strip())
        expression = match.group(1) if match else value
        parent = PARENT_INPUT.fullmatch(expression)
        if parent:
            return FromParent(parent.group(1))
        step = STEP_OUTPUT.fullmatch(expression)
        if step:
            return FromStep(step.group(1), step.group(2))
        raise fail_at(
            shown,
            line,
            f"{context}: cannot bind to {value!r}; use ${{{{parent.inputs.<name>}}}}"
            " or ${{parent.jobs.<step>.outputs.<name>}}",
        )
    return Literal(value)


def _check_type(spec: "PipelineSpec", step: Step, name: str, source: Source, line: int) -> None:
    """The bound source must be the kind of thing the step input declares."""
    item = step.job.inputs[name]
    where = f"step {step.name!r} input {name!r} ({item.type})"
    if isinstance(source, FromStep):
        producer = spec.steps[source.step].job.outputs[source.output]
        if not item.is_path or producer.type != item.type:
            raise fail_at(
                spec.shown_as,
                line,
                f"{where}: type mismatch, step {source.step!r} output"
                f" {source.output!r} is {producer.type}",
            )
    elif isinstance(source, FromParent):
        parent = spec.inputs[source.name]
        if parent.is_path != item.is_path or (item.is_path and parent.type != item.type):
            raise fail_at(
                spec.shown_as,
                line,
                f"{where}: type mismatch, pipeline input {source.name!r} is {parent.type}",
            )
    elif isinstance(source, FromPath):
        if not item.is_path:
            raise fail_at(spec.shown_as, line, f"{where}: a literal input cannot take a path")
    elif item.is_path:
        raise fail_at(
            spec.shown_as,
            line,
            f"{where}: type mismatch, got the literal {source.value!r}; bind a path input to"
            " ${{parent.inputs.<name>}}, ${{parent.jobs.<step>.outputs.<name>}}"
            " or {type: ..., path: <local path>}",
        )
    elif item.type in LITERAL_TYPES and not LITERAL_CHECKS[item.type](source.value):
        raise fail_at(spec.shown_as, line, f"{where}: type mismatch, got {source.value!r}")


def _check_binding(spec: "PipelineSpec", step: Step, name: str, source: Source, line: int) -> None:
    if name not in step.job.inputs:
        declared = ", ".join(sorted(step.job.inputs)) or "none"
        raise fail_at(
            spec.shown_as,
            line,
            f"step {step.name!r}: experiment {step.experiment!r} has no input {name!r}"
            f" (declared in src/{step.experiment}/job.yaml: {declared})",
        )
    if isinstance(source, FromParent) and source.name not in spec.inputs:
        declared = ", ".join(sorted(spec.inputs)) or "none"
        raise fail_at(
            spec.shown_as,
            line,
            f"step {step.name!r} input {name!r}: the pipeline has no input"
            f" {source.name!r} (pipeline inputs: {declared})",
        )
    if isinstance(source, FromStep):
        check_step_output(spec, source, line, f"step {step.name!r} input {name!r}")
        if source.step == step.name:
            raise fail_at(
                spec.shown_as,
                line,
                f"step {step.name!r} input {name!r}: a step cannot use its own output",
            )
    _check_type(spec, step, name, source, line)


def check_step_output(spec: "PipelineSpec", source: FromStep, line: int, context: str) -> None:
    """The step exists and its experiment declares that output."""
    if source.step not in spec.steps:
        known = ", ".join(spec.steps) or "none"
        raise fail_at(
            spec.shown_as, line, f"{context}: unknown step {source.step!r} (steps: {known})"
        )
    producer = spec.steps[source.step]
    if source.output not in producer.job.outputs:
        declared = ", ".join(sorted(producer.job.outputs)) or "none"
        raise fail_at(
            spec.shown_as,
            line,
            f"{context}: step {source.step!r} (experiment {producer.experiment!r}) has no"
            f" output {source.output!r} (outputs: {declared})",
        )


def _check_required(spec: "PipelineSpec", step: Step) -> None:
    for name, item in step.job.inputs.items():
        if name in step.bindings:
            continue
        if (item.is_path and item.path is None) or (not item.is_path and item.value is None):
            raise fail_at(
                spec.shown_as,
                step.line,
                f"step {step.name!r}: required input {name!r} ({item.type}) is not bound;"
                f" add it under jobs.{step.name}.inputs",
            )


def topological_order(spec: "PipelineSpec") -> List[str]:
    """Steps in dependency order (file order among equals); refuses cycles."""
    order: List[str] = []
    done: Set[str] = set()
    remaining = list(spec.steps)
    while remaining:
        ready = [s for s in remaining if spec.steps[s].upstream() <= done]
        if not ready:
            cycle = _find_cycle(spec, remaining)
            first = spec.steps[cycle[0]]
            raise fail_at(
                spec.shown_as,
                first.line,
                f"step {first.name!r}: cycle {' -> '.join(cycle)}; a step cannot depend"
                " on its own outputs, directly or not",
            )
        order.extend(ready)
        done.update(ready)
        remaining = [s for s in remaining if s not in done]
    return order


def _find_cycle(spec: "PipelineSpec", candidates: List[str]) -> List[str]:
    """A closed path among steps that never became ready."""
    path: List[str] = [candidates[0]]
    while True:
        following = sorted(spec.steps[path[-1]].upstream() & set(candidates))
        nxt = following[0]
        if nxt in path:
            cycle = path[path.index(nxt) :] + [nxt]
            return list(reversed(cycle))
        path.append(nxt)


def _load_step(project: Project, name: str, raw: Any, line: int, shown: str) -> Step:
    if not STEP_NAME.fullmatch(str(name)):
        raise fail_at(
            shown,
            line,
            f"step name {name!r}: use lowercase letters, digits or _ (Azure ML node names)",
        )
    if not isinstance(raw, dict):
        raise fail_at(shown, line, f"step {name!r} must be a mapping with experiment: and inputs:")
    check_known_fields(raw, STEP_FIELDS, shown, "pipeline step fields")
    experiment = raw.get("experiment")
    if not experiment:
        raise fail_at(shown, line, f"step {name!r}: experiment: is required (a folder under src/)")
    try:
        path = project.job_file(str(experiment))
    except UserError as err:
        raise fail_at(shown, line_of(raw, "experiment"), f"step {name!r}: {err}") from None
    try:
        job = load_job(path, project.relative(path))
    except UserError as err:
        raise UserError(f"{shown}:{line}: step {name!r}: {err}") from None
    if job.sweep is not None:
        raise fail_at(
            shown,
            line,
            f"step {name!r}: {job.shown_as} is a sweep job; a sweep as a pipeline step is"
            f" not supported here yet (run it alone: make local EXP={experiment})",
        )
    return Step(name=str(name), experiment=str(experiment), job=job, line=line, raw=raw)


def load_pipeline(project: Project, name: str = "") -> PipelineSpec:
    """Read and check pipelines/<name>.yaml and every experiment it uses."""
    path = project.pipeline_file(name)
    shown = project.relative(path)
    raw = load_yaml(path, shown)
    if not isinstance(raw, dict):
        raise fail_at(shown, 1, "expected a mapping with jobs:")
    check_known_fields(raw, PIPELINE_FIELDS, shown, "pipeline file fields")
    if raw.get("type", "pipeline") != "pipeline":
        raise fail_at(shown, line_of(raw, "type"), f"type must be 'pipeline', got {raw['type']!r}")
    settings = section(raw, "settings", shown)
    check_known_fields(settings, SETTINGS_FIELDS, shown, "pipeline settings")
    continue_on_failure = settings.get("continue_on_step_failure", True)
    if not isinstance(continue_on_failure, bool):
        raise fail_at(
            shown,
            line_of(settings, "continue_on_step_failure"),
            "continue_on_step_failure: true or false",
        )
    inputs_raw = section(raw, "inputs", shown)
    jobs_raw = section(raw, "jobs", shown)
    if not jobs_raw:
        raise fail_at(shown, line_of(raw, "jobs") or 1, "jobs: must list at least one step")
    spec = PipelineSpec(
        name=path.stem,
        file=path,
        shown_as=shown,
        inputs={
            str(n): parse_input(n, v, line_of(inputs_raw, n), shown) for n, v in inputs_raw.items()
        },
        outputs={},
        steps={
            str(n): _load_step(project, n, v, line_of(jobs_raw, n), shown)
            for n, v in jobs_raw.items()
        },
        order=[],
        continue_on_step_failure=continue_on_failure,
        default_compute=str(settings.get("default_compute", "")),
        raw=raw,
    )
    for step in spec.steps.values():
        bindings = section(step.raw, "inputs", shown)
        for input_name, value in bindings.items():
            line = line_of(bindings, input_name)
            context = f"step {step.name!r} input {input_name!r}"
            source = _parse_source(value, shown, line, context)
            _check_binding(spec, step, str(input_name), source, line)
            step.bindings[str(input_name)] = source
        _check_required(spec, step)
    outputs_raw = section(raw, "outputs", shown)
    for output_name, value in outputs_raw.items():
        line = line_of(outputs_raw, output_name)
        context = f"pipeline output {output_name!r}"
        source = _parse_source(value, shown, line, context)
        if not isinstance(source, FromStep):
            raise fail_at(
                shown, line, f"{context}: bind it to ${{{{parent.jobs.<step>.outputs.<name>}}}}"
            )
        check_step_output(spec, source, line, context)
        spec.outputs[str(output_name)] = source
    spec.order = topological_order(spec)
    return spec


def find_step(spec: PipelineSpec, name: Optional[str]) -> Step:
    """The step called `name`, or a one-line error listing the steps."""
    if not name:
        raise UserError(
            f"STEP is required, e.g. STEP={spec.order[0]} (steps: {', '.join(spec.order)})"
        )
    if name not in spec.steps:
        raise UserError(f"{spec.shown_as}: no step {name!r} (steps: {', '.join(spec.order)})")
    return spec.steps[name]
