"""`make pipeline-graph`: the pipeline's DAG as a Mermaid flowchart."""

from typing import List

from amlops.pipelines.spec import FromParent, FromPath, FromStep, Literal, PipelineSpec


def _text(value: object) -> str:
    """Label text safe inside Mermaid's double quotes."""
    return str(value).replace('"', "#quot;")


def mermaid(spec: PipelineSpec) -> str:
    """Pipeline inputs, steps (with their experiment) and every data edge."""
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
        lines.append(f'  step_{name}["{name}<br/><i>{step.experiment}</i>{extra}"]')
    for name in spec.order:
        for input_name, source in spec.steps[name].bindings.items():
            if isinstance(source, FromStep):
                label = (
                    source.output
                    if source.output == input_name
                    else f"{source.output} → {input_name}"
                )
                lines.append(f'  step_{source.step} -- "{label}" --> step_{name}')
            elif isinstance(source, FromParent) and spec.inputs[source.name].is_path:
                lines.append(f'  input_{source.name} -- "{input_name}" --> step_{name}')
            elif isinstance(source, FromPath):
                node = f'path_{name}_{input_name}[/"{_text(source.path)}"/]'
                lines.append(f'  {node} -- "{input_name}" --> step_{name}')
    for name, source in spec.outputs.items():
        lines.append(f'  output_{name}[/"{name}"/]')
        lines.append(f'  step_{source.step} -- "{source.output}" --> output_{name}')
    return "\n".join(lines) + "\n"
