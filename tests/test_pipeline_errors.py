"""Bad pipeline files: one line naming the file, line and step; nothing runs."""

import pytest

from tests.helpers import Baked, default_project, error_lines
from tests.pipelines import write_pipeline

GOOD = """inputs:
  raw:
    type: uri_folder
    path: ../data/wine
jobs:
  prep:
    experiment: prepare
    inputs:
      data: ${{parent.inputs.raw}}
  fit:
    experiment: train
    inputs:
      data: ${{parent.jobs.prep.outputs.prepared}}
      n_estimators: 5
"""
PREP_INPUT = "data: ${{parent.inputs.raw}}"
FIT_INPUT = "data: ${{parent.jobs.prep.outputs.prepared}}"

CASES = {
    "cycle": (
        (PREP_INPUT, "data: ${{parent.jobs.fit.outputs.model}}"),
        "bad.yaml:6: step 'prep': cycle prep -> fit -> prep",
    ),
    "unknown step": (
        (FIT_INPUT, "data: ${{parent.jobs.prepp.outputs.prepared}}"),
        "bad.yaml:13: step 'fit' input 'data': unknown step 'prepp' (steps: prep, fit)",
    ),
    "unknown output": (
        (FIT_INPUT, "data: ${{parent.jobs.prep.outputs.cleaned}}"),
        "step 'prep' (experiment 'prepare') has no output 'cleaned' (outputs: prepared)",
    ),
    "unknown experiment": (
        ("experiment: prepare", "experiment: prepar"),
        "bad.yaml:7: step 'prep': unknown experiment 'prepar'",
    ),
    "required input unbound": (
        ("jobs:\n", "jobs:\n  lonely:\n    experiment: needs\n"),
        "bad.yaml:6: step 'lonely': required input 'data' (uri_folder) is not bound",
    ),
    "unknown step input": (
        ("n_estimators: 5", "trees: 5"),
        "bad.yaml:14: step 'fit': experiment 'train' has no input 'trees'",
    ),
    "literal into a path input": (
        (FIT_INPUT, "data: 5"),
        "step 'fit' input 'data' (uri_folder): type mismatch, got the literal 5",
    ),
    "wrong literal type": (
        ("n_estimators: 5", "n_estimators: many"),
        "step 'fit' input 'n_estimators' (integer): type mismatch, got 'many'",
    ),
    "unknown expression": (
        (FIT_INPUT, "data: ${{parent.outputs.prepared}}"),
        "step 'fit' input 'data': cannot bind to '${{parent.outputs.prepared}}'",
    ),
    "misspelt step field": (
        ("experiment: train", "experment: train"),
        "bad.yaml:11: unknown field 'experment' (did you mean 'experiment'?)",
    ),
    "bad step name": (
        ("  fit:", "  Fit-Step:"),
        "bad.yaml:10: node name 'Fit-Step'",
    ),
    "broken job.yaml of a step": (
        ("jobs:\n", "jobs:\n  broken:\n    experiment: typo\n"),
        "bad.yaml:6: step 'broken': src/typo/job.yaml:18: unknown field 'comptue'",
    ),
    "missing data of an unbound input": (
        ("jobs:\n", "jobs:\n  lonely:\n    experiment: absent\n"),
        "bad.yaml: step 'lonely': src/absent/job.yaml:20: input 'data': no local data at"
        " data/nope (its local path:); create it, or bind the input under jobs.lonely.inputs",
    ),
    "missing pipeline data": (
        ("path: ../data/wine", "path: ../data/absent"),
        "bad.yaml:2: input 'raw': no local data at data/absent",
    ),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Baked:
    baked = Baked(default_project(tmp_path_factory.mktemp("pipe-errors")), env={"RUNTIME": "venv"})
    assert baked.make("new-exp", EXP="needs").returncode == 0
    baked.edit("src/needs/job.yaml", "    path: ../../data/wine\n", "")
    assert baked.make("new-exp", EXP="typo").returncode == 0
    baked.edit("src/typo/job.yaml", "compute: azureml:", "comptue: azureml:")
    assert baked.make("new-exp", EXP="absent").returncode == 0
    baked.edit("src/absent/job.yaml", "path: ../../data/wine", "path: ../../data/nope")
    return baked


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_pipeline_is_one_line_before_anything_runs(project, case):
    (old, new), expected = CASES[case]
    assert old in GOOD or old in ("jobs:\n",)
    write_pipeline(project, "bad", GOOD.replace(old, new, 1))
    for target in ("pipeline-local", "pipeline-graph"):
        result = project.make(target, PIPELINE="bad")
        if case.startswith("missing") and target == "pipeline-graph":
            assert result.returncode == 0, result.stderr  # drawing needs no data
            continue
        assert result.returncode == 2, result.stdout + result.stderr
        errors = error_lines(result.stderr)
        assert len(errors) == 1, result.stderr
        assert errors[0].startswith("error: pipelines/bad.yaml:"), errors[0]
        assert expected in errors[0]
        assert "Traceback" not in result.stderr
    assert not (project.path / ".runs" / "pipelines").exists(), "nothing may run"


def test_the_good_pipeline_passes_the_same_checks(project):
    write_pipeline(project, "bad", GOOD)
    graph = project.make("pipeline-graph", PIPELINE="bad", FORMAT="mermaid")
    assert graph.returncode == 0, graph.stderr
    assert 'step_prep -- "prepared → data" --> step_fit' in graph.stdout


def test_pipeline_choice_errors(project):
    write_pipeline(project, "bad", GOOD)
    several = project.make("pipeline-graph")
    assert "several pipelines (bad, training): pick one with PIPELINE=name" in several.stderr
    unknown = project.make("pipeline-local", PIPELINE="nope")
    assert (
        "unknown pipeline 'nope': no pipelines/nope.yaml, .yml, .py or pipelines/nope/ with one"
        " pipeline (pipelines: bad, training)" in unknown.stderr
    )
    a_path = project.make("pipeline-local", PIPELINE="/tmp/mine/pipeline.yml")
    (line,) = error_lines(a_path.stderr)
    assert line == (
        "error: PIPELINE='/tmp/mine/pipeline.yml': PIPELINE takes a pipeline's name, not a"
        " path: put the file (and its components) in pipelines/<name>.yml or"
        " pipelines/<name>/, then PIPELINE=<name> (pipelines: bad, training)"
    ), line
    no_step = project.make("step-local", PIPELINE="bad", STEP="nope")
    assert "pipelines/bad.yaml: no step 'nope' (steps: prep, fit)" in no_step.stderr


def test_a_step_without_pipeline_picks_the_one_pipeline_that_has_it(project):
    write_pipeline(project, "bad", GOOD)  # steps prep, fit; training: prepare, train
    picked = project.make("step-local", STEP="fit")
    assert "STEP=fit: pipeline bad (the only one with that step; PIPELINE= picks one)" in (
        picked.stderr
    )
    assert "no pipeline-local run of pipelines/bad.yaml has it yet" in picked.stderr
    missing = project.make("step-local", STEP="nope")
    (line,) = error_lines(missing.stderr)
    assert line.startswith("error: STEP=nope: no pipeline has a step 'nope' (pipelines: bad,")
    write_pipeline(project, "twin", GOOD)
    try:
        twice = project.make("step-local", STEP="fit")
        (line,) = error_lines(twice.stderr)
        assert line == (
            "error: STEP=fit: several pipelines have a step 'fit' (bad, twin): pick one with"
            " PIPELINE=name"
        )
    finally:
        (project.path / "pipelines" / "twin.yaml").unlink()


def test_a_yml_pipeline_is_a_pipeline_like_a_yml_job(project):
    """pipelines/<name>.yml is found as Azure ML's CLI would take it (it was silently
    ignored); the same name as .yaml and .yml is one line, not a guess."""
    write_pipeline(project, "other", GOOD)
    (project.path / "pipelines" / "other.yaml").rename(project.path / "pipelines" / "other.yml")
    graph = project.make("pipeline-graph", PIPELINE="other", FORMAT="mermaid")
    assert graph.returncode == 0, graph.stderr
    assert "step_prep" in graph.stdout
    validated = project.make("validate", OFFLINE="1")
    assert "ok pipelines/other.yml" in validated.stderr, validated.stderr
    listed = project.make("pipeline-graph")
    assert "several pipelines (" in listed.stderr and "other, training)" in listed.stderr
    write_pipeline(project, "other", GOOD)
    both = project.make("pipeline-graph", PIPELINE="other")
    assert both.returncode == 2
    assert (
        "pipelines/other.yaml and pipelines/other.yml are both pipeline 'other': rename one"
        in both.stderr
    )
    for name in ("other.yaml", "other.yml"):
        (project.path / "pipelines" / name).unlink()
