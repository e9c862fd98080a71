"""A pipeline file (pipelines/<name>.yaml) read and checked before anything runs.

Two forms compile to the same DAG of steps, each step a command job (JobSpec)
plus where each of its inputs comes from:
- Azure ML's native pipeline job (`type: pipeline`, pipelineJob schema): inline
  `type: command` nodes, `component: ./file.yaml` command components,
  `component: azureml:...` registered components, `type: sweep` nodes over a
  command component (`trial: ./file.yaml`), nested `type: pipeline`
  components (flattened here to `<node>.<inner node>` steps), `type: parallel` and
  `type: spark` nodes; see pipeline_loader.py;
- this project's shorthand: each node names an experiment (`experiment: x`),
  whose src/x/job.yaml gives the command, environment, inputs and outputs.
Bindings: `${{parent.inputs.x}}`, `${{parent.jobs.<node>.outputs.<o>}}`, a local
`{type, path}` or a literal; outputs bound to `${{parent.outputs.<y>}}`.
Every problem is one line naming the file, the line and the node."""

import graphlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Union

from amlops.console import say
from amlops.errors import UserError
from amlops.names import STEP_NAME
from amlops.spec.checks import COMMON_JOB_FIELDS, fail_at
from amlops.spec.job import LITERAL_CHECKS, InputSpec, JobSpec, OutputSpec

PIPELINE_FIELDS = COMMON_JOB_FIELDS | {
    "settings",
    "inputs",
    "outputs",
    "jobs",
    "compute",
    "identity",
    "properties",
}
SETTINGS_FIELDS = {
    "default_compute",
    "continue_on_step_failure",
    "force_rerun",
    "default_datastore",
    "on_init",
    "on_finalize",
}


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
    """`{type: ..., path: <local path>}`, relative to the file that declares it. `type`:
    the binding's own type when it has one (it is what Azure ML mounts: a `uri_file`
    binding gives the command a file even where the component declares `uri_folder`)."""

    path: str
    base: Optional[Path] = None
    type: str = ""

    def typed(self, declared: str) -> str:
        """The type the data is given as: the binding's, else the `declared` input's."""
        return self.type or declared


@dataclass(frozen=True)
class Literal:
    """A literal value for a literal (string/integer/number/boolean) input."""

    value: Any


Source = Union[FromParent, FromStep, FromPath, Literal]


@dataclass
class Step:
    """One node: a command job plus where each of its inputs comes from.

    `form`: experiment (shorthand), command (inline), component (a component file),
    registered (`azureml:` component: `job` is None until it is looked up) or sweep
    (a sweep node: `job` is its trial component, job.sweep the sweep; spec/sweep_node.py),
    parallel (a parallel node: `job` runs the parallel driver; spec/parallel.py), spark
    (a spark node: `job` runs spark-submit in local mode; spec/spark.py) or
    remote (automl, data_transfer, import, flow, a registered parallel or spark component:
    `job` is None; validated and submitted as written, not run here).
    `raw` is the node as written; `label` says what it runs (for progress lines)."""

    name: str
    experiment: str
    job: Optional[JobSpec]
    bindings: Dict[str, Source] = field(default_factory=dict)
    line: int = 0
    raw: Dict[str, Any] = field(default_factory=dict)
    form: str = "experiment"
    label: str = ""
    component_file: Optional[Path] = None
    reference: str = ""  # an `azureml:` component
    outputs: Dict[str, OutputSpec] = field(default_factory=dict)
    exported: Dict[str, str] = field(default_factory=dict)  # output -> pipeline output

    def upstream(self) -> Set[str]:
        """Names of the steps whose outputs this step consumes."""
        return {s.step for s in self.bindings.values() if isinstance(s, FromStep)}

    def runnable(self) -> JobSpec:
        """The step's job, or a one-line error for a component only the workspace has."""
        if self.job is None and self.form == "remote":
            raise UserError(
                f"step {self.name!r} ({self.label}) runs only in Azure ML (make"
                ' pipeline): give its outputs to run the rest here (INPUTS="<node>.<output>=path")'
            )
        if self.job is None:
            raise UserError(
                f"step {self.name!r} uses component {self.reference}, which only Azure ML has:"
                " log in (az login, workspace in config.env) so it is downloaded, or download"
                " it yourself (az ml component download) and use component: ./<file>.yaml"
            )
        return self.job


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
    native: bool = False
    force_rerun: bool = False
    declared_outputs: Dict[str, Dict[str, Any]] = field(default_factory=dict)

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


def check_step_name(name: Any, shown: str, line: int) -> str:
    if not STEP_NAME.fullmatch(str(name)):
        raise fail_at(
            shown,
            line,
            f"node name {name!r}: use lowercase letters, digits or _ (Azure ML node names)",
        )
    return str(name)


# Path types that hold one file; the others (uri_folder, mltable, the model types) are
# folders. azure-ai-ml's load_job and _validate() compare no types across a binding, and
# the service passes a path on between any two path types (Microsoft's
# pipeline_with_hyperparameter_sweep binds a uri_folder output to an mlflow_model input).
FILE_TYPES = {"uri_file"}


def warn_path_types(
    spec: PipelineSpec, line: int, where: str, what: str, given: str, declared: str
) -> None:
    """One warning where a file is bound to a folder input or a folder to a file input
    (the command likely gets what it does not expect); other path types pass silently."""
    if (given in FILE_TYPES) != (declared in FILE_TYPES):
        say(
            f"warning: {spec.where(line)}: {where}: {what} is {given}; Azure ML passes the"
            " path on as it is (check the command expects it)"
        )


def check_type(spec: PipelineSpec, step: Step, name: str, source: Source, line: int) -> None:
    """The bound source must be the kind of thing the step input declares."""
    if step.job is None:
        return
    item = step.job.inputs[name]
    where = f"step {step.name!r} input {name!r} ({item.type})"
    if isinstance(source, FromStep):
        producer = spec.steps[source.step].outputs.get(source.output)
        if producer is None:
            return  # a registered component's outputs are not known here
        if not item.is_path:
            raise fail_at(
                spec.shown_as,
                line,
                f"{where}: type mismatch, step {source.step!r} output"
                f" {source.output!r} is {producer.type}",
            )
        warn_path_types(spec, line, where, f"step {source.step!r} output {source.output!r}",
                        producer.type, item.type)  # fmt: skip
    elif isinstance(source, FromParent):
        parent = spec.inputs[source.name]
        if parent.is_path != item.is_path:
            raise fail_at(
                spec.shown_as,
                line,
                f"{where}: type mismatch, pipeline input {source.name!r} is {parent.type}",
            )
        if item.is_path:
            warn_path_types(spec, line, where, f"pipeline input {source.name!r}",
                            parent.type, item.type)  # fmt: skip
        check = LITERAL_CHECKS.get(item.type)
        if check and parent.value is not None and not check(parent.value):
            raise fail_at(
                spec.shown_as,
                line,
                f"{where}: type mismatch, pipeline input {source.name!r} is" f" {parent.value!r}",
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
    elif item.type in LITERAL_CHECKS and not LITERAL_CHECKS[item.type](source.value):
        raise fail_at(spec.shown_as, line, f"{where}: type mismatch, got {source.value!r}")


def check_binding(spec: PipelineSpec, step: Step, name: str, source: Source, line: int) -> None:
    """The input exists, its source exists, and the types agree."""
    if step.job is not None and name not in step.job.inputs:
        declared = ", ".join(sorted(step.job.inputs)) or "none"
        raise fail_at(
            spec.shown_as,
            line,
            f"step {step.name!r}: {step.label} has no input {name!r} (declared: {declared})",
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
    check_type(spec, step, name, source, line)


def check_step_output(spec: PipelineSpec, source: FromStep, line: int, context: str) -> None:
    """The step exists and declares that output."""
    if source.step not in spec.steps:
        known = ", ".join(spec.steps) or "none"
        raise fail_at(
            spec.shown_as, line, f"{context}: unknown step {source.step!r} (steps: {known})"
        )
    producer = spec.steps[source.step]
    if producer.job is None:
        return
    if source.output not in producer.outputs:
        declared = ", ".join(sorted(producer.outputs)) or "none"
        raise fail_at(
            spec.shown_as,
            line,
            f"{context}: step {source.step!r} ({producer.label}) has no"
            f" output {source.output!r} (outputs: {declared})",
        )


def check_required(spec: PipelineSpec, step: Step) -> None:
    """Every input without a value or default is bound (optional ones may stay unbound;
    a sweep node's searched inputs take the sampled values)."""
    if step.job is None:
        return
    searched = step.job.sweep.placeholders() if step.job.sweep is not None else {}
    for name, item in step.job.inputs.items():
        if name in step.bindings or item.optional or name in searched:
            continue
        if (item.is_path and item.path is None) or (not item.is_path and item.value is None):
            raise fail_at(
                spec.shown_as,
                step.line,
                f"step {step.name!r}: required input {name!r} ({item.type}) is not bound;"
                f" add it under jobs.{step.name}.inputs",
            )


def topological_order(spec: PipelineSpec) -> List[str]:
    """Steps in dependency order (file order among equals); refuses cycles (graphlib)."""
    sorter = graphlib.TopologicalSorter({n: spec.steps[n].upstream() for n in spec.steps})
    try:
        sorter.prepare()
    except graphlib.CycleError as err:
        cycle = list(err.args[1])
        first = spec.steps[cycle[0]]
        raise fail_at(
            spec.shown_as,
            first.line,
            f"step {first.name!r}: cycle {' -> '.join(reversed(cycle))}; a step cannot depend"
            " on its own outputs, directly or not",
        ) from None
    position = {name: index for index, name in enumerate(spec.steps)}
    order: List[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.get)
        order.extend(ready)
        sorter.done(*ready)
    return order


def find_step(spec: PipelineSpec, name: Optional[str]) -> Step:
    """The step called `name`, or a one-line error listing the steps."""
    if not name:
        raise UserError(
            f"STEP is required, e.g. STEP={spec.order[0]} (steps: {', '.join(spec.order)})"
        )
    if name not in spec.steps:
        raise UserError(f"{spec.shown_as}: no step {name!r} (steps: {', '.join(spec.order)})")
    return spec.steps[name]
