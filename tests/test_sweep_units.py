"""Sweep rules without processes: Azure ML's distributions, the samplers, the early
termination policies, and the MLflow file store layout amlops writes."""

import math
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import TEMPLATE_PROJECT

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.errors import UserError  # noqa: E402
from amlops.spec.job import load_job  # noqa: E402
from amlops.spec.sweep import Objective, Parameter, Policy  # noqa: E402
from amlops.sweeps.policies import due, stop_reason  # noqa: E402
from amlops.sweeps.sampling import GridSampler, RandomSampler  # noqa: E402
from amlops.tracking.local import docker_options  # noqa: E402
from amlops.tracking.store import FileStore  # noqa: E402

units = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


@given(units)
def test_each_distribution_stays_in_its_azure_ml_range(u):
    assert 0 <= Parameter("r", "randint", {"upper": 5}).from_unit(u) < 5
    assert -2 <= Parameter("u", "uniform", {"min_value": -2, "max_value": 3}).from_unit(u) <= 3
    # loguniform's bounds are exponents: exp(min_value)..exp(max_value)
    value = Parameter("l", "loguniform", {"min_value": -3, "max_value": 0}).from_unit(u)
    assert math.exp(-3) <= value <= 1.0
    q = Parameter("q", "quniform", {"min_value": 0, "max_value": 100, "q": 10}).from_unit(u)
    assert isinstance(q, int) and q % 10 == 0 and 0 <= q <= 100
    qf = Parameter("qf", "quniform", {"min_value": 0, "max_value": 1, "q": 0.1}).from_unit(u)
    assert round(qf * 10) == qf * 10 and len(repr(qf)) <= 4  # 0.3, not 0.30000000000000004
    assert Parameter("n", "lognormal", {"mu": 0, "sigma": 1}).from_unit(u) > 0
    qln = Parameter("m", "qlognormal", {"mu": 2, "sigma": 1, "q": 2}).from_unit(u)
    assert isinstance(qln, int) and qln % 2 == 0
    choice = Parameter("c", "choice", {"values": ["a", "b", "c"]}).from_unit(u)
    assert choice in ("a", "b", "c")


def test_normal_is_centred_on_mu():
    normal = Parameter("n", "normal", {"mu": 10, "sigma": 3})
    assert normal.from_unit(0.5) == pytest.approx(10)
    assert normal.from_unit(0.8413) == pytest.approx(13, abs=0.01)  # one sigma
    assert Parameter("q", "qnormal", {"mu": 10, "sigma": 3, "q": 5}).from_unit(0.5) == 10


def sweep_file(tmp_path: Path, **changes) -> Path:
    job = {
        "type": "sweep",
        "trial": {
            "command": "python t.py --a ${{search_space.a}} --b ${{search_space.b}}",
            "environment": {"image": "python:3.11-slim"},
        },
        "sampling_algorithm": "random",
        "search_space": {
            "a": {"type": "choice", "values": [1, 2, 3]},
            "b": {"type": "uniform", "min_value": 0, "max_value": 1},
        },
        "objective": {"goal": "minimize", "primary_metric": "loss"},
        "limits": {"max_total_trials": 4},
    }
    job.update(changes)
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def test_random_sampling_is_reproducible_with_a_seed_and_grid_is_every_combination(tmp_path):
    seeded = {"type": "random", "seed": 7}
    sweep = load_job(sweep_file(tmp_path, sampling_algorithm=seeded)).sweep
    first = [RandomSampler(sweep).next(n) for n in range(5)]
    assert first == [RandomSampler(sweep).next(n) for n in range(5)]
    space = {
        "a": {"type": "choice", "values": [1, 2]},
        "b": {"type": "choice", "values": ["x", "y"]},
    }
    grid = load_job(sweep_file(tmp_path, sampling_algorithm="grid", search_space=space)).sweep
    sampler = GridSampler(grid)
    combos = [sampler.next(n) for n in range(5)]
    assert combos == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
        None,
    ]


def test_sobol_spreads_the_draws(tmp_path):
    pytest.importorskip("scipy")
    sobol = {"type": "random", "rule": "sobol", "seed": 1}
    sweep = load_job(sweep_file(tmp_path, sampling_algorithm=sobol)).sweep
    sampler = RandomSampler(sweep)
    values = sorted(sampler.next(n)["b"] for n in range(8))
    assert all(b - a < 0.4 for a, b in zip([0.0] + values, values + [1.0]))


def test_trial_command_gets_the_sampled_text(tmp_path):
    sweep = load_job(sweep_file(tmp_path)).sweep
    assert sweep.trial_spec({"a": 2, "b": 0.25}).command == "python t.py --a 2 --b 0.25"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"limits": {}}, "limits.max_total_trials: required"),
        ({"objective": {"goal": "up", "primary_metric": "x"}}, "use maximize or minimize"),
        (
            {
                "sampling_algorithm": "bayesian",
                "search_space": {
                    "a": {"type": "normal", "mu": 0, "sigma": 1},
                    "b": {"type": "choice", "values": [1]},
                },
            },
            "bayesian sampling supports choice, uniform and quniform",
        ),
        ({"early_termination": {"type": "bandit"}}, "give slack_factor or slack_amount"),
        (
            {"early_termination": {"type": "truncation_selection", "truncation_percentage": 120}},
            "1..99",
        ),
        (
            {
                "search_space": {
                    "a": {"type": "randint", "upper": 0},
                    "b": {"type": "choice", "values": [1]},
                }
            },
            "randint upper must be >= 1",
        ),
    ],
)
def test_sweep_file_problems_are_one_line(tmp_path, changes, message):
    with pytest.raises(UserError) as err:
        load_job(sweep_file(tmp_path, **changes))
    assert message in str(err.value) and "\n" not in str(err.value)


MIN = Objective("loss", "minimize")
MAX = Objective("acc", "maximize")


def test_bandit_stops_outside_the_slack_of_the_leader():
    policy = Policy("bandit", slack_factor=0.1)
    histories = {"a": [0.8], "b": [0.7], "c": [0.75]}
    assert stop_reason(policy, MAX, "b", 1, histories)  # 0.7 < 0.8 / 1.1
    assert stop_reason(policy, MAX, "c", 1, histories) is None
    amount = Policy("bandit", slack_amount=0.5)
    assert stop_reason(amount, MIN, "x", 1, {"x": [2.0], "y": [1.0]})
    assert stop_reason(amount, MIN, "x", 1, {"x": [1.4], "y": [1.0]}) is None


def test_median_stopping_compares_with_the_others_running_averages():
    policy = Policy("median_stopping")
    histories = {"a": [1.0, 0.8], "b": [2.0, 1.8], "c": [3.0, 2.9], "d": [3.5, 3.0]}
    assert stop_reason(policy, MIN, "d", 2, histories)  # best 3.0 > median(0.9, 1.9, 2.95)
    assert stop_reason(policy, MIN, "a", 2, histories) is None


def test_truncation_selection_cuts_the_lowest_percentage_at_the_interval():
    policy = Policy("truncation_selection", truncation_percentage=25)
    histories = {"a": [0.9], "b": [0.5], "c": [0.7], "d": [0.8]}
    assert stop_reason(policy, MAX, "b", 1, histories)
    assert all(stop_reason(policy, MAX, n, 1, histories) is None for n in "acd")
    assert stop_reason(policy, MAX, "b", 1, {"b": [0.5], "a": [0.9]}) is None  # 2 * 25% < 1


def test_evaluation_interval_and_delay():
    policy = Policy("bandit", slack_amount=0, evaluation_interval=2, delay_evaluation=3)
    assert [k for k in range(1, 9) if due(policy, k)] == [4, 6, 8]


def test_file_store_layout_is_mlflows(tmp_path):
    store = FileStore(tmp_path / "mlruns")
    experiment = store.experiment_id("demo")
    assert store.experiment_id("demo") == experiment  # found, not created twice
    run = store.create_run(experiment, "20261130-101500-a1b2c3", {"n": "5"}, {"t": "v"})
    store.log_metrics(experiment, run, {"loss": 0.5})
    store.finish_run(experiment, run, "FAILED")
    meta = yaml.safe_load((tmp_path / "mlruns" / experiment / run / "meta.yaml").read_text())
    assert meta["status"] == 4 and meta["run_name"] == "20261130-101500-a1b2c3"
    data = store.run_data(experiment, run)
    assert data.params == {"n": "5"} and data.metrics == {"loss": 0.5}
    assert data.tags["mlflow.runName"] == "20261130-101500-a1b2c3" and data.status == "FAILED"
    assert (tmp_path / "mlruns" / "0" / "meta.yaml").is_file()  # MLflow's Default experiment


def test_docker_reaches_the_store_and_a_localhost_server():
    env = {"MLFLOW_TRACKING_URI": "file:///tmp/amlops-unit/mlruns"}
    assert docker_options(env, []) == [
        "--mount",
        "type=bind,source=/tmp/amlops-unit/mlruns,target=/tmp/amlops-unit/mlruns",
    ]
    server = {"MLFLOW_TRACKING_URI": "http://localhost:5077"}
    assert docker_options(server, ["docker", "run"]) == ["--network", "host"]
    assert docker_options(server, ["--network=bridge"]) == []
    assert docker_options({"MLFLOW_TRACKING_URI": "https://mlflow.example.com"}, []) == []
