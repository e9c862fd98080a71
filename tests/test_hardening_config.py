"""Reading config.env, .env and YAML: docker compose's dotenv rules, duplicate
keys refused, non-UTF-8 files and bad lines reported in one line through the CLI's
error path (never a traceback, never a secret)."""

import sys

import pytest

from tests.helpers import TEMPLATE_PROJECT, error_lines

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.errors import UserError  # noqa: E402
from amlops.settings import Settings  # noqa: E402
from amlops.yamlfile import load_yaml  # noqa: E402


def only_error(result) -> str:
    """The single `error:` line of a failed command that printed no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_env_files_drop_trailing_comments_and_read_escapes_like_docker_compose(tmp_path):
    (tmp_path / "config.env").write_text(
        "RUNTIME=venv  # the fallback\nexport TAG='a # b'\nJOBS=\nNOTE=\"line\\none\"\nBARE\n"
    )
    (tmp_path / ".env").write_text("SECRET='p$ss'\nHOST=h\nURL=${HOST}-x\n")
    settings = Settings(tmp_path, environ={})
    assert settings.get("RUNTIME") == "venv"
    assert settings.get("TAG") == "a # b"
    assert settings.get("NOTE") == "line\none"
    assert settings.get("SECRET") == "p$ss"
    assert settings.get("URL") == "h-x"
    assert settings.get("BARE", "unset") == "unset"


def test_a_malformed_env_line_is_one_line_without_its_value(baked):
    (baked.path / ".env").write_text("AZURE_TENANT_ID=t\nAZURE_CLIENT_SECRET supersecret123\n")
    result = baked.make("local", EXP="train", RUNTIME="venv")
    assert only_error(result) == "error: .env:2: expected KEY=VALUE"
    assert "supersecret123" not in result.stdout + result.stderr


def test_a_non_utf8_config_env_is_one_line_naming_it(baked):
    path = baked.path / "config.env"
    path.write_bytes(path.read_bytes() + b"NOTE=caf\xe9\n")
    line = path.read_bytes().count(b"\n")
    result = baked.make("experiments")
    assert only_error(result) == (
        f"error: config.env:{line}: not UTF-8 text (byte 0xe9); save the file as UTF-8"
    )


def test_settings_errors_reach_the_error_path_of_every_command(baked):
    (baked.path / ".env").write_text("oops\n= no key\n")
    for command in (["experiments"], ["help"], ["prune"]):
        result = baked.make(*command)
        if command == ["help"]:
            assert result.returncode == 0  # make help reads only the Makefile
            continue
        assert only_error(result) == "error: .env:2: expected KEY=VALUE"


def test_a_non_utf8_job_yaml_is_one_line_naming_it(baked):
    job = baked.path / "src" / "train" / "job.yaml"
    job.write_bytes(job.read_bytes().replace(b"Train a random", b"Train a \xffrandom"))
    result = baked.make("local", EXP="train", RUNTIME="venv")
    assert "src/train/job.yaml:" in only_error(result)
    assert "not UTF-8 text (byte 0xff)" in only_error(result)


def test_a_non_utf8_pipeline_is_one_line_naming_it(baked):
    pipeline = baked.path / "pipelines" / "training.yaml"
    pipeline.write_bytes(b"# \xfe\n" + pipeline.read_bytes())
    result = baked.make("pipeline-graph")
    assert only_error(result) == (
        "error: pipelines/training.yaml:1: not UTF-8 text (byte 0xfe); save the file as UTF-8"
    )


def test_a_pipeline_step_given_twice_is_refused_with_both_lines(baked):
    pipeline = baked.path / "pipelines" / "training.yaml"
    lines = pipeline.read_text().splitlines()
    jobs = next(i for i, line in enumerate(lines) if line.strip() == "jobs:")
    step = lines[jobs + 1]
    end = next(
        i
        for i in range(jobs + 2, len(lines))
        if not lines[i].startswith(" " * (len(step) - len(step.lstrip()) + 1))
    )
    block = lines[jobs + 1 : end]
    pipeline.write_text("\n".join(lines[:end] + block + lines[end:]) + "\n")
    result = baked.make("pipeline-graph")
    name = step.strip().rstrip(":")
    assert only_error(result) == (
        f"error: pipelines/training.yaml:{end + 1}: duplicate key {name!r}"
        f" (first on line {jobs + 2}); a mapping names each key once - remove or rename one"
    )


def test_an_input_declared_twice_in_job_yaml_is_refused(baked):
    baked.edit("src/train/job.yaml", "  n_estimators: 100\n", "  n_estimators: 100\n  data: 5\n")
    text = (baked.path / "src/train/job.yaml").read_text().splitlines()
    first = text.index("  data:") + 1
    again = text.index("  data: 5") + 1
    result = baked.make("local", EXP="train", RUNTIME="venv")
    assert f"src/train/job.yaml:{again}: duplicate key 'data' (first on line {first})" in (
        only_error(result)
    )


def test_yaml_merge_keys_may_still_override(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("base: &b\n  x: 1\n  y: 2\nother:\n  <<: *b\n  x: 3\n")
    assert load_yaml(path)["other"] == {"x": 3, "y": 2}
    path.write_text("a: 1\nb: 2\na: 3\n")
    with pytest.raises(UserError, match="a.yaml:3: duplicate key 'a' \\(first on line 1\\)"):
        load_yaml(path, "a.yaml")
