"""Unit tests of the bundled amlops module and the template's Jinja filters (no baking)."""

import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import REPO, TEMPLATE_PROJECT

sys.path.insert(0, str(TEMPLATE_PROJECT))
sys.path.insert(0, str(REPO))

from amlops.amlignore import IgnoreRules  # noqa: E402
from amlops.errors import UserError  # noqa: E402
from amlops.local.images import base_images  # noqa: E402
from amlops.local.resolve import resolve_job  # noqa: E402
from amlops.makehelp import targets  # noqa: E402
from amlops.project import Project  # noqa: E402
from amlops.settings import Settings, read_env_file  # noqa: E402
from amlops.spec.job import load_job  # noqa: E402
from local_extensions import escaped  # noqa: E402


@given(st.text())
def test_escaped_text_round_trips_through_toml_and_yaml(text):
    quoted = f'"{escaped(text)}"'
    assert tomllib.loads(f"v = {quoted}")["v"] == text
    assert yaml.safe_load(f"v: {quoted}")["v"] == text


def test_env_file_parsing_and_layering(tmp_path):
    (tmp_path / "config.env").write_text("# c\nA=1\nexport B='two words'\nC=\n")
    (tmp_path / ".env").write_text('B="secret"\n')
    settings = Settings(tmp_path, environ={"C": "env", "lower": "x"})
    assert (settings.get("A"), settings.get("B"), settings.get("C")) == ("1", "secret", "env")
    assert settings.get("missing", "dflt") == "dflt"
    (tmp_path / "bad.env").write_text("A=1\nnot a pair\n")
    with pytest.raises(UserError, match="bad.env:2: expected KEY=VALUE"):
        read_env_file(tmp_path / "bad.env")


def test_amlignore_rules_are_gitignore_rules_like_the_sdks():
    rules = IgnoreRules(["tests/", "*.log", "!keep.log", "exp/secret.txt"])
    assert rules.ignored("exp/tests/test_x.py", is_dir=False)
    assert not rules.ignored("exp/tests", is_dir=False)
    assert rules.ignored("exp/run.log", is_dir=False)
    assert not rules.ignored("exp/keep.log", is_dir=False)
    assert rules.ignored("exp/secret.txt", is_dir=False)
    assert rules.ignored("common/__pycache__/x.pyc", is_dir=False)
    # a `!pattern` may re-include a file inside an ignored folder (the SDK checks each
    # file), so folders are only pruned when there is no negation
    assert not rules.ignored("exp/tests", is_dir=True)
    assert IgnoreRules(["tests/"]).ignored("exp/tests", is_dir=True)
    anchored = IgnoreRules(["train/*.csv", "/local.py"])
    assert anchored.ignored("train/a.csv", is_dir=False)
    assert not anchored.ignored("train/assets/lookup.csv", is_dir=False)
    assert anchored.ignored("local.py", is_dir=False)
    assert not anchored.ignored("train/local.py", is_dir=False)


def test_code_root_ignore_file_is_amlignore_else_gitignore(tmp_path):
    project_ignore = tmp_path / "project.amlignore"
    project_ignore.write_text("*.tmp\n")
    root = tmp_path / "code"
    root.mkdir()
    (root / ".gitignore").write_text(".venv/\n*.ckpt\n")
    rules = IgnoreRules.for_snapshot(project_ignore, root)
    assert rules.ignored("a.tmp", False) and rules.ignored("model.ckpt", False)
    assert rules.ignored(".venv", True)
    (root / ".amlignore").write_text("*.bin\n")
    rules = IgnoreRules.for_snapshot(project_ignore, root)
    assert rules.ignored("x.bin", False) and not rules.ignored("model.ckpt", False)


def make_project(tmp_path, job_text):
    (tmp_path / "config.env").write_text("")
    exp = tmp_path / "src" / "exp"
    exp.mkdir(parents=True)
    (exp / "job.yaml").write_text(job_text)
    return Project(tmp_path), exp / "job.yaml"


JOB = """
environment: {image: python:3.11-slim}
command: >-
  python -m exp.main --a ${{inputs.a}} --b ${{inputs.b}} --c ${{inputs.c}}
  --f ${{inputs.f}} --n ${{inputs.n}} --flag ${{inputs.flag}} --out ${{outputs.out}}
inputs:
  a: {type: uri_folder, path: ../../local_a}
  b: {type: uri_folder, path: "azureml:assetb:2"}
  c: {type: uri_folder}
  f: {type: uri_file, path: azureml:onefile@latest}
  n: 5
  flag: true
outputs:
  out: {type: uri_folder}
"""


def test_input_resolution_order_and_substitution(tmp_path):
    project, job_file = make_project(tmp_path, JOB)
    for folder in ("local_a", "data/assetb", "data/c", "data/onefile", "elsewhere"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "data/onefile/only.csv").write_text("x")
    spec = load_job(job_file, "job.yaml")
    overrides = {"c": str(tmp_path / "elsewhere"), "n": "9"}
    job = resolve_job(spec, project, tmp_path / "out", overrides, in_container=True)
    assert job.inputs["a"].host == tmp_path / "local_a"
    assert job.inputs["b"].host == tmp_path / "data/assetb"
    assert job.inputs["c"].host == tmp_path / "elsewhere"
    assert job.inputs["f"].host == tmp_path / "data/onefile/only.csv"
    assert job.command == (
        "python -m exp.main --a /mnt/inputs/a --b /mnt/inputs/b --c /mnt/inputs/c"
        " --f /mnt/inputs/f/only.csv --n 9 --flag True --out /mnt/outputs/out"
    )
    host = resolve_job(spec, project, tmp_path / "out", {}, in_container=False)
    assert f"--c {tmp_path / 'data/c'} " in host.command
    assert host.outputs["out"].host == tmp_path / "out" / "out"


ENV = "environment: {image: python:3.11-slim}\n"


@pytest.mark.parametrize(
    "text,message",
    [
        ("command: x\ntype: pipeline\n", "job.yaml:2: type must be 'command'"),
        ("inputs: {}\n", "'command' must be a non-empty string"),
        ("command: x ${{outputs.o}}\n" + ENV, "outputs declares no 'o'"),
        ("command: x ${{parent.inputs.a}}\n" + ENV, "only ${{inputs.<name>}}"),
        ("command: x\ninputs:\n  a: {type: table}\n", "job.yaml:3: input 'a': unknown type"),
        ("command: x\ninputs: [a]\n", "job.yaml:2: 'inputs' must be a mapping"),
        ("- a\n", "expected a mapping"),
        ("command: x\n", "job.yaml:1: environment: is required"),
        ("command: x\nenvironment: {image: a, build: {path: .}}\n", "not both"),
        ("command: x\nenvironment: 'azureml:'\n", "is not a form Azure ML accepts"),
        (
            "command: x\nenvironment: {build: {path: nowhere}}\n",
            "build path 'nowhere' does not exist",
        ),
        (
            "command: x\nenvironment: {image: a, conda_file: c.yml}\n",
            "conda_file 'c.yml' does not exist",
        ),
        (
            "command: x\ninputs:\n  a: {type: uri_folder, mode: rw_mount}\n" + ENV,
            "unknown mode 'rw_mount'",
        ),
        ("command: x\ndistribution: {type: horovod}\n" + ENV, "use pytorch, mpi or tensorflow"),
        ("command: x\ntype: sweep\n", "unknown field 'command' (see the sweepJob schema)"),
        ("command: python -m a-b.main\n" + ENV, "python -m a-b.main cannot work"),
        (
            "command: x\ninputs:\n  n: {type: integer, default: 5}\n" + ENV,
            "job.yaml:3: input 'n': a command job takes a literal input as a plain value",
        ),
        (
            "command: x\ninputs:\n  d: {type: uri_folder, optional: true}\n" + ENV,
            "has no optional inputs",
        ),
    ],
)
def test_job_checks_name_file_and_line(tmp_path, text, message):
    _, job_file = make_project(tmp_path, text)
    with pytest.raises(UserError) as err:
        load_job(job_file, "job.yaml")
    assert message in str(err.value)


def test_uri_file_folder_must_hold_one_file(tmp_path):
    project, job_file = make_project(
        tmp_path, "command: x ${{inputs.f}}\ninputs:\n  f: {type: uri_file}\n" + ENV
    )
    (tmp_path / "data/f").mkdir(parents=True)
    spec = load_job(job_file, "job.yaml")
    with pytest.raises(UserError, match="must hold exactly one file, found 0"):
        resolve_job(spec, project, tmp_path / "o", {}, in_container=True)


def test_makehelp_reads_target_comments(tmp_path):
    makefile = tmp_path / "Makefile"
    makefile.write_text("a: b ## does A\nX := 1 ## not a target\nc:\n\td ## ignored\n")
    assert targets([str(makefile)]) == [("a", "does A")]


def test_jupyter_session_uses_a_derived_image_and_the_run_mounts(tmp_path, monkeypatch):
    from amlops.local import interactive
    from tests.helpers import default_project

    project = Project(default_project(tmp_path))
    monkeypatch.setattr(interactive.DockerRuntime, "prepare", lambda self: False)
    monkeypatch.setattr(interactive, "jupyter_image", lambda runtime: runtime.tag + "-jupyter")
    argv = interactive.interactive_argv(project, "train", "jupyter", "", "9999")
    assert argv[:3] == ["docker", "run", "--rm"]
    assert "9999:8888" in argv and argv[argv.index("-p") + 2].endswith("-jupyter")
    mounts = [argv[i + 1] for i, a in enumerate(argv) if a == "--mount"]
    data = str(Path(project.root) / "data" / "wine")
    assert f"type=bind,source={data},target=/mnt/inputs/data,readonly" in mounts
    outputs = str(Path(project.root) / ".runs")
    assert any(
        m.startswith(f"type=bind,source={outputs}") and m.endswith("target=/mnt/outputs")
        for m in mounts
    )
    assert "--ServerApp.root_dir=/mnt/code" in argv


DOCKERFILE = """# syntax note: a comment
ARG BASE_IMAGE=mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
ARG TOOLS="python:3.11-slim"
FROM --platform=linux/amd64 ${TOOLS} AS tools
FROM scratch AS empty
FROM $BASE_IMAGE
COPY --from=tools /usr/bin/true /true
FROM tools
"""


def test_base_images_substitutes_args_and_leaves_out_stages():
    assert base_images(DOCKERFILE, []) == [
        "python:3.11-slim",
        "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest",
    ]
    given_args = ["BASE_IMAGE=amlops-test-base:bookworm"]
    assert base_images(DOCKERFILE, given_args)[1] == "amlops-test-base:bookworm"
    continued = "ARG B=x:1\nFROM \\\n  ${B}\n"
    assert base_images(continued, []) == ["x:1"]
    assert base_images(continued, ["B=y:2"]) == ["y:2"]


def test_prune_reports_what_it_could_not_remove_and_goes_on(tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace

    from amlops.local import prune

    removed = []

    def refuse() -> None:
        raise PermissionError(13, "Permission denied", "/x/outputs/model.pkl")

    items = [
        prune.Removable(".runs/train/a", 10, refuse),
        prune.Removable(".runs/train/b", 20, lambda: removed.append("b")),
    ]
    monkeypatch.setattr(prune, "removables", lambda project, keep, serving=None: items)
    project = SimpleNamespace(runs=tmp_path, root=tmp_path)
    with pytest.raises(UserError) as err:
        prune.prune(project, 1, yes=True)
    assert removed == ["b"], "one failure does not stop the rest"
    assert (
        "could not remove 1 item(s): .runs/train/a (Permission denied: /x/outputs/model.pkl)"
        in (str(err.value))
    )
    assert prune.prune(project, 1, yes=False) == 0 and removed == ["b"], "listing removes nothing"
    assert "would remove  .runs/train/b  20 B" in capsys.readouterr().out


def test_outside_git_the_commit_is_none_and_dirty_is_unknown(tmp_path):
    from amlops.provenance import submission_tags

    tags = submission_tags(tmp_path)
    assert (tags["git_commit"], tags["git_dirty"]) == ("none", "unknown")


def test_a_job_is_advised_the_make_local_that_runs_it(tmp_path):
    """Advice in messages names the command that runs the job file again: EXP= for an
    experiment's job.yaml, EXP= JOB= for its other job files, JOB= for any other file."""
    body = "command: echo hi\nenvironment:\n  image: python:3.11-slim\n"
    forms = {
        "src/train/job.yaml": "make local EXP=train",
        "src/train/job.yml": "make local EXP=train",
        "src/train/sweep.yaml": "make local EXP=train JOB=sweep.yaml",
        "jobs/score.yml": "make local JOB=jobs/score.yml",
        "src/a/b/job.yaml": "make local JOB=src/a/b/job.yaml",
    }
    for shown, expected in forms.items():
        path = tmp_path / shown
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        assert load_job(path, shown).make_local() == expected, shown


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a:\n\tb: 1\n", "t.yaml:2: YAML syntax error: found character '\\t' that cannot start"
         " any token; indent with spaces: YAML does not allow tabs"),
        ('a: "x\nb: 2\n', "a quote or a bracket is not closed"),
        ("a: b: c\n", "t.yaml:1: YAML syntax error: mapping values are not allowed here; quote"),
    ],
)  # fmt: skip
def test_a_yaml_syntax_error_names_the_usual_fix(tmp_path, text, expected):
    """PyYAML's own words, then the fix a beginner needs (new-user trial: a tab)."""
    from amlops.yamlfile import load_yaml

    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as caught:
        load_yaml(path, "t.yaml")
    assert expected in str(caught.value)
