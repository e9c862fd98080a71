"""Read a pipeline file of either form into a PipelineSpec (see pipeline.py).

Nodes are read in two passes: first what each node is and which outputs it
declares (so a binding may name a node further down the file), then the
bindings, whose types are checked against those declarations. Nested pipeline
components are flattened: node `train` of a pipeline component used as node
`fit` becomes step `fit.train`; its `${{parent.inputs.x}}` is whatever `fit`
binds x to (or the component's default) and `${{parent.jobs.fit.outputs.y}}`
is the inner step's output that the component exports as y."""

import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from amlops.errors import UserError
from amlops.project import Project
from amlops.spec import python_pipeline
from amlops.spec.checks import (
    COMMON_COMPONENT_FIELDS,
    Collector,
    check_known_fields,
    fail_at,
    reworded,
    section,
    warn_unknown_fields,
)
from amlops.spec.expressions import EXPRESSION
from amlops.spec.job import (
    NODE_FIELDS,
    InputSpec,
    JobSpec,
    OutputSpec,
    job_from_mapping,
    load_job,
    parse_distribution,
    parse_inputs,
    parse_output,
)
from amlops.spec.pipeline import (
    PIPELINE_FIELDS,
    SETTINGS_FIELDS,
    FromParent,
    FromPath,
    FromStep,
    Literal,
    PipelineSpec,
    Source,
    Step,
    check_binding,
    check_required,
    check_step_name,
    check_step_output,
    topological_order,
)
from amlops.spec.sweep_node import SWEEP_NODE_FIELDS, parse_sweep_node
from amlops.spec.variables import check_variable_names
from amlops.yamlfile import LineMap, line_of, load_yaml, plain

# Downloads a registered component (`azureml:...`) and gives its spec file, or None when
# it cannot be had here: (project, reference) -> path. Handed in by the command line
# (project.workspace.component: cloud/registered_components.py download).
ComponentDownload = Callable[[Project, str], Optional[Path]]

PARENT_INPUT = re.compile(r"parent\.inputs\.([A-Za-z_][A-Za-z0-9_]*)")
STEP_OUTPUT = re.compile(
    r"parent\.jobs\.([A-Za-z_][A-Za-z0-9_]*)\.outputs\.([A-Za-z_][A-Za-z0-9_]*)"
)
PARENT_OUTPUT = re.compile(r"parent\.outputs\.([A-Za-z_][A-Za-z0-9_]*)")
SHORTHAND_FIELDS = {
    "experiment",
    "display_name",
    "description",
    "tags",
    "compute",
    "inputs",
    "outputs",
}
# Fields of a component node: an inline node's, less what the component gives.
COMPONENT_NODE_FIELDS = NODE_FIELDS - {"command", "code", "environment"}
# Job settings that change the component's job when it runs (Azure ML node settings).
JOB_OVERRIDES = ("resources", "distribution", "limits", "environment_variables")
PIPELINE_NODE_FIELDS = (
    COMPONENT_NODE_FIELDS - {*JOB_OVERRIDES, "identity", "services", "queue_settings"}
) | {"settings"}
PIPELINE_COMPONENT_FIELDS = COMMON_COMPONENT_FIELDS | {"jobs"}
# Node types a laptop cannot run: validated and submitted as written; pipeline-local
# runs the rest when their outputs are given (INPUTS=<node>.<output>=path).
NOT_RUNNABLE = {"automl", "data_transfer", "import", "flow"}
# Node settings a sweep node applies to its trials (its `limits` are the sweep's).
TRIAL_OVERRIDES = ("resources",)


@dataclass
class Scope:
    """Where nodes are declared: the top level, or inside a pipeline component node."""

    file: Path
    shown: str
    prefix: str = ""
    node: str = ""  # the pipeline component node, when nested
    bound: Dict[str, Source] = field(default_factory=dict)  # its bindings (outer scope)
    declared: Dict[str, InputSpec] = field(default_factory=dict)  # the component's inputs


@dataclass
class Pending:
    """A node read in the first pass; its bindings are parsed in the second."""

    step: Step
    scope: Scope
    inputs: Dict[str, Any]
    lines: Dict[str, int]


class Loader:
    """One pipeline file being read."""

    def __init__(self, project: Project, path: Path) -> None:
        self.project = project
        self.path = path
        self.shown = project.relative(path)
        self.pending: List[Pending] = []
        self.steps: Dict[str, Step] = {}
        self.aliases: Dict[Tuple[str, str], Tuple[Scope, Any, int]] = {}
        self.exported: Dict[str, FromStep] = {}
        self.export_lines: Dict[str, int] = {}
        self.native = False

    # -- sources ------------------------------------------------------------------
    def source(self, value: Any, scope: Scope, line: int, context: str) -> Optional[Source]:
        """What a node input is bound to, in `scope` (None: an unset optional input)."""
        base = scope.file.parent
        if isinstance(value, dict):
            if "path" not in value:
                if "value" in value or "default" in value:
                    return Literal(value.get("value", value.get("default")))
                raise fail_at(scope.shown, line, f"{context}: a mapping needs path: (and type:)")
            kind = str(value.get("type") or "")
            value = value["path"]
            if not isinstance(value, str) or not EXPRESSION.fullmatch(value.strip()):
                return FromPath(str(value), base, kind)
        if isinstance(value, str) and "${{" in value:
            match = EXPRESSION.fullmatch(value.strip())
            expression = match.group(1) if match else value
            parent = PARENT_INPUT.fullmatch(expression)
            if parent:
                return self.parent_input(parent.group(1), scope, line, context)
            step = STEP_OUTPUT.fullmatch(expression)
            if step:
                return FromStep(scope.prefix + step.group(1), step.group(2))
            raise fail_at(
                scope.shown,
                line,
                f"{context}: cannot bind to {value!r}; use ${{{{parent.inputs.<name>}}}}"
                " or ${{parent.jobs.<step>.outputs.<name>}}",
            )
        return Literal(value)

    def parent_input(self, name: str, scope: Scope, line: int, context: str) -> Optional[Source]:
        if not scope.node:
            return FromParent(name)
        if name in scope.bound:
            return scope.bound[name]
        declared = scope.declared.get(name)
        if declared is None:
            names = ", ".join(sorted(scope.declared)) or "none"
            raise fail_at(
                scope.shown,
                line,
                f"{context}: the pipeline component has no input {name!r}" f" (inputs: {names})",
            )
        if declared.is_path and declared.path:
            return FromPath(declared.path, scope.file.parent, declared.type)
        if not declared.is_path and declared.value is not None:
            return Literal(declared.value)
        return None

    # -- first pass -----------------------------------------------------------------
    def read_nodes(self, jobs: Dict[str, Any], scope: Scope) -> None:
        """Read every node of `jobs`; each bad node's problem is reported, all at once
        (UserError for one, Problems for several), before any binding is checked."""
        found = Collector()
        for name, raw in jobs.items():
            found.keep(partial(self.read_listed_node, name, raw, line_of(jobs, name), scope))
        found.raise_if_any()

    def read_listed_node(self, name: Any, raw: Any, line: int, scope: Scope) -> None:
        check_step_name(name, scope.shown, line)
        if not isinstance(raw, dict):
            raise fail_at(scope.shown, line, f"node {name!r} must be a mapping")
        self.read_node(str(name), raw, line, scope)

    def read_node(self, name: str, raw: Dict[str, Any], line: int, scope: Scope) -> None:
        full = scope.prefix + name
        kind = str(raw.get("type", "command"))
        where = f"node {full!r}"
        if "experiment" in raw:
            step = self.shorthand(full, raw, line, scope)
        elif kind == "pipeline":
            self.native = True
            self.nested(name, raw, line, scope)
            return
        elif kind == "parallel":
            self.native = True
            step = self.parallel(full, raw, line, scope)
        elif kind == "spark":
            self.native = True
            step = self.spark(full, raw, line, scope)
        elif kind in NOT_RUNNABLE:
            self.native = True
            step = Step(full, name, None, line=line, raw=raw, form="remote", label=f"{kind} node")
            step.outputs = self.node_outputs(step, raw, scope)
        elif kind == "sweep":
            self.native = True
            step = self.sweep(full, raw, line, scope)
        elif kind != "command":
            raise fail_at(
                scope.shown,
                line_of(raw, "type") or line,
                f"{where}: unknown node type {kind!r} (Azure ML's: command, sweep, pipeline,"
                f" parallel, spark, {', '.join(sorted(NOT_RUNNABLE))})",
            )
        elif "component" in raw:
            self.native = True
            step = self.component(full, raw, line, scope)
        elif "command" in raw:
            self.native = True
            step = Step(full, name, None, line=line, raw=raw, form="command", label="command")
            step.outputs = self.node_outputs(step, raw, scope)
        else:
            check_known_fields(raw, SHORTHAND_FIELDS | NODE_FIELDS, scope.shown, "node fields")
            raise fail_at(
                scope.shown,
                line,
                f"{where}: give command: (an inline command), component: or experiment:",
            )
        self.add(step, scope, raw)

    def add(self, step: Step, scope: Scope, raw: Dict[str, Any]) -> None:
        if step.name in self.steps:
            raise fail_at(scope.shown, step.line, f"node {step.name!r} is declared twice")
        self.steps[step.name] = step
        inputs = section(raw, "inputs", scope.shown)
        self.pending.append(Pending(step, scope, dict(inputs), getattr(inputs, "lines", {})))

    def shorthand(self, name: str, raw: Dict[str, Any], line: int, scope: Scope) -> Step:
        check_known_fields(raw, SHORTHAND_FIELDS, scope.shown, "pipeline step fields")
        experiment = str(raw.get("experiment") or "")
        if not experiment:
            raise fail_at(scope.shown, line, f"step {name!r}: experiment: is required")
        try:
            path = self.project.job_file(experiment)
        except UserError as err:
            raise fail_at(
                scope.shown, line_of(raw, "experiment"), f"step {name!r}: {err}"
            ) from None
        try:
            job = load_job(path, self.project.relative(path))
        except UserError as err:
            raise reworded(err, lambda p: f"{scope.shown}:{line}: step {name!r}: {p}") from None
        if job.sweep is not None:
            raise fail_at(
                scope.shown,
                line,
                f"step {name!r}: {job.shown_as} is a sweep job; an experiment step runs a"
                " command job: make the sweep a native sweep node (type: sweep, trial:"
                " ./<command component>.yaml, search_space: ...; see README, Pipelines)"
                f" or run it alone (make local EXP={experiment})",
            )
        step = Step(name, experiment, job, line=line, raw=raw, label=f"experiment {experiment!r}")
        step.outputs = dict(job.outputs)
        return step

    def component(self, name: str, raw: Dict[str, Any], line: int, scope: Scope) -> Step:
        check_known_fields(raw, COMPONENT_NODE_FIELDS, scope.shown, "command node fields")
        reference = raw["component"]
        if isinstance(reference, str) and reference.startswith("azureml:"):
            step = Step(
                name,
                name,
                None,
                line=line,
                raw=raw,
                form="registered",
                label=f"component {reference}",
                reference=reference,
            )
            step.outputs = self.node_outputs(step, raw, scope)
            return step
        return self.component_step(name, raw, line, scope, "component", "component")

    def component_step(
        self,
        name: str,
        raw: Dict[str, Any],
        line: int,
        scope: Scope,
        key: str,
        form: str,
        settings: Tuple[str, ...] = JOB_OVERRIDES,
    ) -> Step:
        """The step of a node whose `raw[key]` is a command component (file or inline):
        a component node (key component) or a sweep node's trial (key trial)."""
        job, path, label = self.command_component(name, raw, key, line, scope, settings)
        shown = f"sweep of component {label}" if form == "sweep" else f"component {label}"
        step = Step(
            name, job.name, job, line=line, raw=raw, form=form, label=shown, component_file=path
        )
        step.outputs = self.node_outputs(step, raw, scope, declared=job.outputs)
        return step

    def command_component(
        self,
        name: str,
        raw: Dict[str, Any],
        key: str,
        line: int,
        scope: Scope,
        settings: Tuple[str, ...] = JOB_OVERRIDES,
    ) -> Tuple[JobSpec, Optional[Path], str]:
        """The command component `raw[key]` names (a file, relative to the pipeline file, or
        inline) as a JobSpec with the node's `settings` applied; (job, its file or None
        when inline, a label)."""
        reference = raw[key]
        where = scope.shown
        path, document, shown = self.component_document(
            raw, key, line, scope, name, f"{where}:{line_of(raw, key)}"
        )
        if not isinstance(document, dict):
            raise fail_at(shown, 1, "expected a command component mapping")
        if str(document.get("type", "command")) != "command":
            raise fail_at(
                shown,
                line_of(document, "type"),
                f"a {key} must be a command component (type: command)",
            )
        try:
            job = job_from_mapping(
                document, path, shown, "component", inline=isinstance(reference, dict)
            )
        except UserError as err:
            raise reworded(err, lambda p: f"{where}:{line}: node {name!r}: {p}") from None
        job = with_node_settings(job, raw, settings, where)
        job.name = str(document.get("name") or name)
        label = str(document.get("name") or self.project.relative(path))
        return job, None if isinstance(reference, dict) else path, label

    def parallel(self, name: str, raw: Dict[str, Any], line: int, scope: Scope) -> Step:
        """A parallel node: inline (task:, its job made once its bindings are known) or a
        parallel component file; run locally by the parallel driver (spec/parallel.py)."""
        from amlops.spec.parallel import NODE_FIELDS as PARALLEL_NODE_FIELDS
        from amlops.spec.parallel import component_node_job, is_parallel_component

        check_known_fields(raw, PARALLEL_NODE_FIELDS, scope.shown, "parallel node fields")
        reference = raw.get("component")
        if reference is None:
            step = Step(name, name, None, line=line, raw=raw, form="parallel", label="parallel")
            step.outputs = self.node_outputs(step, raw, scope)
            return step
        if isinstance(reference, str) and reference.startswith("azureml:"):
            step = Step(name, name, None, line=line, raw=raw, form="remote", label="parallel")
            step.outputs = self.node_outputs(step, raw, scope)
            return step
        path, document, shown = self.component_document(
            raw, "component", line, scope, name, f"{scope.shown}:{line}"
        )
        if not is_parallel_component(document):
            raise fail_at(shown, 1, "a parallel node's component must be type: parallel")
        try:
            job = component_node_job(document, raw, path, shown, job_from_mapping)
        except UserError as err:
            raise reworded(err, lambda p: f"{scope.shown}:{line}: node {name!r}: {p}") from None
        label = f"parallel component {document.get('name') or shown}"
        step = Step(name, job.name, job, line=line, raw=raw, form="parallel", label=label)
        step.component_file = None if isinstance(reference, dict) else path
        step.outputs = self.node_outputs(step, raw, scope, declared=job.outputs)
        return step

    def component_document(
        self,
        raw: Dict[str, Any],
        key: str,
        line: int,
        scope: Scope,
        name: str,
        inline_shown: str,
    ) -> Tuple[Path, Any, str]:
        """The component a node's `raw[key]` holds inline (its file is the pipeline file,
        shown as `inline_shown`) or names as a file relative to the pipeline file (read):
        (file, document, how errors name it). Raises UserError for a missing file or bad
        YAML."""
        reference = raw[key]
        if isinstance(reference, dict):
            return scope.file, reference, inline_shown
        path = self.local_file(reference, scope, line_of(raw, key) or line, name)
        shown = self.project.relative(path)
        return path, load_yaml(path, shown), shown

    def spark(self, name: str, raw: Dict[str, Any], line: int, scope: Scope) -> Step:
        """A spark node: inline (a sparkJob; its job made once its bindings are known) or
        over a spark component (file or inline); run locally on a local-mode Spark as a
        Spark job file is (spec/spark.py). A registered component's runs only in Azure ML."""
        from amlops.spec.spark import JOB_FIELDS as SPARK_JOB_FIELDS
        from amlops.spec.spark import NODE_FIELDS as SPARK_NODE_FIELDS
        from amlops.spec.spark import component_node_job, is_spark_component

        reference = raw.get("component")
        if reference is None:
            check_known_fields(raw, SPARK_JOB_FIELDS, scope.shown, "spark node fields")
            step = Step(name, name, None, line=line, raw=raw, form="spark", label="spark")
            step.outputs = self.node_outputs(step, raw, scope)
            return step
        check_known_fields(raw, SPARK_NODE_FIELDS, scope.shown, "spark node fields")
        if isinstance(reference, str) and reference.startswith("azureml:"):
            label = f"spark component {reference}"
            step = Step(name, name, None, line=line, raw=raw, form="remote", label=label)
            step.outputs = self.node_outputs(step, raw, scope)
            return step
        path, document, shown = self.component_document(
            raw, "component", line, scope, name, f"{scope.shown}:{line}"
        )
        if not is_spark_component(document):
            raise fail_at(shown, 1, "a spark node's component must be type: spark")
        inline = isinstance(reference, dict)
        try:
            job = component_node_job(
                document, raw, path, shown, scope.shown, job_from_mapping, inline=inline
            )
        except UserError as err:
            raise reworded(err, lambda p: f"{p} (node {name!r})") from None
        label = f"spark component {document.get('name') or shown}"
        step = Step(name, job.name, job, line=line, raw=raw, form="spark", label=label)
        step.component_file = None if inline else path
        step.outputs = self.node_outputs(step, raw, scope, declared=job.outputs)
        return step

    def sweep(self, name: str, raw: Dict[str, Any], line: int, scope: Scope) -> Step:
        """A sweep node: its trial component run per sampled values (sweep_node.py)."""
        check_known_fields(raw, SWEEP_NODE_FIELDS, scope.shown, "sweep node fields")
        reference = raw.get("trial")
        if not isinstance(reference, (str, dict)) or (
            isinstance(reference, str) and reference.startswith("azureml:")
        ):
            raise fail_at(
                scope.shown,
                line_of(raw, "trial") or line,
                f"node {name!r}: trial: must name a command component file here"
                " (trial: ./<component>.yaml, relative to the pipeline file) or hold one inline;"
                " a registered component's sweep runs only in Azure ML",
            )
        step = self.component_step(name, raw, line, scope, "trial", "sweep", TRIAL_OVERRIDES)
        assert step.job is not None
        parse_sweep_node(raw, step.job, scope.file, scope.shown, name, line)
        return step

    def nested(self, name: str, raw: Dict[str, Any], line: int, scope: Scope) -> None:
        """A pipeline component node: its nodes become steps `<name>.<node>`."""
        check_known_fields(raw, PIPELINE_NODE_FIELDS, scope.shown, "pipeline node fields")
        reference = raw.get("component")
        full = scope.prefix + name
        if isinstance(reference, dict) or (
            isinstance(reference, str) and not reference.startswith("azureml:")
        ):
            path, document, shown = self.component_document(
                raw, "component", line, scope, full, scope.shown
            )
        else:
            raise fail_at(
                scope.shown,
                line,
                f"node {full!r}: a pipeline node needs component: ./<pipeline component>.yaml"
                " (a registered pipeline component cannot be run here)",
            )
        if not isinstance(document, dict) or str(document.get("type", "pipeline")) != "pipeline":
            raise fail_at(shown, 1, "expected a pipeline component (type: pipeline, jobs:)")
        check_known_fields(document, PIPELINE_COMPONENT_FIELDS, shown, "pipelineComponent schema")
        declared_raw = section(document, "inputs", shown)
        declared = parse_inputs(declared_raw, shown)
        bindings = section(raw, "inputs", scope.shown)
        bound: Dict[str, Source] = {}
        for input_name, value in bindings.items():
            input_line = line_of(bindings, input_name)
            if str(input_name) not in declared:
                names = ", ".join(sorted(declared)) or "none"
                raise fail_at(
                    scope.shown,
                    input_line,
                    f"node {full!r}: the pipeline component has no input {input_name!r}"
                    f" (inputs: {names})",
                )
            found = self.source(value, scope, input_line, f"node {full!r} input {input_name!r}")
            if found is not None:
                bound[str(input_name)] = found
        inner = Scope(path, shown, prefix=f"{full}.", node=full, bound=bound, declared=declared)
        jobs = section(document, "jobs", shown)
        if not jobs:
            raise fail_at(
                shown, line_of(document, "jobs") or 1, "jobs: must list at least one node"
            )
        self.read_nodes(jobs, inner)
        for output, value in section(document, "outputs", shown).items():
            if isinstance(value, str) and (full, str(output)) not in self.aliases:
                self.aliases[(full, str(output))] = (inner, value, line)
        for output, value in section(raw, "outputs", scope.shown).items():
            self.export(full, str(output), value, scope, line_of(raw.get("outputs"), output))

    def local_file(self, reference: Any, scope: Scope, line: int, node: str) -> Path:
        text = str(reference)
        text = text[len("file:") :] if text.startswith("file:") else text
        path = (scope.file.parent / text).resolve()
        if not path.is_file():
            raise fail_at(
                scope.shown,
                line,
                f"node {node!r}: component file {reference!r} does not exist"
                f" ({self.project.relative(path)})",
            )
        return path

    def node_outputs(
        self,
        step: Step,
        raw: Dict[str, Any],
        scope: Scope,
        declared: Optional[Dict[str, OutputSpec]] = None,
    ) -> Dict[str, OutputSpec]:
        """The node's outputs: a component's, or an inline node's own; `${{parent.outputs.y}}`
        exports one as the pipeline's output y."""
        outputs = dict(declared or {})
        section_raw = section(raw, "outputs", scope.shown)
        for name, value in section_raw.items():
            line = line_of(section_raw, name)
            target = parent_output(value)
            if isinstance(value, str) and not target:
                raise fail_at(
                    scope.shown,
                    line,
                    f"node {step.name!r} output {name!r}: bind it to"
                    " ${{parent.outputs.<name>}} or give a mapping (type, mode, path)",
                )
            if target:
                step.exported[str(name)] = target
                if isinstance(value, dict):  # the SDK's dump(): {type, mode, path: ${{...}}}
                    rest = {k: v for k, v in value.items() if k != "path"}
                    if "type" not in rest and name in outputs:
                        rest["type"] = outputs[str(name)].type  # the component's
                    outputs[str(name)] = parse_output(name, rest, line, scope.shown)
                elif name not in outputs:
                    outputs[str(name)] = OutputSpec(str(name), line=line)
                self.export_from(step.name, str(name), target, scope, line)
                continue
            if declared is not None and name not in declared:
                names = ", ".join(sorted(declared)) or "none"
                raise fail_at(
                    scope.shown,
                    line,
                    f"node {step.name!r}: the component has no output {name!r} (outputs: {names})",
                )
            outputs[str(name)] = parse_output(name, value or {}, line, scope.shown)
        return outputs

    def export_from(self, step: str, output: str, target: str, scope: Scope, line: int) -> None:
        """Node output -> the pipeline output (top level) or the component's output (nested)."""
        if scope.node:
            self.aliases[(scope.node, target)] = (scope, FromStep(step, output), line)
        else:
            if target in self.exported:
                raise fail_at(scope.shown, line, f"pipeline output {target!r} is bound twice")
            self.exported[target] = FromStep(step, output)
            self.export_lines[target] = line

    def export(self, node: str, output: str, value: Any, scope: Scope, line: int) -> None:
        """A nested pipeline node's output bound to `${{parent.outputs.y}}`."""
        exported = parent_output(value)
        if exported:
            target = FromStep(node, output)
            if scope.node:
                self.aliases[(scope.node, exported)] = (scope, target, line)
            else:
                self.exported[exported] = target

    # -- second pass ----------------------------------------------------------------
    def bind_node(self, spec: PipelineSpec, item: Pending) -> None:
        step, scope = item.step, item.scope
        sources: Dict[str, Tuple[Source, int]] = {}
        for name, value in item.inputs.items():
            line = item.lines.get(name, step.line)
            context = f"step {step.name!r} input {name!r}"
            found = self.source(value, scope, line, context)
            if isinstance(found, FromStep):
                found = self.resolve(found)
            if found is not None:
                sources[str(name)] = (found, line)
        if step.form == "command" or (step.form in ("parallel", "spark") and step.job is None):
            for name, (found, line) in sources.items():
                if isinstance(found, FromStep):
                    check_step_output(spec, found, line, f"step {step.name!r} input {name!r}")
            step.job = inline_job(step, sources, scope, spec, self.project)
        problems = Collector()  # every binding of the node
        for name, (found, line) in sources.items():
            problems.keep(partial(check_binding, spec, step, name, found, line))
            step.bindings[name] = found
        if not problems.problems:  # a bad binding would also read as a missing one
            problems.keep(partial(check_required, spec, step))
        problems.raise_if_any()

    def resolve(self, source: FromStep, seen: Tuple = ()) -> FromStep:
        """A step output through pipeline component outputs to the step that makes it."""
        key = (source.step, source.output)
        if key not in self.aliases or key in seen:
            return source
        scope, value, line = self.aliases[key]
        if isinstance(value, FromStep):
            return self.resolve(value, seen + (key,))
        if isinstance(value, str):
            inner = self.source(value, scope, line, f"pipeline component output {source.output!r}")
            if isinstance(inner, FromStep):
                return self.resolve(inner, seen + (key,))
        return source

    def bind(self, spec: PipelineSpec) -> None:
        """Bind every node's inputs; each node's problems are reported, all nodes' at once
        (UserError for one, Problems for several)."""
        problems = Collector()
        for item in self.pending:
            problems.keep(partial(self.bind_node, spec, item))
        problems.raise_if_any()
        spec.outputs = {}
        for name, source in self.exported.items():
            spec.outputs[name] = self.resolve(source)
            line = self.export_lines.get(name, 0)
            check_step_output(spec, spec.outputs[name], line, f"pipeline output {name!r}")


def resolve_registered(project: Project, spec: PipelineSpec, download: ComponentDownload) -> None:
    """Download the registered components a local run needs with `download` (the CLI hands
    in cloud/registered_components.py's) and check their bindings; a step that cannot be
    downloaded keeps `job` None, and Step.runnable() says how to fix it."""
    for step in spec.steps.values():
        if step.form != "registered" or step.job is not None:
            continue
        path = download(project, step.reference)
        if path is None:
            continue
        shown = project.relative(path)
        document = load_yaml(path, shown)
        job = with_node_settings(job_from_mapping(document, path, shown, "component"), step.raw)
        job.name = str(document.get("name") or step.name)
        step.job = job
        step.outputs = {**job.outputs, **step.outputs}
        for name, source in step.bindings.items():
            check_binding(spec, step, name, source, step.line)
        check_required(spec, step)


def parent_output(value: Any) -> str:
    """The pipeline output y a node output is bound to: `${{parent.outputs.y}}` as a
    string, or as the `path` of a mapping (how azure-ai-ml's `dump()` writes a bound
    output: {type, mode, path: ${{parent.outputs.y}}}); "" when it is not bound."""
    if isinstance(value, dict):
        value = value.get("path")
    if not isinstance(value, str):
        return ""
    match = EXPRESSION.fullmatch(value.strip())
    exported = PARENT_OUTPUT.fullmatch(match.group(1)) if match else None
    return exported.group(1) if exported else ""


def with_node_settings(
    job: JobSpec, node: Dict[str, Any], settings: Tuple[str, ...] = JOB_OVERRIDES, shown: str = ""
) -> JobSpec:
    """A component's job with the node's resources, distribution, limits and
    environment_variables (as Azure ML applies node settings; a sweep node's trial
    takes only its resources). UserError (naming `shown`, the pipeline file) for a
    node's environment variable that is not a variable name."""
    if isinstance(node.get("environment_variables"), dict):
        check_variable_names(node["environment_variables"], shown or job.shown_as)
    raw = dict(plain(job.raw))
    for key in settings:
        if key in node:
            raw[key] = plain(node[key])
    if raw == plain(job.raw):
        return job
    updated = JobSpec(**{**job.__dict__, "raw": raw})
    updated.environment_variables = {
        str(k): str(v) for k, v in (raw.get("environment_variables") or {}).items()
    }
    updated.distribution = parse_distribution(raw, job.shown_as)
    updated.instance_count = int((raw.get("resources") or {}).get("instance_count", 1))
    return updated


def declared_input(name: str, source: Source, spec: PipelineSpec, mode: str) -> Dict[str, Any]:
    """What an inline node's input must be, from what it is bound to."""
    if isinstance(source, FromParent):
        parent = spec.inputs[source.name]
        return {"type": parent.type, **({"mode": mode} if mode else {})}
    if isinstance(source, FromStep):
        producer = spec.steps[source.step].outputs.get(source.output)
        kind = producer.type if producer else "uri_folder"
        return {"type": kind, **({"mode": mode} if mode else {})}
    if isinstance(source, FromPath):
        return {"type": source.typed("uri_folder"), "path": source.path}
    value = source.value
    kind = {bool: "boolean", int: "integer", float: "number"}.get(type(value), "string")
    return {"type": kind, "default": value}


def inline_job(
    step: Step,
    sources: Dict[str, Tuple[Source, int]],
    scope: Scope,
    spec: PipelineSpec,
    project: Project,
) -> JobSpec:
    """An inline command node as a JobSpec: its inputs declared from their bindings."""
    raw = step.raw  # its fields are checked with the rest by job_from_mapping (kind node)
    declared: Dict[str, Any] = {}
    bindings = section(raw, "inputs", scope.shown)
    for name, (found, _) in sources.items():
        value = bindings.get(name)
        mode = str(value.get("mode", "")) if isinstance(value, dict) else ""
        entry = declared_input(name, found, spec, mode)
        if isinstance(value, dict) and value.get("type"):
            entry["type"] = value["type"]
        declared[name] = entry
    if step.form in ("parallel", "spark"):
        if step.form == "parallel":
            from amlops.spec.parallel import inline_node_job
        else:
            from amlops.spec.spark import inline_node_job

        outputs = {n: dict(o.raw) for n, o in step.outputs.items()}
        try:
            job = inline_node_job(raw, declared, outputs, scope.file, scope.shown, job_from_mapping)
        except UserError as err:
            raise reworded(err, lambda p: f"{p} (node {step.name!r})") from None
        job.name = step.name
        return job
    document = LineMap((k, v) for k, v in raw.items() if k not in ("inputs", "outputs"))
    document.lines = dict(getattr(raw, "lines", {}))  # errors keep the node's line numbers
    document["inputs"] = declared
    document["outputs"] = {n: dict(o.raw) for n, o in step.outputs.items()}
    try:
        job = job_from_mapping(document, scope.file, scope.shown, "node")
    except UserError as err:
        raise reworded(err, lambda p: f"{p} (node {step.name!r})") from None
    job.name = step.name
    return job


def load_pipeline_file(project: Project, path: Path, pipeline_name: str = "") -> PipelineSpec:
    """Read and check one pipeline file of either form, and every job it uses.
    `pipeline_name`: its name (Project.pipeline_files; default the file's stem).

    Every independent problem is reported in one go (UserError for one, Problems for
    several): the pipeline's own fields, settings, inputs and outputs, every node (each
    stops at its first problem), then, when the nodes and inputs read cleanly, every
    binding and every declared output left unbound (bindings are not checked against
    nodes or inputs that did not read: they would only repeat those problems)."""
    shown = project.relative(path)
    raw = load_yaml(path, shown)
    if not isinstance(raw, dict):
        raise fail_at(shown, 1, "expected a mapping with jobs:")
    if raw.get("type", "pipeline") != "pipeline":
        raise fail_at(shown, line_of(raw, "type"), f"type must be 'pipeline', got {raw['type']!r}")
    found = Collector()
    found.keep(lambda: check_known_fields(raw, PIPELINE_FIELDS, shown, "pipeline file fields"))
    settings = found.keep(lambda: section(raw, "settings", shown), {}) or {}
    # azure-ai-ml's PipelineJobSettings keeps unknown keys (**kwargs) and sends them
    warn_unknown_fields(settings, SETTINGS_FIELDS, shown, "azure-ai-ml keeps unknown settings")
    loader = Loader(project, path)
    loader.native = "type" in raw or "pipelineJob" in str(raw.get("$schema", ""))
    jobs_raw = found.keep(lambda: section(raw, "jobs", shown))
    if jobs_raw == {}:
        found.add(fail_at(shown, line_of(raw, "jobs") or 1, "jobs: must list at least one step"))
    inputs_raw = found.keep(lambda: section(raw, "inputs", shown), {}) or {}
    outputs_raw = found.keep(lambda: section(raw, "outputs", shown), {}) or {}
    scope = Scope(path, shown)
    before = len(found.problems)
    found.keep(lambda: loader.read_nodes(jobs_raw or {}, scope))
    inputs = found.keep(lambda: parse_inputs(inputs_raw, shown))
    readable = jobs_raw is not None and inputs is not None and len(found.problems) == before
    declared_outputs: Dict[str, Dict[str, Any]] = {}
    for name, value in outputs_raw.items():
        line = line_of(outputs_raw, name)
        if isinstance(value, str):  # shorthand: the output names the step output it takes
            if not readable:
                continue  # it names a node: checked once the nodes read cleanly
            known = len(found.problems)
            source = found.keep(
                lambda: loader.source(value, scope, line, f"pipeline output {name!r}")
            )
            if len(found.problems) > known:
                continue
            if not isinstance(source, FromStep):
                found.add(
                    fail_at(
                        shown,
                        line,
                        f"pipeline output {name!r}: bind it to"
                        " ${{parent.jobs.<step>.outputs.<name>}}",
                    )
                )
                continue
            loader.exported[str(name)] = source
            loader.export_lines[str(name)] = line
        else:
            declared_outputs[str(name)] = plain(value or {})
    continue_on_failure = settings.get("continue_on_step_failure", False)
    force_rerun = settings.get("force_rerun", False)
    for key, value in (
        ("continue_on_step_failure", continue_on_failure),
        ("force_rerun", force_rerun),
    ):
        if not isinstance(value, bool):
            found.add(fail_at(shown, line_of(settings, key), f"{key}: true or false"))
    if not readable:
        found.raise_if_any()
    spec = PipelineSpec(
        name=pipeline_name or path.stem,
        file=path,
        shown_as=shown,
        inputs=inputs or {},
        outputs={},
        steps=loader.steps,
        order=[],
        continue_on_step_failure=bool(continue_on_failure),
        default_compute=str(settings.get("default_compute", "") or raw.get("compute") or ""),
        raw=raw,
        native=loader.native,
        force_rerun=bool(force_rerun),
        declared_outputs=declared_outputs,
    )
    if found.keep(lambda: loader.bind(spec) or True):
        for name in declared_outputs:
            if name not in spec.outputs:
                found.add(
                    fail_at(
                        shown,
                        line_of(outputs_raw, name),
                        f"pipeline output {name!r}: no node binds an output to"
                        f" ${{{{parent.outputs.{name}}}}}",
                    )
                )
    found.raise_if_any()
    spec.order = topological_order(spec)
    return spec


def load_pipeline(project: Any, name: str = "") -> PipelineSpec:
    """Read and check pipelines/<name>.yaml (either form) and every job it uses; a
    pipelines/<name>.py is built with azure-ai-ml first and its YAML read the same way
    (spec/python_pipeline.py)."""
    name, path = project.named_pipeline(name)  # e.g. the folder of pipelines/<folder>/x.yml
    if path.suffix == ".py":
        path = python_pipeline.build(project, path)
    return load_pipeline_file(project, path, name)


def load_pipeline_of_step(project: Any, name: str, step: str) -> PipelineSpec:
    """load_pipeline(name) for a command that runs one step (make step-local, make
    step). Without PIPELINE= in a project of several pipelines, the one pipeline that
    has a step (node) named `step`, said in one line; UserError when several have it
    or none does (naming them). A pipeline that does not read is left out of the choice
    and named in that line (make validate says what is wrong with it)."""
    if name or not step or len(project.pipelines()) <= 1:
        return load_pipeline(project, name)
    from amlops.console import say

    having: List[PipelineSpec] = []
    unreadable: List[str] = []
    for candidate in project.pipelines():
        try:
            spec = load_pipeline(project, candidate)
        except UserError:
            unreadable.append(candidate)
            continue
        if step in spec.steps:
            having.append(spec)
    skipped = f"; not read: {', '.join(unreadable)} (make validate says why)" if unreadable else ""
    if len(having) == 1:
        say(
            f"STEP={step}: pipeline {having[0].name} (the only one with that step;"
            f" PIPELINE= picks one){skipped}"
        )
        return having[0]
    if having:
        names = ", ".join(spec.name for spec in having)
        raise UserError(
            f"STEP={step}: several pipelines have a step {step!r} ({names}): pick one with"
            f" PIPELINE=name{skipped}"
        )
    raise UserError(
        f"STEP={step}: no pipeline has a step {step!r} (pipelines:"
        f" {', '.join(project.pipelines())}; make pipeline-graph PIPELINE=name shows a"
        f" pipeline's steps){skipped}"
    )
