"""A pipeline's sweep node (`type: sweep` under a pipeline's `jobs:`), checked offline.

Azure ML's form (pipelineJob schema; SDK: azure.ai.ml._schema.pipeline.component_job
SweepSchema = BaseNodeSchema + ParameterizedSweepSchema + trial; the example
azureml-examples cli/jobs/pipelines-with-components/pipeline_with_hyperparameter_sweep;
docs: how-to-use-sweep-in-pipeline):

    jobs:
      tune:
        type: sweep
        trial: ./train.yaml          # a command component, relative to the pipeline file
        inputs: {data: ${{parent.jobs.prep.outputs.data}}, epochs: 3}
        outputs: {model: ${{parent.outputs.model}}}
        sampling_algorithm: random
        search_space: {lr: {type: uniform, min_value: 0.01, max_value: 0.1}}
        objective: {goal: minimize, primary_metric: loss}
        limits: {max_total_trials: 4, max_concurrent_trials: 2}
        early_termination: {type: bandit, slack_factor: 0.1}

Each search_space name is an input of the trial component that the node does not
bind; a trial runs the component with the node's inputs plus the values sampled
for it. A sweep node's outputs are its best trial's (Azure ML: "download all default
and named outputs of the best trial job", how-to-tune-hyperparameters, "Find the
best trial job"; the example's predict_step reads sweep_step's outputs)."""

from pathlib import Path
from typing import Any, Dict, Set

from amlops.spec.checks import Collector, check_known_fields, fail_at
from amlops.spec.job import LITERAL_CHECKS, JobSpec
from amlops.spec.sweep import SWEEP_FIELDS, SweepSpec, check_sampling, parse_settings

# SDK: SweepSchema's own fields plus BaseNodeSchema's and BaseNode's: a sweep job's
# fields without $schema and services, plus comment.
SWEEP_NODE_FIELDS = (SWEEP_FIELDS - {"$schema", "services"}) | {"comment"}
# What a distribution gives, and the input types that can take it.
NUMBERS = {"number", "string"}
TAKES = {
    "randint": {"integer", "number", "string"},
    "uniform": NUMBERS,
    "loguniform": NUMBERS,
    "normal": NUMBERS,
    "lognormal": NUMBERS,
}


def _takes(parameter: Any) -> Set[str]:
    """The component input types a parameter's values fit (choice: checked per value)."""
    if parameter.type in TAKES:
        return TAKES[parameter.type]
    whole = isinstance(parameter.args.get("q"), int)  # q-distributions: whole numbers
    return NUMBERS | ({"integer"} if whole else set())


def check_space(spec: SweepSpec, trial: JobSpec, bound: Set[str], node: str) -> None:
    """Every search_space name is a literal input of the trial component that the node
    does not bind, of a type the distribution's values fit."""
    where = f"node {node!r}"
    declared = ", ".join(sorted(trial.inputs)) or "none"
    for name, parameter in spec.parameters.items():
        line = parameter.line
        item = trial.inputs.get(name)
        if item is None:
            raise fail_at(
                spec.shown_as,
                line,
                f"{where}: search_space.{name}: the trial component {trial.shown_as} has no"
                f" input {name!r} (inputs: {declared}); a search space name is the component"
                " input it sets",
            )
        if name in bound:
            raise fail_at(
                spec.shown_as,
                line,
                f"{where}: search_space.{name}: input {name!r} is also bound under inputs:;"
                " a searched input takes the sampled values only, so remove one",
            )
        if item.is_path:
            raise fail_at(
                spec.shown_as,
                line,
                f"{where}: search_space.{name}: input {name!r} is {item.type}; a search"
                " space sets literal inputs (integer, number, string, boolean)",
            )
        if parameter.type == "choice":
            check = LITERAL_CHECKS.get(item.type)
            for value in parameter.values:
                if check and not check(value):
                    raise fail_at(
                        spec.shown_as,
                        line,
                        f"{where}: search_space.{name}: choice value {value!r} is not"
                        f" {item.type} (input {name!r} of {trial.shown_as})",
                    )
        elif item.type not in _takes(parameter):
            raise fail_at(
                spec.shown_as,
                line,
                f"{where}: search_space.{name}: {parameter.type} gives numbers, but input"
                f" {name!r} of {trial.shown_as} is {item.type}",
            )


def parse_sweep_node(
    raw: Dict[str, Any], trial: JobSpec, path: Path, shown: str, node: str, line: int
) -> SweepSpec:
    """The SweepSpec of a sweep node whose trial component is `trial` (its JobSpec, which
    becomes the trial template: trial.sweep is set). `raw` is the node as written in
    `path` (shown as `shown`), `line` its line. Every independent problem of the node's
    fields and settings at once: UserError (file:line: ...) for one, Problems for several."""
    found = Collector()
    found.keep(lambda: check_known_fields(raw, SWEEP_NODE_FIELDS, shown, "sweep node fields"))
    spec = parse_settings(raw, path, shown, line, found=found)
    spec.node = True
    spec.trial = trial
    inputs = raw.get("inputs") or {}
    if spec.space_complete:
        found.keep(lambda: check_space(spec, trial, {str(n) for n in inputs}, node))
    if spec.complete:
        found.keep(lambda: check_sampling(spec))
    found.raise_if_any()
    trial.sweep = spec
    return spec
