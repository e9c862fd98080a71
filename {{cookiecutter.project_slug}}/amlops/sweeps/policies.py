"""Early termination of trials on the intermediate values of the primary metric.

An interval is one logged value of the primary metric (Azure ML: "each time the
training script logs the primary metric counts as one interval"). A policy is
applied at interval k of a trial when k is a multiple of evaluation_interval and
k >= delay_evaluation, comparing with every other trial that has reached
interval k (running or ended). The rules, from how-to-tune-hyperparameters:
- bandit: stop when the trial's best value up to k is outside the slack of the
  best value any trial had up to k: for maximize, below best / (1 + slack_factor)
  or below best - slack_amount; for minimize, above best * (1 + slack_factor) or
  above best + slack_amount;
- median_stopping: stop when the trial's best value up to k is worse than the
  median of the other trials' running averages over intervals 1..k;
- truncation_selection: stop when the trial's value at k is among the lowest
  truncation_percentage percent of all trials' values at k (the count cut is
  rounded down, so at least 100/truncation_percentage trials must be there)."""

import math
import statistics
from typing import Dict, List, Optional

from amlops.spec.sweep import Objective, Policy

History = List[float]


def _best(objective: Objective, values: History) -> float:
    return objective.best(values)


def _worse(objective: Objective, a: float, b: float) -> bool:
    """Whether `a` is strictly worse than `b`."""
    return objective.better(b, a)


def due(policy: Policy, interval: int) -> bool:
    """Whether the policy is applied at this interval (1-based)."""
    return interval % policy.evaluation_interval == 0 and interval >= policy.delay_evaluation


def stop_reason(
    policy: Policy,
    objective: Objective,
    trial: str,
    interval: int,
    histories: Dict[str, History],
) -> Optional[str]:
    """Why `trial` should stop at `interval` (its histories[trial] has at least that many
    values), or None. `histories` holds every trial's logged values, in order."""
    own = histories[trial][:interval]
    reached = {name: h[:interval] for name, h in histories.items() if len(h) >= interval}
    if policy.type == "bandit":
        leader = objective.best([_best(objective, h) for h in reached.values()])
        mine = _best(objective, own)
        maximize = objective.goal == "maximize"
        if policy.slack_factor is not None:
            if maximize:
                limit = leader / (1 + policy.slack_factor)
            else:
                limit = leader * (1 + policy.slack_factor)
            if _worse(objective, mine, limit):
                return f"bandit: best {mine:.4g} outside slack_factor of leader {leader:.4g}"
        if policy.slack_amount is not None:
            limit = leader - policy.slack_amount if maximize else leader + policy.slack_amount
            if _worse(objective, mine, limit):
                return f"bandit: best {mine:.4g} outside slack_amount of leader {leader:.4g}"
        return None
    if policy.type == "median_stopping":
        others = [statistics.fmean(h) for name, h in reached.items() if name != trial]
        if not others:
            return None
        median = statistics.median(others)
        mine = _best(objective, own)
        if _worse(objective, mine, median):
            return f"median_stopping: best {mine:.4g} worse than median average {median:.4g}"
        return None
    if policy.type == "truncation_selection":
        cut = math.floor(len(reached) * policy.truncation_percentage / 100)
        if cut < 1:
            return None
        ranked = sorted(reached, key=lambda n: reached[n][-1], reverse=objective.goal != "maximize")
        # ranked from worst to best
        if trial in ranked[:cut]:
            return (
                f"truncation_selection: value {own[-1]:.4g} in the lowest"
                f" {policy.truncation_percentage}% at interval {interval}"
            )
    return None
