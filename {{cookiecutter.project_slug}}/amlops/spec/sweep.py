"""A sweep job file (https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json),
read and checked offline, and the command job of each trial.

The trial is read with the command-job machinery (spec/job.py parse_job, handed in) from the
file's `trial:` fields plus its top-level `inputs`, `outputs` and
`experiment_name`, so code, environment, inputs and outputs resolve exactly as
for a command job. A trial's command is the trial command with every
`${{search_space.<name>}}` replaced by the value sampled for it (raw text, as
Azure ML substitutes it).

Distributions (Azure ML's definitions, reference-yaml-job-sweep and
how-to-tune-hyperparameters): choice(values); randint(upper): an integer in
[0, upper); uniform(min_value, max_value); loguniform: exp(uniform(min_value,
max_value)), so min/max are exponents; normal(mu, sigma); lognormal:
exp(normal(mu, sigma)); quniform, qloguniform, qnormal, qlognormal: round(x / q) * q
of the same without q. An integer q gives whole numbers (written without a
decimal point)."""

import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from amlops.spec.checks import (
    COMMON_JOB_FIELDS,
    Collector,
    check_known_fields,
    check_names,
    fail_at,
    missing_at,
    section,
)
from amlops.spec.expressions import REFERENCE, expressions, substitute
from amlops.yamlfile import LineMap, line_of, plain

# How a sweep reads its trial's command job: spec/job.py's parse_job(raw, path, shown,
# sweep=None) -> JobSpec, handed in by the caller (spec/job.py imports this module).
TrialParser = Callable[..., Any]

# Top-level fields of a sweep job (SDK: SweepJobSchema = BaseJobSchema +
# ParameterizedSweepSchema + trial, inputs, outputs).
SWEEP_FIELDS = COMMON_JOB_FIELDS | {
    "properties",
    "services",
    "compute",
    "identity",
    "sampling_algorithm",
    "search_space",
    "objective",
    "early_termination",
    "limits",
    "queue_settings",
    "resources",
    "trial",
    "inputs",
    "outputs",
}
# Fields of `trial:` (SDK: ParameterizedCommandSchema).
TRIAL_FIELDS = {
    "command",
    "code",
    "environment",
    "environment_variables",
    "resources",
    "distribution",
    "queue_settings",
}
# Fields of the sweep a trial's command job carries (the rest is the sweep's own).
TRIAL_FROM_SWEEP = ("experiment_name", "tags", "inputs", "outputs", "identity", "services")
DISTRIBUTIONS: Dict[str, Tuple[str, ...]] = {
    "choice": ("values",),
    "randint": ("upper",),
    "uniform": ("min_value", "max_value"),
    "loguniform": ("min_value", "max_value"),
    "quniform": ("min_value", "max_value", "q"),
    "qloguniform": ("min_value", "max_value", "q"),
    "normal": ("mu", "sigma"),
    "lognormal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "qlognormal": ("mu", "sigma", "q"),
}
SAMPLING = ("random", "grid", "bayesian")
# The fields that say what a sweep does (its trial aside).
SETTINGS = ("sampling_algorithm", "search_space", "objective", "limits", "early_termination")
# Azure ML: "Bayesian sampling only supports choice, uniform, and quniform".
BAYESIAN_TYPES = ("choice", "uniform", "quniform")
POLICY_FIELDS = {
    "bandit": {"type", "slack_factor", "slack_amount", "evaluation_interval", "delay_evaluation"},
    "median_stopping": {"type", "evaluation_interval", "delay_evaluation"},
    "truncation_selection": {
        "type",
        "truncation_percentage",
        "evaluation_interval",
        "delay_evaluation",
    },
}
LIMIT_FIELDS = {"max_total_trials", "max_concurrent_trials", "timeout", "trial_timeout"}
RANDOM_FIELDS = {"type", "seed", "rule", "logbase"}
TINY = 1e-12  # keeps inverse CDFs away from 0 and 1


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _quantize(value: float, q: Any) -> Any:
    """round(value / q) * q; an int when q is an int, else a float without binary noise."""
    steps = round(value / q)
    if isinstance(q, int):
        return int(steps * q)
    return float(Decimal(steps) * Decimal(str(q)))


@dataclass
class Parameter:
    """One `search_space` entry: a distribution and its arguments."""

    name: str
    type: str
    args: Dict[str, Any]
    line: int = 0

    @property
    def values(self) -> List[Any]:
        return list(self.args.get("values", []))

    def from_unit(self, u: float) -> Any:
        """The value at quantile `u` (0 <= u < 1): the inverse of the distribution's CDF,
        so a uniform `u` samples it (random) and a quasi-random `u` spreads it (sobol)."""
        a = self.args
        u = min(max(u, 0.0), 1.0 - TINY)
        if self.type == "choice":
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.type == "randint":
            return min(int(u * a["upper"]), a["upper"] - 1)
        if self.type.endswith("uniform"):
            x = a["min_value"] + u * (a["max_value"] - a["min_value"])
        else:
            import statistics  # here: ~5 ms (fractions, decimal) of every job file read

            x = statistics.NormalDist(a["mu"], a["sigma"]).inv_cdf(min(max(u, TINY), 1 - TINY))
        if "log" in self.type:
            x = math.exp(x)
        return _quantize(x, a["q"]) if self.type.startswith("q") else x


@dataclass
class Objective:
    metric: str
    goal: str  # maximize or minimize

    def better(self, a: float, b: float) -> bool:
        """Whether `a` beats `b`."""
        return a > b if self.goal == "maximize" else a < b

    def best(self, values: List[float]) -> float:
        return max(values) if self.goal == "maximize" else min(values)


@dataclass
class Limits:
    """`limits:`: counts, and seconds for the timeouts (Azure ML's units)."""

    max_total_trials: int
    max_concurrent_trials: Optional[int] = None
    timeout: Optional[int] = None
    trial_timeout: Optional[int] = None


@dataclass
class Policy:
    """`early_termination:` (bandit, median_stopping or truncation_selection)."""

    type: str
    evaluation_interval: int = 1
    delay_evaluation: int = 0
    slack_factor: Optional[float] = None
    slack_amount: Optional[float] = None
    truncation_percentage: int = 0


@dataclass
class Sampling:
    type: str  # random, grid or bayesian
    seed: Optional[int] = None
    rule: str = "random"  # random or sobol (random sampling only)


@dataclass
class SweepSpec:
    """A checked sweep job file; `trial` is its trial as a command JobSpec (template)."""

    file: Path
    shown_as: str
    raw: Dict[str, Any]
    parameters: Dict[str, Parameter]
    sampling: Sampling
    objective: Objective
    limits: Limits
    policy: Optional[Policy] = None
    trial_raw: Dict[str, Any] = field(default_factory=dict)
    trial: Any = None  # the trial as a command JobSpec (spec/job.py)
    # How the trial is read (spec/job.py parse_job; None for a sweep node).
    parse_trial: Optional[TrialParser] = None
    # A pipeline's sweep node (spec/sweep_node.py): the trial is a command component and each
    # sampled value is the value of the component input of that name.
    node: bool = False
    # False when a setting had a problem (parse_settings with a Collector): stand-ins hold
    # its place, and checks across settings are skipped; space_complete: the search space.
    complete: bool = True
    space_complete: bool = True

    def where(self, line: int) -> str:
        return f"{self.shown_as}:{line}" if line else self.shown_as

    def settings(self) -> Dict[str, Any]:
        """What the sweep does, as written (a pipeline step's reuse key holds it)."""
        return {key: plain(self.raw.get(key)) for key in SETTINGS}

    def trial_overrides(self, values: Dict[str, Any]) -> Dict[str, str]:
        """A sweep node's trial inputs from the sampled values ({} for a sweep job file,
        whose values go into the command)."""
        return {k: format_value(v) for k, v in values.items()} if self.node else {}

    def placeholders(self) -> Dict[str, str]:
        """A sweep node's searched inputs as `${{search_space.<name>}}` (what they are
        before a trial samples them: reuse keys and plans bind them so)."""
        if not self.node:
            return {}
        return {name: "${{search_space.%s}}" % name for name in self.parameters}

    def trial_spec(self, values: Dict[str, Any]) -> Any:
        """The command job of one trial: the trial command with these sampled values
        (a sweep node's trial is its component; trial_overrides gives the values)."""
        if self.node:
            assert self.trial is not None
            return self.trial
        raw = LineMap(self.trial_raw)
        raw.lines = dict(getattr(self.trial_raw, "lines", {}))

        def value_of(expression: str) -> Optional[str]:
            kind, _, name = expression.partition(".")
            return format_value(values[name]) if kind == "search_space" else None

        raw["command"] = substitute(str(self.trial_raw["command"]), value_of)
        assert self.parse_trial is not None
        return self.parse_trial(raw, self.file, self.shown_as)


def format_value(value: Any) -> str:
    """A sampled value as the command gets it (true/false for booleans, like YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _parameter(name: str, raw: Any, line: int, shown: str) -> Parameter:
    where = f"search_space.{name}"
    if not isinstance(raw, dict) or "type" not in raw:
        raise fail_at(shown, line, f"{where}: expected a mapping with type: (e.g. choice)")
    kind = str(raw["type"]).lower()
    if kind not in DISTRIBUTIONS:
        known = ", ".join(DISTRIBUTIONS)
        raise fail_at(shown, line, f"{where}: unknown distribution {raw['type']!r} (use {known})")
    needed = DISTRIBUTIONS[kind]
    check_known_fields(raw, {"type", *needed}, shown, f"{kind} parameter expression")
    missing = [arg for arg in needed if arg not in raw]
    if missing:
        raise fail_at(shown, line, f"{where}: {kind} needs {', '.join(missing)}")
    args = plain({arg: raw[arg] for arg in needed})
    if kind == "choice":
        values = args["values"]
        if not isinstance(values, list) or not values:
            raise fail_at(shown, line, f"{where}: choice needs a non-empty list of values")
        if any(isinstance(v, (dict, list)) for v in values):
            raise fail_at(
                shown,
                line,
                f"{where}: choice values that are themselves search spaces (nested) run only"
                " in Azure ML; make job sends the file unchanged",
            )
        return Parameter(name, kind, args, line)
    if kind == "randint":
        if isinstance(args["upper"], bool) or not isinstance(args["upper"], int):
            raise fail_at(shown, line, f"{where}: randint upper must be a whole number")
        if args["upper"] < 1:
            raise fail_at(shown, line, f"{where}: randint upper must be >= 1 (values 0..upper-1)")
        return Parameter(name, kind, args, line)
    for arg in needed:
        if not _number(args[arg]):
            raise fail_at(shown, line, f"{where}: {arg} must be a number, got {args[arg]!r}")
    if "min_value" in args and args["min_value"] > args["max_value"]:
        raise fail_at(shown, line, f"{where}: min_value is above max_value")
    if "sigma" in args and args["sigma"] <= 0:
        raise fail_at(shown, line, f"{where}: sigma must be > 0")
    if "q" in args and args["q"] <= 0:
        raise fail_at(shown, line, f"{where}: q must be > 0")
    return Parameter(name, kind, args, line)


def _sampling(raw: Dict[str, Any], shown: str, at: int = 1) -> Sampling:
    value = raw.get("sampling_algorithm")
    line = line_of(raw, "sampling_algorithm")
    if value is None:
        raise missing_at(
            shown,
            at,
            "sampling_algorithm",
            "sampling_algorithm: required (random, grid or bayesian)",
        )
    if isinstance(value, str):
        kind, settings = value.lower(), {}
    elif isinstance(value, dict):
        kind, settings = str(value.get("type", "")).lower(), value
    else:
        raise fail_at(shown, line, "sampling_algorithm: use random, grid or bayesian")
    if kind not in SAMPLING:
        raise fail_at(shown, line, f"sampling_algorithm {kind!r}: use random, grid or bayesian")
    allowed = RANDOM_FIELDS if kind == "random" else {"type"}
    check_known_fields(settings, allowed, shown, f"{kind} sampling algorithm")
    seed = settings.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise fail_at(shown, line, "sampling_algorithm.seed must be a whole number")
    rule = str(settings.get("rule", "random")).lower()
    if rule not in ("random", "sobol"):
        raise fail_at(shown, line, f"sampling_algorithm.rule {rule!r}: use random or sobol")
    return Sampling(kind, seed, rule)


def _whole(raw: Dict[str, Any], key: str, shown: str, minimum: int, within: str) -> Optional[int]:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise fail_at(
            shown, line_of(raw, key), f"{within}{key} must be a whole number >= {minimum}"
        )
    return value


def _limits(raw: Dict[str, Any], shown: str, at: int = 1) -> Limits:
    if "limits" not in raw:
        raise missing_at(
            shown, at, "limits", "limits: required, with max_total_trials (Azure ML requires it)"
        )
    limits = section(raw, "limits", shown)
    check_known_fields(limits, LIMIT_FIELDS, shown, "sweep limits")
    total = _whole(limits, "max_total_trials", shown, 1, "limits.")
    if total is None:
        raise fail_at(shown, line_of(raw, "limits"), "limits.max_total_trials: required")
    return Limits(
        max_total_trials=total,
        max_concurrent_trials=_whole(limits, "max_concurrent_trials", shown, 1, "limits."),
        timeout=_whole(limits, "timeout", shown, 1, "limits."),
        trial_timeout=_whole(limits, "trial_timeout", shown, 1, "limits."),
    )


def _objective(raw: Dict[str, Any], shown: str, at: int = 1) -> Objective:
    if "objective" not in raw:
        raise missing_at(shown, at, "objective", "objective: required (primary_metric and goal)")
    objective = section(raw, "objective", shown)
    check_known_fields(objective, {"goal", "primary_metric"}, shown, "sweep objective")
    line = line_of(raw, "objective")
    goal = str(objective.get("goal", "")).lower()
    if goal not in ("maximize", "minimize"):
        raise fail_at(
            shown, line, f"objective.goal {objective.get('goal')!r}: use maximize or minimize"
        )
    metric = objective.get("primary_metric")
    if not isinstance(metric, str) or not metric:
        raise fail_at(shown, line, "objective.primary_metric: the metric name the trials log")
    return Objective(metric, goal)


def _policy(raw: Dict[str, Any], shown: str) -> Optional[Policy]:
    if not raw.get("early_termination"):
        return None
    policy = section(raw, "early_termination", shown)
    line = line_of(raw, "early_termination")
    kind = str(policy.get("type", "")).lower()
    if kind not in POLICY_FIELDS:
        raise fail_at(
            shown,
            line,
            f"early_termination type {policy.get('type')!r}: use bandit, median_stopping"
            " or truncation_selection",
        )
    check_known_fields(policy, POLICY_FIELDS[kind], shown, f"{kind} policy")
    within = "early_termination."
    found = Policy(
        kind,
        # Azure ML's default is documented both as 0 and as 1; both mean every interval.
        evaluation_interval=max(1, _whole(policy, "evaluation_interval", shown, 0, within) or 1),
        delay_evaluation=_whole(policy, "delay_evaluation", shown, 0, within) or 0,
    )
    if kind == "bandit":
        for key in ("slack_factor", "slack_amount"):
            value = policy.get(key)
            if value is not None and (not _number(value) or value < 0):
                raise fail_at(shown, line, f"{within}{key} must be a number >= 0")
        found.slack_factor, found.slack_amount = policy.get("slack_factor"), policy.get(
            "slack_amount"
        )
        if found.slack_factor is None and found.slack_amount is None:
            raise fail_at(shown, line, "bandit policy: give slack_factor or slack_amount")
    if kind == "truncation_selection":
        percentage = _whole(policy, "truncation_percentage", shown, 1, within)
        if percentage is None or percentage > 99:
            raise fail_at(shown, line, f"{within}truncation_percentage: a whole number 1..99")
        found.truncation_percentage = percentage
    return found


def _trial_raw(raw: Dict[str, Any], shown: str) -> Dict[str, Any]:
    """The trial as a command job's fields: `trial:` plus the sweep's inputs, outputs,
    experiment_name, tags, identity and services (line numbers kept)."""
    if "trial" not in raw:
        raise missing_at(shown, 1, "trial", "trial: required (the command job each trial runs)")
    trial = section(raw, "trial", shown)
    check_known_fields(trial, TRIAL_FIELDS, shown, "sweep trial (command) fields")
    composed = LineMap({"type": "command"})
    composed.lines = {"type": line_of(raw, "type")}
    for key, value in trial.items():
        composed[key] = value
        composed.lines[key] = line_of(trial, key)
    for key in TRIAL_FROM_SWEEP:
        if key in raw:
            composed[key] = raw[key]
            composed.lines[key] = line_of(raw, key)
    if "resources" not in composed and "resources" in raw:
        composed["resources"] = raw["resources"]
        composed.lines["resources"] = line_of(raw, "resources")
    return composed


def _check_search_space_use(spec: SweepSpec) -> None:
    """Every ${{search_space.x}} names a parameter, and every parameter is used (every
    problem at once: UserError for one, Problems for several)."""
    command = str(spec.trial_raw.get("command", ""))
    line = line_of(spec.trial_raw, "command")
    found = Collector()
    used = set()
    for expression in expressions(command):
        match = REFERENCE.fullmatch(expression)
        if match and match.group(1) == "search_space":
            if match.group(2) not in spec.parameters:
                names = ", ".join(spec.parameters) or "none"
                found.add(
                    fail_at(
                        spec.shown_as,
                        line,
                        f"trial command uses ${{{{search_space.{match.group(2)}}}}} but"
                        f" search_space has no {match.group(2)!r} (it has: {names})",
                    )
                )
            used.add(match.group(2))
    for name, parameter in spec.parameters.items():
        if name not in used:
            found.add(
                fail_at(
                    spec.shown_as,
                    parameter.line,
                    f"search_space.{name} is not used by the trial command; add"
                    f" ${{{{search_space.{name}}}}} to trial.command or remove it",
                )
            )
    found.raise_if_any()


def check_sampling(spec: SweepSpec) -> None:
    """Grid sampling takes choice parameters only; bayesian, choice/uniform/quniform
    (every parameter that does not fit is reported)."""
    line = line_of(spec.raw, "sampling_algorithm")
    found = Collector()
    for name, parameter in spec.parameters.items():
        if spec.sampling.type == "grid" and parameter.type != "choice":
            found.add(
                fail_at(
                    spec.shown_as,
                    parameter.line or line,
                    f"grid sampling needs choice parameters; search_space.{name} is"
                    f" {parameter.type} (continuous or drawn): list its values with choice,"
                    " or use random sampling",
                )
            )
        if spec.sampling.type == "bayesian" and parameter.type not in BAYESIAN_TYPES:
            found.add(
                fail_at(
                    spec.shown_as,
                    parameter.line or line,
                    f"bayesian sampling supports choice, uniform and quniform only (Azure ML);"
                    f" search_space.{name} is {parameter.type}",
                )
            )
    found.raise_if_any()


def parse_settings(
    raw: Dict[str, Any], path: Path, shown: str, at: int = 1, found: Optional[Collector] = None
) -> SweepSpec:
    """The sweep settings (search_space, sampling_algorithm, objective, limits,
    early_termination) of a sweep job file or a pipeline's sweep node, checked; the
    trial is the caller's to add; `at`: the line a missing field is told at (a node's).

    Every setting is checked (each stops at its own first problem): the problems go
    into `found` when given (the SweepSpec then holds stand-ins for the bad ones, and
    `complete` is False), else they are raised together (UserError for one, Problems
    for several)."""
    collector = found if found is not None else Collector()
    before = len(collector.problems)
    space = collector.keep(lambda: section(raw, "search_space", shown))
    if space == {}:
        collector.add(fail_at(shown, line_of(raw, "search_space") or at, "search_space: required"))
    parameters: Dict[str, Parameter] = {}
    for name, value in (space or {}).items():
        parameter = collector.keep(
            lambda: _parameter(str(name), value, line_of(space, name), shown)
        )
        if parameter is not None:
            parameters[str(name)] = parameter
    settings_ok = len(collector.problems) == before
    spec = SweepSpec(
        file=path,
        shown_as=shown,
        raw=raw,
        parameters=parameters,
        sampling=collector.keep(lambda: _sampling(raw, shown, at), None) or Sampling("random"),
        objective=collector.keep(lambda: _objective(raw, shown, at)) or Objective("", "maximize"),
        limits=collector.keep(lambda: _limits(raw, shown, at)) or Limits(max_total_trials=1),
        policy=collector.keep(lambda: _policy(raw, shown)),
    )
    spec.complete = settings_ok and len(collector.problems) == before
    spec.space_complete = settings_ok
    if found is None:
        collector.raise_if_any()
    return spec


def parse_sweep(raw: Dict[str, Any], path: Path, shown: str, parse_trial: TrialParser) -> SweepSpec:
    """Check a sweep job file's fields and its trial, read by `parse_trial` (spec/job.py
    parse_job), before any trial starts. Every independent problem is reported at once
    (the sweep's fields, each setting, the search space's use, the trial's own fields):
    UserError (file:line: ...) for one, Problems for several. Checks that depend on a
    part found bad are skipped (a parameter that did not read is not also "unused")."""
    found = Collector()
    found.keep(lambda: check_known_fields(raw, SWEEP_FIELDS, shown, "sweepJob schema"))
    found.keep(lambda: check_names(raw, shown))
    spec = parse_settings(raw, path, shown, found=found)
    trial_raw = found.keep(lambda: _trial_raw(raw, shown))
    if trial_raw is not None:
        spec.trial_raw = trial_raw
        if spec.space_complete:
            found.keep(lambda: _check_search_space_use(spec))
        if spec.complete:
            found.keep(lambda: check_sampling(spec))
        spec.parse_trial = parse_trial
        spec.trial = found.keep(lambda: parse_trial(trial_raw, path, shown, sweep=spec))
    found.raise_if_any()
    return spec


def describe(spec: SweepSpec) -> str:
    """One line: how many trials, sampled how, at most how many at once, the objective."""
    names = ", ".join(spec.parameters)
    how = spec.sampling.type + (" (sobol)" if spec.sampling.rule == "sobol" else "")
    return f"{how} over {names}; objective: {spec.objective.goal} {spec.objective.metric}"
