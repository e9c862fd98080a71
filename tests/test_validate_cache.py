"""make validate keeps each file's offline result (issue 23.4) and reuses it only while
nothing the check reads has changed: a changed job file, a component file a pipeline
names, a conda file an environment names, the amlops code or the SDK's version all make
it check again; a rerun with nothing changed does not import azure-ai-ml."""

import os
import subprocess
import sys

import pytest

from tests.helpers import TEMPLATE_PROJECT, error_lines

pytest.importorskip("azure.ai.ml")

REUSED = "checks reused: nothing they read changed since they ran"

COMPONENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: echo
version: 1
inputs:
  n:
    type: integer
command: echo ${{inputs.n}}
environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
"""

PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
settings:
  default_compute: azureml:cpu-cluster
jobs:
  one:
    type: command
    component: ../components/echo.yaml
    inputs:
      n: 3
"""

CONDA = """\
name: train
channels: [conda-forge]
dependencies:
  - python=3.11
  - pip
"""


def validate(baked, *flags: str, importtime: bool = False) -> subprocess.CompletedProcess:
    """`python -m amlops validate --offline` in the project (every call started alike,
    so the settings part of the key is the same)."""
    argv = [sys.executable] + (["-X", "importtime"] if importtime else [])
    return subprocess.run(
        argv + ["-m", "amlops", "validate", "--offline", *flags],
        cwd=baked.path,
        capture_output=True,
        text=True,
        env={**os.environ, **baked.env},
        timeout=600,
    )


def imported_azure_ml(stderr: str) -> bool:
    """Whether an `-X importtime` report lists azure.ai.ml."""
    return any(line.split("|")[-1].strip() == "azure.ai.ml" for line in stderr.splitlines())


def test_an_unchanged_rerun_reuses_every_result_without_importing_the_sdk(baked):
    first = validate(baked)
    assert first.returncode == 0, first.stderr
    assert REUSED not in first.stderr
    again = validate(baked, importtime=True)
    assert again.returncode == 0, again.stderr
    assert REUSED in again.stderr
    assert "ok src/train/job.yaml" in again.stderr  # the same lines as the first run
    assert not imported_azure_ml(again.stderr)
    forced = validate(baked, "--force", importtime=True)
    assert forced.returncode == 0, forced.stderr
    assert REUSED not in forced.stderr and imported_azure_ml(forced.stderr)


def test_a_changed_job_file_is_checked_again_and_its_problem_reported(baked):
    assert validate(baked).returncode == 0
    baked.edit("src/train/job.yaml", "${{inputs.n_estimators}}", "${{inputs.n_trees}}")
    result = validate(baked)
    assert result.returncode == 2
    assert any(
        line.startswith("error: src/train/job.yaml:") and "${{inputs.n_trees}}" in line
        for line in error_lines(result.stderr)
    ), result.stderr
    # a problem found is kept too, and shown again while the file stays as it is
    again = validate(baked)
    assert again.returncode == 2 and error_lines(again.stderr) == error_lines(result.stderr)


def test_a_changed_component_file_a_pipeline_names_is_checked_again(baked):
    (baked.path / "components").mkdir()
    (baked.path / "components" / "echo.yaml").write_text(COMPONENT)
    (baked.path / "pipelines" / "echo.yaml").write_text(PIPELINE)
    first = validate(baked)
    assert first.returncode == 0, first.stderr
    assert "ok pipelines/echo.yaml" in first.stderr
    # components/ is neither under src/ nor pipelines/: reached through the pipeline's path
    baked.edit("components/echo.yaml", "type: integer", "type: no_such_type")
    result = validate(baked)
    assert result.returncode == 2, result.stderr
    assert any("no_such_type" in line for line in error_lines(result.stderr)), result.stderr


def test_a_changed_conda_file_an_environment_names_is_checked_again(baked):
    (baked.path / "environments").mkdir()
    (baked.path / "environments" / "conda.yaml").write_text(CONDA)
    baked.edit(
        "src/train/job.yaml",
        "environment:\n  build:\n    path: docker",
        "environment:\n  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\n"
        "  conda_file: ../../environments/conda.yaml",
    )
    first = validate(baked)
    assert first.returncode == 0, first.stderr
    (baked.path / "environments" / "conda.yaml").write_text("dependencies: [python=3.11\n")
    result = validate(baked)
    assert result.returncode == 2, result.stderr
    assert any("conda" in line for line in error_lines(result.stderr)), result.stderr


def test_a_changed_amlops_is_a_different_key(baked):
    assert validate(baked).returncode == 0
    with open(baked.path / "amlops" / "cloud" / "validate.py", "a") as module:
        module.write("\n# changed\n")
    result = validate(baked)
    assert result.returncode == 0, result.stderr
    assert REUSED not in result.stderr


def test_the_sdk_version_and_the_settings_are_part_of_the_key(monkeypatch, tmp_path):
    sys.path.insert(0, str(TEMPLATE_PROJECT))
    try:
        from amlops.cloud import validate_cache
        from amlops.project import Project
    finally:
        sys.path.remove(str(TEMPLATE_PROJECT))
    (tmp_path / "config.env").write_text("AML_SDK=v2\nCOMPUTE=\n")
    project = Project(tmp_path)
    before = validate_cache.global_key(project, sdk=True)
    assert validate_cache.global_key(project, sdk=True) == before
    monkeypatch.setattr(validate_cache, "_version", lambda package: "0.0.0-other")
    assert validate_cache.global_key(project, sdk=True) != before
    monkeypatch.undo()
    monkeypatch.setenv("COMPUTE", "gpu-cluster")
    assert validate_cache.global_key(Project(tmp_path), sdk=True) != before
    monkeypatch.setenv("MAKEFLAGS", "s")  # make's own bookkeeping is not part of it
    monkeypatch.delenv("COMPUTE")
    assert validate_cache.global_key(Project(tmp_path), sdk=True) == before
    # a stored result under another key is not returned
    cache = validate_cache.ValidateCache(Project(tmp_path), sdk=True)
    cache.put("job x", "a" * 64, {"messages": [], "problems": [], "references": []})
    cache.save()
    again = validate_cache.ValidateCache(Project(tmp_path), sdk=True)
    assert again.get("job x", "a" * 64) is not None
    assert again.get("job x", "b" * 64) is None
    assert (
        validate_cache.ValidateCache(Project(tmp_path), sdk=True, enabled=False).get(
            "job x", "a" * 64
        )
        is None
    )


def test_the_sdk_loads_a_job_file_once_only_when_the_sent_job_keeps_every_written_field():
    sys.path.insert(0, str(TEMPLATE_PROJECT))
    try:
        from amlops.cloud.validate import _covered
    finally:
        sys.path.remove(str(TEMPLATE_PROJECT))
    written = {
        "command": "python -m train.main\n--data ${{inputs.data}}",
        "code": "..",
        "environment": {"build": {"path": "docker"}},
        "inputs": {"data": {"type": "uri_folder", "path": "../../data/wine"}, "n": 100},
    }
    sent = {
        "command": "python -m train.main --data ${{inputs.data}}",
        "code": "code/train",
        "environment": {"build": {"path": "environments/train"}},
        "inputs": {"data": {"type": "uri_folder", "path": "../../../../data/wine"}, "n": 100},
        "tags": {"git_commit": "none"},
    }
    assert _covered(written, sent)
    # a field the sent job lacks, changes, or writes in another form: both are loaded
    assert not _covered({**written, "resources": {"instance_count": 2}}, sent)
    assert not _covered({**written, "tags": {"a": 1}}, {**sent, "tags": {"a": "1"}})
    assert not _covered(
        {**written, "environment": "file:./env.yml"},
        {**sent, "environment": "file:environments/train/environment.yml"},
    )


def test_a_problem_the_sdk_finds_in_what_would_be_sent_names_the_written_line(baked):
    baked.edit("src/train/job.yaml", "display_name: train", "display_name: 123")
    line = 1 + (baked.path / "src/train/job.yaml").read_text().split("display_name:")[0].count("\n")
    result = validate(baked)
    assert result.returncode == 2
    assert f"error: src/train/job.yaml:{line}: display_name: Not a valid string." in error_lines(
        result.stderr
    ), result.stderr


def _template_modules():
    sys.path.insert(0, str(TEMPLATE_PROJECT))
    try:
        from amlops import staging
        from amlops.cloud import validate_cache
    finally:
        sys.path.remove(str(TEMPLATE_PROJECT))
    return staging, validate_cache


@pytest.mark.skipif(os.name != "posix", reason="the shortcut is POSIX-only")
def test_the_key_resolves_each_yaml_string_to_the_path_resolve_gives(tmp_path):
    """The key's own resolution (one lstat per component of the string) names the same
    path as Path.resolve() through links, missing names, `.`, `..` and link loops."""
    _, validate_cache = _template_modules()
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "f.txt").write_text("x")
    os.symlink(tmp_path / "a", tmp_path / "la")
    os.symlink("b", tmp_path / "a" / "lb")
    os.symlink(tmp_path / "nowhere", tmp_path / "broken")
    os.symlink(tmp_path / "loop2", tmp_path / "loop1")
    os.symlink(tmp_path / "loop1", tmp_path / "loop2")
    key = validate_cache.Key(validate_cache.Project(tmp_path))
    texts = ["a", "a/b", "la/b", "a/lb", "lb", "x", "x/y", "./a", "a/./b", "a//b", "a/", "."]
    texts += ["../a", "a/../..", "x/../a", "la/../a", "f.txt/x", "broken", "broken/x", "loop1"]
    texts += ["la/lb/../f.txt", "/etc", "a b"]

    def resolved(action):
        try:
            return str(action())
        except (OSError, RuntimeError) as err:  # a link loop, as Path.resolve says it
            return type(err).__name__

    for base in (tmp_path, tmp_path / "a", tmp_path / "la", tmp_path / "a" / "b"):
        for text in texts:
            expected = resolved(lambda: (base / text).resolve())
            assert resolved(lambda: key._realpath(base, text)) == expected, (base, text)


def test_a_staged_link_is_replaced_never_written_through(tmp_path):
    """validate's scratch links to the user's files: a second file staged at the same
    place (a conda file named like a file of the build context) replaces the link, as a
    copy replaces a copy; the user's file is never written."""
    staging, _ = _template_modules()
    first, second = tmp_path / "context.yml", tmp_path / "conda.yml"
    first.write_text("first\n")
    second.write_text("second\n")
    target = tmp_path / "scratch" / "conda.yml"
    target.parent.mkdir()
    staging.link_or_copy(first, target)
    staging.link_or_copy(second, target)
    assert first.read_text() == "first\n" and target.read_text() == "second\n"
