"""Every problem of a file is reported in one run, not one per run (issue 24.2): the
readers of command jobs, sweeps, pipelines, endpoints and deployments collect their
per-field checks (spec/checks.py Collector), and make validate, make local and
DRY_RUN print each problem as its own `error:` line."""

import sys

import pytest

from tests.helpers import TEMPLATE_PROJECT, error_lines

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.errors import Problems, UserError, problems_of  # noqa: E402
from amlops.project import Project  # noqa: E402
from amlops.spec.checks import check_known_fields  # noqa: E402
from amlops.spec.job import load_job  # noqa: E402
from amlops.spec.pipeline_loader import load_pipeline_file  # noqa: E402
from amlops.yamlfile import load_yaml  # noqa: E402

# Three distinct problems, as a user would make them: a misspelt field, a misspelt input
# type, a command naming an input the file does not declare.
THREE = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: python run.py --data ${{inputs.data}} --n ${{inputs.trees}}
code: .
environment:
  image: python:3.11-slim
comptue: azureml:cpu
inputs:
  data:
    type: uri_fldr
    path: ../../data/wine
"""
EXPECTED = [
    "src/three/job.yaml:6: unknown field 'comptue' (did you mean 'compute'?)",
    "src/three/job.yaml:8: input 'data': unknown type 'uri_fldr'",
    "src/three/job.yaml:2: command uses ${{inputs.trees}} but inputs declares no 'trees'",
]


def _problems(call) -> list:
    with pytest.raises(UserError) as caught:
        call()
    return problems_of(caught.value)


def _assert_all_three(lines):
    assert len(lines) == 3, lines
    for line, expected in zip(lines, EXPECTED):
        assert expected in line, lines


def test_a_job_file_with_three_problems_reports_all_three(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(THREE)
    _assert_all_three(_problems(lambda: load_job(path, "src/three/job.yaml")))


def test_one_problem_is_still_a_plain_one_line_error(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(THREE.replace("comptue", "compute").replace("uri_fldr", "uri_folder"))
    with pytest.raises(UserError) as caught:
        load_job(path, "src/three/job.yaml")
    assert not isinstance(caught.value, Problems)
    assert "declares no 'trees'" in str(caught.value)


def test_a_reference_in_a_block_command_is_told_at_its_own_line(tmp_path):
    """A command written as a block scalar (Azure's examples: `command: >-`) spans lines:
    the undeclared input is named on the line that writes it (new-user trial: line 3,
    the `command:` key, for a placeholder on line 5)."""
    path = tmp_path / "job.yml"
    path.write_text(
        "code: .\nenvironment:\n  image: python:3.11-slim\ncommand: >-\n  python main.py\n"
        "  --data ${{inputs.data}}\n  --c ${{ inputs.C }}\ninputs:\n  data: 1\n"
    )
    assert _problems(lambda: load_job(path, "job.yml")) == [
        "job.yml:7: command uses ${{inputs.C}} but inputs declares no 'C' (declared: data);"
        " add it under inputs:"
    ]


def test_every_unknown_field_of_a_mapping_is_reported(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("a: 1\ncomand: x\nenviroment: y\n")
    raw = load_yaml(path, "x.yaml")
    problems = _problems(
        lambda: check_known_fields(raw, {"a", "command", "environment"}, "x.yaml", "s")
    )
    assert problems == [
        "x.yaml:2: unknown field 'comand' (did you mean 'command'?)",
        "x.yaml:3: unknown field 'enviroment' (did you mean 'environment'?)",
    ]


def test_a_broken_input_is_not_also_called_undeclared(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(THREE.replace("--n ${{inputs.trees}}", ""))
    problems = _problems(lambda: load_job(path, "src/three/job.yaml"))
    assert len(problems) == 2 and not any("declares no" in p for p in problems), problems


# Each node's reading and binding stops at its first problem; every node is reported.
PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
jobs:
  fit:
    type: command
    command: python fit.py --out ${{outputs.model}}
    environment:
      image: python:3.11-slim
    outputs:
      model:
        type: uri_folder
        mode: rw_mnt
  score:
    type: command
    command: python score.py ${{inputs.n}} ${{inputs.rate}}
    environment:
      image: python:3.11-slim
    comptue: azureml:cpu
  report:
    type: command
    command: python report.py
    environment:
      image: python:3.11-slim
    outputs:
      table:
        type: uri_fldr
"""


def test_a_pipeline_reports_every_bad_node_at_once(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "config.env").write_text("")
    (tmp_path / "pipelines").mkdir()
    path = tmp_path / "pipelines" / "p.yaml"
    path.write_text(PIPELINE)
    problems = _problems(lambda: load_pipeline_file(Project(tmp_path), path))
    assert len(problems) == 2, problems
    assert problems[0].startswith("pipelines/p.yaml:10: output 'model': unknown mode 'rw_mnt'")
    assert problems[1].startswith("pipelines/p.yaml:25: output 'table': unknown type 'uri_fldr'")


def test_an_inline_command_node_reports_all_its_problems_naming_the_node(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "config.env").write_text("")
    (tmp_path / "pipelines").mkdir()
    path = tmp_path / "pipelines" / "p.yaml"
    path.write_text(PIPELINE.replace("rw_mnt", "rw_mount").replace("uri_fldr", "uri_folder"))
    problems = _problems(lambda: load_pipeline_file(Project(tmp_path), path))
    assert len(problems) == 3, problems
    assert all(p.endswith("(node 'score')") for p in problems), problems
    assert problems[0].startswith("pipelines/p.yaml:18: unknown field 'comptue'")
    assert "declares no 'n'" in problems[1] and "declares no 'rate'" in problems[2]


@pytest.fixture
def three(baked):
    folder = baked.path / "src" / "three"
    folder.mkdir()
    (folder / "job.yaml").write_text(THREE)
    (folder / "run.py").write_text("print('never runs')\n")
    return baked


def test_make_local_and_dry_run_print_every_problem_and_fail(three):
    for target, variables in (("local", {"RUNTIME": "venv"}), ("job", {"DRY_RUN": "1"})):
        result = three.make(target, EXP="three", **variables)
        assert result.returncode != 0, result.stderr
        assert "Traceback" not in result.stderr
        _assert_all_three(error_lines(result.stderr))
    assert three.run_dirs("three") == []


def test_make_validate_lists_every_problem_of_the_file(three, tmp_path):
    pytest.importorskip("azure.ai.ml")
    from tests.cloud_support import cloud_make

    result, _ = cloud_make(three, tmp_path, "validate", OFFLINE="1")
    assert result.returncode != 0
    lines = error_lines(result.stderr)
    assert lines[-1] == "error: validate: 3 problem(s)", result.stderr
    _assert_all_three(lines[:-1])


# One file per kind, each with three independent faults: every one is reported in one run.
SWEEP = """\
$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
type: sweep
trial:
  command: python -c "print(${{search_space.lr}})"
  environment:
    image: python:3.11-slim
sampling_algorithm: randm
search_space:
  lr:
    type: uniform
    min_value: 0.1
    max_value: 0.5
objective:
  primary_metric: accuracy
  goal: maximise
limits:
  max_total_trials: 0
"""
SWEEP_EXPECTED = [
    "src/sweepy/job.yaml:7: sampling_algorithm 'randm': use random, grid or bayesian",
    "src/sweepy/job.yaml:13: objective.goal 'maximise': use maximize or minimize",
    "src/sweepy/job.yaml:17: limits.max_total_trials must be a whole number >= 1",
]
PIPELINE_OWN = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
dispaly_name: three faults
settings:
  force_rerun: maybe
outputs:
  model:
    type: uri_folder
jobs:
  fit:
    type: command
    command: python -c "print(1)"
    environment:
      image: python:3.11-slim
"""
PIPELINE_EXPECTED = [
    "pipelines/p.yaml:3: unknown field 'dispaly_name' (did you mean 'display_name'?)",
    "pipelines/p.yaml:5: force_rerun: true or false",
    "pipelines/p.yaml:7: pipeline output 'model': no node binds an output to",
]
ENDPOINT = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: 1bad
auth_mode: password
mirror_traffic:
  blue: 60
"""
ENDPOINT_EXPECTED = [
    "endpoints/ep/endpoint.yml:2: name: endpoint name '1bad' is not valid",
    "endpoints/ep/endpoint.yml:3: auth_mode: 'password' is not accepted here",
    "endpoints/ep/endpoint.yml:4: mirror_traffic: percentages must sum to 50 or less",
]
DEPLOYMENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: ep
instance_type: Standard_DS3_v2
instance_count: 0
app_insights_enabled: sometimes
request_settings:
  request_timeout_ms: 0
"""
DEPLOYMENT_EXPECTED = [
    "endpoints/ep/blue.yml:5: instance_count: must be a whole number >= 1",
    "endpoints/ep/blue.yml:6: app_insights_enabled: true/false",
    "endpoints/ep/blue.yml:8: request_settings.request_timeout_ms",
]


def _in_order(lines, expected):
    assert len(lines) == len(expected), lines
    for line, wanted in zip(lines, expected):
        assert wanted in line, lines


def test_a_sweep_file_reports_every_faulty_setting(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(SWEEP)
    _in_order(_problems(lambda: load_job(path, "src/sweepy/job.yaml")), SWEEP_EXPECTED)


def test_a_bad_search_space_entry_is_not_also_called_unused(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(SWEEP.replace("type: uniform", "type: unifrom"))
    problems = _problems(lambda: load_job(path, "src/sweepy/job.yaml"))
    assert len(problems) == 4 and "unknown distribution 'unifrom'" in problems[0], problems
    assert not any("not used" in p or "has no 'lr'" in p for p in problems), problems


def _pipeline_project(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "config.env").write_text("")
    (tmp_path / "pipelines").mkdir()
    path = tmp_path / "pipelines" / "p.yaml"
    path.write_text(PIPELINE_OWN)
    return path


def test_a_pipeline_reports_every_fault_of_its_own_fields_settings_and_outputs(tmp_path):
    path = _pipeline_project(tmp_path)
    problems = _problems(lambda: load_pipeline_file(Project(tmp_path), path))
    _in_order(problems, PIPELINE_EXPECTED)


def _endpoint_folder(root):
    folder = root / "endpoints" / "ep"
    folder.mkdir(parents=True)
    (folder / "endpoint.yml").write_text(ENDPOINT)
    (folder / "blue.yml").write_text(DEPLOYMENT)
    return folder


def test_endpoint_and_deployment_files_report_every_fault_of_each(tmp_path):
    from amlops.spec.endpoints import load_endpoint_folder

    folder = _endpoint_folder(tmp_path)
    problems = _problems(lambda: load_endpoint_folder(folder, tmp_path))
    _in_order(problems, DEPLOYMENT_EXPECTED + ENDPOINT_EXPECTED)  # files in name order


def test_make_validate_reports_every_fault_of_a_sweep_a_pipeline_and_an_endpoint(baked, tmp_path):
    pytest.importorskip("azure.ai.ml")
    from tests.cloud_support import cloud_make

    (baked.path / "src" / "sweepy").mkdir()
    (baked.path / "src" / "sweepy" / "job.yaml").write_text(SWEEP)
    (baked.path / "pipelines" / "p.yaml").write_text(PIPELINE_OWN)
    _endpoint_folder(baked.path)
    result, _ = cloud_make(baked, tmp_path, "validate", OFFLINE="1")
    assert result.returncode != 0
    lines = error_lines(result.stderr)
    assert "Traceback" not in result.stderr
    for expected in (SWEEP_EXPECTED, PIPELINE_EXPECTED, ENDPOINT_EXPECTED, DEPLOYMENT_EXPECTED):
        for wanted in expected:
            assert sum(wanted in line for line in lines) == 1, (wanted, lines)
    local = baked.make("local", EXP="sweepy", RUNTIME="venv")
    assert local.returncode != 0
    _in_order(error_lines(local.stderr), SWEEP_EXPECTED)
