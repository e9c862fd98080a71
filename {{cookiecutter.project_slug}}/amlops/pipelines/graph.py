"""`make pipeline-graph`: the pipeline's DAG, drawn in the terminal (FORMAT=text, the
default), or as a Mermaid flowchart (FORMAT=mermaid) or Graphviz dot (FORMAT=dot)."""

from typing import Dict, List, Tuple

from amlops.console import plural
from amlops.errors import UserError
from amlops.spec.pipeline import FromParent, FromPath, FromStep, Literal, PipelineSpec

Edge = Tuple[str, str, str]  # (from node, to node, label)


def _text(value: object) -> str:
    """Label text safe inside Mermaid's double quotes."""
    return str(value).replace('"', "#quot;")


def levels(spec: PipelineSpec) -> Dict[str, int]:
    """Each step's level: 1 + the longest chain of steps it depends on."""
    level: Dict[str, int] = {}
    for name in spec.order:
        upstream = spec.steps[name].upstream()
        level[name] = 1 + max((level[u] for u in upstream), default=0)
    return level


def _sources(spec: PipelineSpec, name: str) -> List[str]:
    """What feeds a step, in words: `prepare.prepared`, `raw_data`, `n=5`, `path ../x`."""
    told = []
    for input_name, source in spec.steps[name].bindings.items():
        if isinstance(source, FromStep):
            told.append(f"{input_name}={source.step}.{source.output}")
        elif isinstance(source, FromParent):
            told.append(f"{input_name}=inputs.{source.name}")
        elif isinstance(source, FromPath):
            told.append(f"{input_name}={source.path}")
        elif isinstance(source, Literal):
            told.append(f"{input_name}={source.value!r}")
    return told


def text(spec: PipelineSpec) -> str:
    """The DAG level by level, each step with what feeds it (for a terminal)."""
    level = levels(spec)
    width = max(len(n) for n in spec.order)
    label_width = max(len(spec.steps[n].label) for n in spec.order)
    lines = [
        f"pipeline {spec.name}: {plural(len(spec.order), 'step')} in"
        f" {plural(max(level.values()), 'level')}"
    ]
    if spec.inputs:
        shown = [
            f"{n} ({i.type})" if i.is_path else f"{n}={i.value!r}" for n, i in spec.inputs.items()
        ]
        lines.append(f"  inputs   {', '.join(shown)}")
    for depth in range(1, max(level.values()) + 1):
        names = [n for n in spec.order if level[n] == depth]
        lines.append(f"  level {depth}" + ("  (in parallel)" if len(names) > 1 else ""))
        for name in names:
            step = spec.steps[name]
            feeds = ", ".join(_sources(spec, name))
            arrow = f"  <- {feeds}" if feeds else ""
            lines.append(f"    {name.ljust(width)}  {step.label.ljust(label_width)}{arrow}")
    for name, source in spec.outputs.items():
        lines.append(f"  output   {name} <- {source.step}.{source.output}")
    return "\n".join(lines) + "\n"


def edges(spec: PipelineSpec) -> List[Edge]:
    """Every data edge: pipeline inputs and steps to steps, steps to pipeline outputs."""
    found: List[Edge] = []
    for name in spec.order:
        for input_name, source in spec.steps[name].bindings.items():
            if isinstance(source, FromStep):
                label = (
                    source.output
                    if source.output == input_name
                    else f"{source.output} → {input_name}"
                )
                found.append((f"step_{source.step}", f"step_{name}", label))
            elif isinstance(source, FromParent) and spec.inputs[source.name].is_path:
                found.append((f"input_{source.name}", f"step_{name}", input_name))
            elif isinstance(source, FromPath):
                found.append((f"path_{name}_{input_name}", f"step_{name}", input_name))
    for name, source in spec.outputs.items():
        found.append((f"step_{source.step}", f"output_{name}", source.output))
    return found


def _id(node: str) -> str:
    return node.replace(".", "__")


def mermaid(spec: PipelineSpec) -> str:
    """Pipeline inputs, steps (with what they run) and every data edge, as Mermaid."""
    lines: List[str] = ["flowchart LR"]
    for name, item in spec.inputs.items():
        if item.is_path:
            lines.append(f'  input_{name}[/"{name}<br/>{item.type}"/]')
    for name in spec.order:
        step = spec.steps[name]
        literals = [
            f"{n}={_text(s.value)}" for n, s in step.bindings.items() if isinstance(s, Literal)
        ]
        extra = f"<br/><small>{', '.join(literals)}</small>" if literals else ""
        lines.append(f'  {_id("step_" + name)}["{name}<br/><i>{_text(step.label)}</i>{extra}"]')
        for input_name, source in step.bindings.items():
            if isinstance(source, FromPath):
                lines.append(f'  {_id(f"path_{name}_{input_name}")}[/"{_text(source.path)}"/]')
    for name in spec.outputs:
        lines.append(f'  output_{name}[/"{name}"/]')
    for start, end, label in edges(spec):
        lines.append(f'  {_id(start)} -- "{_text(label)}" --> {_id(end)}')
    return "\n".join(lines) + "\n"


def dot(spec: PipelineSpec) -> str:
    """The same graph in Graphviz dot (render with `dot -Tsvg`)."""
    lines = [f'digraph "{spec.name}" {{', "  rankdir=LR;"]
    for name, item in spec.inputs.items():
        if item.is_path:
            lines.append(f'  input_{name} [shape=parallelogram, label="{name}\\n{item.type}"];')
    for name in spec.order:
        label = spec.steps[name].label.replace('"', "'")
        lines.append(f'  {_id("step_" + name)} [shape=box, label="{name}\\n{label}"];')
        for input_name, source in spec.steps[name].bindings.items():
            if isinstance(source, FromPath):
                path = str(source.path).replace('"', "'")
                node = _id(f"path_{name}_{input_name}")
                lines.append(f'  {node} [shape=parallelogram, label="{path}"];')
    for name in spec.outputs:
        lines.append(f'  output_{name} [shape=parallelogram, label="{name}"];')
    for start, end, label in edges(spec):
        lines.append(f'  {_id(start)} -> {_id(end)} [label="{label}"];')
    return "\n".join(lines + ["}"]) + "\n"


def draw(spec: PipelineSpec, form: str = "text") -> str:
    """The pipeline in FORMAT `form` (text, mermaid or dot); UserError for another."""
    renderers = {"text": text, "mermaid": mermaid, "dot": dot}
    if form not in renderers:
        raise UserError(f"FORMAT={form!r}: use text, mermaid or dot")
    return renderers[form](spec)
