"""The values of each trial, by the sweep's sampling_algorithm.

- random: each parameter drawn independently (Python's `random`, seeded by `seed`);
  `rule: sobol` spreads the draws with a scrambled Sobol sequence (SciPy's
  scipy.stats.qmc, present wherever scikit-learn is), mapped through each
  distribution's inverse CDF;
- grid: every combination of the choice values, in file order (Azure ML allows
  grid over choice parameters only: spec/sweep.py refuses others);
- bayesian: Azure ML's Bayesian optimisation runs only in the service; locally
  Optuna's TPE sampler (optuna.samplers.TPESampler) stands in, told each finished
  trial's objective."""

import itertools
import random
from typing import Any, Dict, Iterator, Optional

from amlops.errors import UserError
from amlops.spec.sweep import SweepSpec, _quantize

Values = Dict[str, Any]


class Sampler:
    """next(): the next trial's values (None once a grid is exhausted); tell(): a
    finished trial's objective (None when it logged none)."""

    notice = ""

    def next(self, number: int) -> Optional[Values]:
        raise NotImplementedError

    def tell(self, number: int, objective: Optional[float]) -> None:
        """Bayesian sampling learns from it; the others ignore it."""


class RandomSampler(Sampler):
    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.sampling.seed)
        self.sobol: Any = None
        if spec.sampling.rule == "sobol":
            try:
                from scipy.stats import qmc
            except ImportError:
                self.notice = (
                    "rule: sobol needs SciPy on the host (pip install scipy); drawing plain"
                    " random values instead"
                )
            else:
                dims = len(spec.parameters)
                self.sobol = qmc.Sobol(d=dims, scramble=True, seed=spec.sampling.seed)

    def next(self, number: int) -> Optional[Values]:
        names = list(self.spec.parameters)
        if self.sobol is not None:
            units = [float(u) for u in self.sobol.random(1)[0]]
        else:
            units = [self.rng.random() for _ in names]
        return {n: self.spec.parameters[n].from_unit(u) for n, u in zip(names, units)}


class GridSampler(Sampler):
    def __init__(self, spec: SweepSpec) -> None:
        names = list(spec.parameters)
        combos = itertools.product(*(spec.parameters[n].values for n in names))
        self._combos: Iterator[Values] = (dict(zip(names, combo)) for combo in combos)

    def next(self, number: int) -> Optional[Values]:
        return next(self._combos, None)


class BayesianSampler(Sampler):
    notice = (
        "sampling_algorithm bayesian: Azure ML's Bayesian optimisation runs only in the"
        " service; locally Optuna's TPE sampler stands in"
    )

    def __init__(self, spec: SweepSpec) -> None:
        try:
            import optuna
        except ImportError:
            raise UserError(
                f"{spec.shown_as}: sampling_algorithm bayesian runs locally with Optuna's TPE"
                " sampler: pip install optuna (make setup installs it), or sample random"
            ) from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.spec = spec
        direction = "maximize" if spec.objective.goal == "maximize" else "minimize"
        sampler = optuna.samplers.TPESampler(seed=spec.sampling.seed)
        self.study = optuna.create_study(direction=direction, sampler=sampler)
        self.trials: Dict[int, Any] = {}

    def _distribution(self, name: str) -> Any:
        parameter = self.spec.parameters[name]
        dists = self.optuna.distributions
        if parameter.type == "choice":
            return dists.CategoricalDistribution(parameter.values)
        a = parameter.args
        return dists.FloatDistribution(float(a["min_value"]), float(a["max_value"]))

    def next(self, number: int) -> Optional[Values]:
        trial = self.study.ask({n: self._distribution(n) for n in self.spec.parameters})
        self.trials[number] = trial
        values: Values = {}
        for name, parameter in self.spec.parameters.items():
            value = trial.params[name]
            if parameter.type == "quniform":
                value = _quantize(value, parameter.args["q"])
            values[name] = value
        return values

    def tell(self, number: int, objective: Optional[float]) -> None:
        trial = self.trials.pop(number, None)
        if trial is None:
            return
        if objective is None:
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, objective)


def sampler_for(spec: SweepSpec) -> Sampler:
    """The sampler of the sweep's sampling_algorithm (see the module docstring)."""
    kind = spec.sampling.type
    if kind == "grid":
        return GridSampler(spec)
    if kind == "bayesian":
        return BayesianSampler(spec)
    return RandomSampler(spec)
