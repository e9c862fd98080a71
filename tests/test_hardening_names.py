"""Names made from project, pipeline and template text: distinct endpoint names for long
project names, slugs too long for derived names refused at bake time, and new-exp copying
Jinja-looking text (Azure's ${{inputs.x}}) that is not the template's own verbatim."""

import importlib.util
import json
import re
import subprocess
import sys

import pytest

from tests.cloud_support import cloud_make, cloud_project
from tests.helpers import REPO, TEMPLATE_PROJECT, Baked, bake, bake_cli, error_lines

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.cloud.plan import NAME_LIMIT, endpoint_name  # noqa: E402

AZURE_ENDPOINT_NAME = re.compile(r"[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?")  # azure.ai.ml's rule


def slug_max() -> int:
    spec = importlib.util.spec_from_file_location("pre_gen", REPO / "hooks/pre_gen_project.py")
    source = spec.loader.get_source("pre_gen").replace("{{ cookiecutter | tojson }}", "{}")
    namespace: dict = {}
    exec(compile(source, "pre_gen_project.py", "exec"), namespace)  # noqa: S102
    return namespace["SLUG_MAX"]


def test_endpoint_names_cut_to_32_characters_stay_distinct():
    slug = "customer-churn-prediction-for-retail-banking"
    names = {endpoint_name(slug, p) for p in ("training", "scoring", "training2")}
    assert len(names) == 3
    for name in names:
        assert 3 <= len(name) <= NAME_LIMIT and AZURE_ENDPOINT_NAME.fullmatch(name), name
        assert name.startswith("customer-churn-prediction")
    assert endpoint_name("short", "training") == "short-training"  # fits: unchanged


@pytest.mark.skipif(not importlib.util.find_spec("azure.ai.ml"), reason="azure-ai-ml missing")
def test_two_pipelines_of_a_long_named_project_publish_to_two_endpoints(tmp_path):
    slug = "customer-churn-prediction-for-retail-banking"
    project = cloud_project(tmp_path / "bake", project_slug=slug)
    training = (project.path / "pipelines" / "training.yaml").read_text()
    (project.path / "pipelines" / "training_weekly.yaml").write_text(training)
    endpoints = []
    for pipeline in ("training", "training_weekly"):
        result, rec = cloud_make(project, tmp_path, "publish", PIPELINE=pipeline, DRY_RUN="1")
        assert result.returncode == 0, result.stderr
        folder = project.path / result.stdout.strip().splitlines()[-1]
        text = (folder / "endpoint.yaml").read_text()
        endpoints.append(re.search(r"^name: (\S+)$", text, re.M).group(1))
    assert endpoints[0] != endpoints[1], endpoints
    chosen, _ = cloud_make(
        project, tmp_path, "publish", PIPELINE="training", DRY_RUN="1", ENDPOINT="churn-train"
    )
    assert (
        "name: churn-train"
        in (project.path / chosen.stdout.strip().splitlines()[-1] / "endpoint.yaml").read_text()
    )
    refused, _ = cloud_make(
        project, tmp_path, "publish", PIPELINE="training", DRY_RUN="1", ENDPOINT="9-bad_name"
    )
    assert error_lines(refused.stderr) == [
        "error: ENDPOINT='9-bad_name': use a letter, then letters, digits or - (not last),"
        f" 3 to {NAME_LIMIT} characters"
    ]


def test_a_slug_too_long_for_the_names_made_from_it_is_refused_in_one_line(tmp_path):
    limit = slug_max()
    result = bake_cli(tmp_path, project_slug="a" * 250)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: invalid")]
    assert errors == [
        f"error: invalid project_slug: 250 characters, at most {limit} (it prefixes Docker"
        " image names and build-log file names (<slug>-<experiment>-...))"
    ]
    assert not any(tmp_path.iterdir())


@pytest.mark.docker
def test_the_longest_slug_allowed_still_builds_and_runs(tmp_path, docker_base_image, shared_venvs):
    slug = ("a" * (slug_max() - 2)) + "-b"
    baked = Baked(bake(tmp_path, project_slug=slug), env={"VENV_DIR": str(shared_venvs)})
    baked.env.update(
        BASE_IMAGE=docker_base_image, DOCKER_BUILD_ARGS="--network host", RUNTIME="docker"
    )
    built = baked.make("build-exp", EXP="train")
    assert built.returncode == 0, built.stdout + built.stderr
    tag = built.stdout.split("image ", 1)[1].split()[0]
    try:
        assert tag.startswith(f"{slug}-train:") and f"image {tag} built" in built.stdout
        logs = list((baked.path / ".runs" / ".builds").glob("*.log"))
        assert logs and all(len(log.name) <= 255 for log in logs)
    finally:
        subprocess.run(["docker", "image", "rm", tag], capture_output=True)


TEMPLATE_JOB = "templates/experiment/{{cookiecutter.exp_name}}/job.yaml"
TEMPLATE_DIR = "templates/experiment/{{cookiecutter.exp_name}}"


def test_new_exp_copies_foreign_jinja_text_in_the_template_verbatim(baked):
    baked.edit(
        TEMPLATE_JOB,
        "  n_estimators: 100\n",
        "  n_estimators: 100\n  # pass ${{inputs.n_estimators}} as --n-estimators\n",
    )
    script = (
        "#!/bin/sh\n# {{ cookiecutter.exp_name }}: ${{ github.sha }} {{ .Values.x }}\n"
        'set -- a b\necho "${#}" {% not jinja %} {# nor this #}\n'
        "echo {{ '{{' }} escaped {% raw %}${{inputs.data}}{% endraw %}\n"
    )
    (baked.path / TEMPLATE_DIR / "run.sh").write_text(script)
    result = baked.make("new-exp", EXP="scorer")
    assert result.returncode == 0, result.stderr
    folder = baked.path / "src" / "scorer"
    assert "# pass ${{inputs.n_estimators}} as --n-estimators" in (folder / "job.yaml").read_text()
    assert (folder / "run.sh").read_text() == (
        "#!/bin/sh\n# scorer: ${{ github.sha }} {{ .Values.x }}\n"
        'set -- a b\necho "${#}" {% not jinja %} {# nor this #}\n'
        "echo {{ escaped ${{inputs.data}}\n"
    )
    job = json.dumps((folder / "job.yaml").read_text())
    assert "${{outputs.model}}" in job and "scorer.main" in job


def test_new_exp_with_a_broken_template_statement_is_one_line_naming_the_file(baked):
    baked.edit(TEMPLATE_JOB, "code: ..\n", "code: ..\n{% if cookiecutter.exp_name %}\n")
    result = baked.make("new-exp", EXP="scorer")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    (line,) = error_lines(result.stderr)
    assert line.startswith("error: templates/experiment/{{cookiecutter.exp_name}}/job.yaml:")
    assert "{% raw %}...{% endraw %}" in line
    assert not (baked.path / "src" / "scorer").exists()
    assert not list((baked.path / "src").glob(".new-*"))
