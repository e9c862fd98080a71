"""Units of the cloud translation that need neither Azure nor the SDK."""

import json
import sys

import pytest

from tests.helpers import TEMPLATE_PROJECT

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.cloud.native import job_compute  # noqa: E402
from amlops.cloud.pipeline_jobs import pipeline_job  # noqa: E402
from amlops.cloud.sdk import _service_message, sdk_problems  # noqa: E402
from amlops.cloud.submission import Submission  # noqa: E402
from amlops.cloud.validate import Report  # noqa: E402
from amlops.console import one_line  # noqa: E402
from amlops.errors import UserError  # noqa: E402
from amlops.project import Project  # noqa: E402
from amlops.spec.job import load_job  # noqa: E402
from amlops.spec.pipeline_loader import load_pipeline  # noqa: E402
from amlops.yamlfile import literal_value  # noqa: E402
from amlops.yamlfile import load_yaml  # noqa: E402

NESTED = (
    'Validation for CommandSchema failed:\n\n {\n  "result": "Failed",\n  "errors": [\n'
    '    {\n      "message": "Validation for CommandJobSchema failed:\\n\\n {\\n'
    '  \\"resources\\": {\\n    \\"instance_count\\": [\\n'
    '      \\"Not a valid integer.\\"\\n    ]\\n  }\\n} \\n\\n If you are trying...",\n'
    '      "path": "*",\n      "value": null,\n      "location": "job.yaml"\n    }\n'
    "  ]\n} \n\n If you are trying to configure an entity..."
)


@pytest.mark.parametrize(
    "text,value", [("5", 5), ("0.5", 0.5), ("true", True), ("abc", "abc"), ("[1, 2]", "[1, 2]")]
)
def test_inputs_literals_are_typed_like_yaml(text, value):
    assert literal_value(text) == value and type(literal_value(text)) is type(value)


def test_nested_sdk_messages_become_one_line_per_problem_with_the_line(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("type: command\nresources:\n  instance_count: many\n")
    raw = load_yaml(job)
    assert sdk_problems(NESTED, "src/x/job.yaml", raw) == [
        "src/x/job.yaml:3: resources.instance_count: Not a valid integer."
    ]
    assert sdk_problems("plain\nfailure", "f.yaml") == ["f.yaml: plain failure"]


def test_a_field_the_sdk_refuses_in_every_form_is_one_line(tmp_path):
    """The SDK's union fields: one message per form tried, under one path; the first
    stands for them (sdk_problems), with a count of the rest."""
    forms = ["Can't find directory or file: /x.", "Not a valid URL.", "Not a valid URL."]
    forms.append("In order to specify a git path,\n\nplease prefix 'git+'")
    errors = [{"path": "code._schema", "message": m, "location": "f.yml#line 9"} for m in forms]
    errors.append({"path": "compute", "message": "Not a string.", "location": "f.yml#line 4"})
    problems = sdk_problems(json.dumps({"errors": errors}), "f.yml")
    assert problems == [
        "f.yml:9: code._schema: Can't find directory or file: /x. (nor is it any of the 2"
        " other forms code: takes)",
        "f.yml:4: compute: Not a string.",
    ]


def test_compute_comes_from_compute_then_job_file_then_config_else_serverless(baked, monkeypatch):
    spec = load_job(baked.path / "src/train/job.yaml")
    monkeypatch.delenv("COMPUTE", raising=False)
    assert job_compute(Project(baked.path), spec) == "azureml:cpu-cluster"
    del spec.raw["compute"]
    monkeypatch.setenv("AML_COMPUTE", "from-config")
    assert job_compute(Project(baked.path), spec) == "azureml:from-config"
    monkeypatch.setenv("COMPUTE", "azureml:gpu")
    assert job_compute(Project(baked.path), spec) == "azureml:gpu"
    monkeypatch.delenv("COMPUTE")
    monkeypatch.setenv("AML_COMPUTE", "")
    assert job_compute(Project(baked.path), spec) is None  # serverless


def test_two_pipeline_outputs_cannot_take_the_same_step_output(baked, tmp_path):
    baked.edit(
        "pipelines/training.yaml",
        "  model: ${{parent.jobs.train.outputs.model}}",
        "  model: ${{parent.jobs.train.outputs.model}}\n"
        "  again: ${{parent.jobs.train.outputs.model}}",
    )
    project = Project(baked.path)
    spec = load_pipeline(project, "training")
    sub = Submission(project, "pipelines", "training", folder=tmp_path / "sub")
    with pytest.raises(UserError, match="'model' and 'again' both take step 'train' output"):
        pipeline_job(project, spec, sub, {}, {})


def test_references_to_check_in_the_workspace():
    report = Report()
    native = {
        "settings": {"default_compute": "azureml:cpu"},
        "inputs": {"a": {"type": "uri_folder", "path": "azureml:wine@latest"}},
        "jobs": {
            "s": {
                "compute": "azureml:gpu",
                "environment": "azureml:sklearn:3",
                "inputs": {"b": {"type": "uri_file", "path": "azureml://datastores/x/paths/y"}},
            }
        },
    }
    report.note_references(native, "p.yaml")
    assert set(report.references) == {
        ("compute", "cpu", ""),
        ("compute", "gpu", ""),
        ("data", "wine", "latest"),
        ("environment", "sklearn", "3"),
    }


def test_a_long_azure_message_is_cut_at_a_word_and_marked():
    """Azure's messages can run to pages: one line of at most 300 characters plus '...',
    cut between words (it was cut mid-word, unmarked: new-user trial)."""

    class Error:
        message = "The compute  cluster\n'gpu-cluster' " + "was not found in the workspace " * 20

    class HttpError(Exception):
        error = Error()

    said = _service_message(HttpError("ignored"))
    assert said.endswith("...") and len(said) <= 303
    assert said.startswith("The compute cluster 'gpu-cluster' was not found")
    kept = said[: -len("...")]
    assert Error.message.split()[: len(kept.split())] == kept.split(), "a word was cut"
    assert _service_message(ValueError("Quota  exceeded\n")) == "Quota exceeded"
    token = "https://x/" + "a" * 400
    assert one_line(token) == token[:300] + "..."
