"""The pre-gen hook refuses bad answers; hostile free text still bakes a valid project."""

import tomllib

import pytest
import yaml

from tests.helpers import Baked, bake, bake_cli

BAD_ANSWERS = [
    ("project_slug", "My Project"),
    ("project_slug", "-leading-dash"),
    ("first_experiment", "Train"),
    ("first_experiment", "my-exp"),
    ("first_experiment", "1st"),
    ("first_experiment", "a" * 41),
    ("first_experiment", "prepare"),  # the sample pipeline's data step
    ("first_experiment", "common"),
    ("azure_subscription_id", "not-a-guid"),
    ("azure_resource_group", "ends-with-period."),
    ("azure_workspace", "x"),
    ("default_compute", "cpu cluster"),
]


@pytest.mark.parametrize("key,value", BAD_ANSWERS)
def test_bad_answer_is_refused_with_one_line(tmp_path, key, value):
    result = bake_cli(tmp_path, **{key: value})
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: invalid")]
    assert len(errors) == 1, result.stderr
    assert key in errors[0] and repr(value) in errors[0]
    assert not any(tmp_path.iterdir()), "a refused bake must leave no project behind"


def test_good_azure_answers_are_accepted(tmp_path):
    project = bake(
        tmp_path,
        azure_subscription_id="0b2e4c8a-1234-4cde-9abc-0123456789ab",
        azure_resource_group="rg-ml_(prod).eu",
        azure_workspace="ws-ml_01",
        default_compute="gpu-a100",
    )
    config = (project / "config.env").read_text()
    assert "AZURE_SUBSCRIPTION_ID=0b2e4c8a-1234-4cde-9abc-0123456789ab\n" in config
    assert "AZURE_RESOURCE_GROUP=rg-ml_(prod).eu\n" in config
    # the answer names the compute of the sample job files and of make new-exp's;
    # no project-wide compute is set, so a job without one stays serverless
    assert "EXPERIMENT_COMPUTE=gpu-a100\n" in config and "AML_COMPUTE=\n" in config
    assert "compute: azureml:gpu-a100\n" in (project / "src/train/job.yaml").read_text()


HOSTILE = [
    'He said "hi"',
    "O'Brien's \"quoted\" project",
    "back\\slash \\n not a newline \\",
    "Ünïcödé – 日本語 ✓ 🚀",
    "$(rm -rf /) `id` ; echo pwned # & | > <",
    "tab\there",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_free_text_bakes_a_valid_project(tmp_path, text):
    project = bake(tmp_path, project_name=text, description=text, author=text, project_slug="p")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["description"] == text
    assert pyproject["project"]["authors"][0]["name"] == text
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert " ".join(text.split()) in readme
    for path in project.rglob("*.y*ml"):
        if "templates" not in path.parts:
            yaml.safe_load(path.read_text(encoding="utf-8"))
    assert not (tmp_path / "pwned").exists()


def test_hostile_project_still_passes_its_own_lint_and_help(tmp_path):
    project = bake(tmp_path, project_name=HOSTILE[1], description=HOSTILE[4], author=HOSTILE[3])
    baked = Baked(project)
    assert project.name == "o-brien-s-quoted-project"
    result = baked.make("help")
    assert result.returncode == 0 and "local" in result.stdout
    result = baked.make("lint")
    assert result.returncode == 0, result.stdout + result.stderr
