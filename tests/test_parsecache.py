"""The parse cache (amlops/parsecache.py, issue 23.2): a file whose text changed is
always read again, whatever its size or modification time; what a reader cannot keep
exactly is read every time; a kept result is what the reader gives."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import TEMPLATE_PROJECT
from tests.test_local_docker import set_command

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops import parsecache, settings, yamlfile  # noqa: E402
from amlops.amlignore import IgnoreRules  # noqa: E402
from amlops.errors import UserError  # noqa: E402

JOB = "command: python -c pass\ninputs:\n  n: 1\n  data:\n    path: ./data\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Caching on, in a folder of the test's own (off again after the test)."""
    folder = tmp_path / "cache"
    monkeypatch.setattr(parsecache, "_folder", folder)
    return folder


def refuse(*args, **kwargs):
    raise AssertionError("the reader ran: the kept result was not used")


def write_keeping_times(path: Path, text: str) -> None:
    """Change a file's text and put its size-independent times back, as a tool that
    restores modification times (or a same-second edit) would."""
    stat = path.stat()
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_an_unchanged_job_file_is_taken_from_the_cache_with_its_lines(tmp_path, cache, monkeypatch):
    job = tmp_path / "job.yaml"
    job.write_text(JOB)
    first = yamlfile.load_yaml(job)
    monkeypatch.setattr(yamlfile, "_parse", refuse)
    again = yamlfile.load_yaml(job)
    assert again == first and yamlfile.plain(again) == yamlfile.plain(first)
    assert type(again) is yamlfile.LineMap and again.lines == first.lines == {
        "command": 1,
        "inputs": 2,
    }
    assert again["inputs"].lines == {"n": 3, "data": 4}
    again["inputs"]["n"] = 2  # a fresh object each time: a caller's change stays its own
    assert yamlfile.load_yaml(job)["inputs"]["n"] == 1


def test_a_changed_job_file_is_read_again_even_with_the_same_size_and_time(tmp_path, cache):
    job = tmp_path / "job.yaml"
    job.write_text(JOB)
    assert yamlfile.load_yaml(job)["command"] == "python -c pass"
    write_keeping_times(job, JOB.replace("pass", "1+1"))  # same length, same mtime
    assert yamlfile.load_yaml(job)["command"] == "python -c 1+1"
    write_keeping_times(job, JOB.replace("pass", "pas"))
    assert yamlfile.load_yaml(job)["command"] == "python -c pas"


def test_a_job_file_with_a_problem_is_read_and_told_every_time(tmp_path, cache):
    job = tmp_path / "job.yaml"
    job.write_text("command: a\ncommand: b\n")
    for _ in range(2):
        with pytest.raises(UserError, match="job.yaml:2: duplicate key 'command'"):
            yamlfile.load_yaml(job)
    assert not cache.exists() or not list(cache.iterdir()), "nothing kept for a bad file"


@pytest.mark.parametrize(
    "text",
    [
        "when: 2024-01-01\n",  # a date
        "blob: !!binary aGVsbG8=\n",  # bytes
        "base: &b {x: 1}\none: *b\n",  # an alias: one object shared by two keys
        "2024-01-01: c\n",  # a key that is no plain scalar (a date)
    ],
)
def test_what_a_round_trip_would_not_give_back_exactly_is_read_every_time(
    tmp_path, cache, monkeypatch, text
):
    path = tmp_path / "file.yaml"
    path.write_text(text)
    first = yamlfile.load_yaml(path)
    parses = []
    real = yamlfile._parse
    monkeypatch.setattr(yamlfile, "_parse", lambda *a: parses.append(1) or real(*a))
    assert yamlfile.load_yaml(path) == first
    assert parses == [1], "read again: nothing was kept"


@pytest.mark.parametrize("slot", [b"", b"\xff\x00garbled", None])
def test_a_garbled_or_foreign_slot_is_ignored_and_written_anew(tmp_path, cache, slot):
    job = tmp_path / "job.yaml"
    job.write_text(JOB)
    yamlfile.load_yaml(job)
    (kept,) = cache.iterdir()
    if slot is None:  # written by another Python (marshal format) or amlops
        import marshal

        kept.write_bytes(marshal.dumps(("other-format", "", JOB, "stale")))
    else:
        kept.write_bytes(slot)
    assert yamlfile.load_yaml(job)["command"] == "python -c pass"
    assert parsecache.lookup("yaml", str(job.absolute()), JOB, yamlfile._VERSION) is not None


def test_without_a_folder_nothing_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(parsecache, "_folder", None)
    job = tmp_path / "job.yaml"
    job.write_text(JOB)
    yamlfile.load_yaml(job)
    monkeypatch.setattr(yamlfile, "_parse", refuse)
    with pytest.raises(AssertionError, match="the reader ran"):
        yamlfile.load_yaml(job)


# --- config.env


def test_config_env_is_kept_by_its_text_and_a_change_is_read(tmp_path, cache, monkeypatch):
    config = tmp_path / "config.env"
    config.write_text("# a comment naming ${OTHER}\nA=1\nB='x y'\n")
    assert settings.read_env_file(config, cache=True) == {"A": "1", "B": "x y"}
    monkeypatch.setattr(settings, "_parse", refuse)
    assert settings.read_env_file(config, cache=True) == {"A": "1", "B": "x y"}
    monkeypatch.undo()
    monkeypatch.setattr(parsecache, "_folder", cache)
    write_keeping_times(config, "# a comment naming ${OTHER}\nA=2\nB='x y'\n")
    assert settings.read_env_file(config, cache=True) == {"A": "2", "B": "x y"}


def test_a_config_env_value_from_the_environment_is_never_kept(tmp_path, cache, monkeypatch):
    config = tmp_path / "config.env"
    config.write_text("WHERE=${AMLOPS_TEST_WHERE}/data\n")
    monkeypatch.setenv("AMLOPS_TEST_WHERE", "/one")
    assert settings.read_env_file(config, cache=True) == {"WHERE": "/one/data"}
    monkeypatch.setenv("AMLOPS_TEST_WHERE", "/two")
    assert settings.read_env_file(config, cache=True) == {"WHERE": "/two/data"}
    assert not cache.exists() or not list(cache.iterdir())


def test_dot_env_is_never_copied_into_the_cache(tmp_path, cache):
    (tmp_path / "config.env").write_text("A=1\n")
    (tmp_path / ".env").write_text("SECRET=hunter2\n")
    assert settings.Settings(tmp_path, environ={}).get("SECRET") == "hunter2"
    kept = b"".join(path.read_bytes() for path in cache.iterdir())
    assert b"A=1" in kept and b"hunter2" not in kept


def test_a_config_env_line_dotenv_cannot_read_is_an_error_every_time(tmp_path, cache):
    config = tmp_path / "config.env"
    config.write_text("A=1\nnot a pair\n")
    for _ in range(2):
        with pytest.raises(UserError, match="config.env:2: expected KEY=VALUE"):
            settings.read_env_file(config, cache=True)


# --- ignore rules


def test_ignore_answers_are_kept_per_pattern_text_and_new_paths_ask_pathspec(cache):
    rules = IgnoreRules(["*.csv", "!keep.csv", "build/"])
    answers = {
        ("a.csv", False): True,
        ("keep.csv", False): False,
        ("train.py", False): False,
        ("build", True): False,  # a negation exists: folders are not pruned
        ("build/x.py", False): True,
    }
    assert {key: rules.ignored(*key) for key in answers} == answers
    rules.save()
    again = IgnoreRules(["*.csv", "!keep.csv", "build/"])
    again._spec = refuse  # type: ignore[assignment] - any use of pathspec fails
    assert {key: again.ignored(*key) for key in answers} == answers
    fresh = IgnoreRules(["*.csv", "!keep.csv", "build/"])
    assert fresh.ignored("new.csv", False) and not fresh.ignored("new.py", False)
    changed = IgnoreRules(["*.py"])  # other patterns: nothing of the above is reused
    assert changed.ignored("train.py", False) and not changed.ignored("a.csv", False)


def test_an_unchanged_local_run_imports_neither_pyyaml_nor_pathspec_nor_dotenv(baked):
    """The second `make local` of an unchanged experiment takes the job file, config.env
    and the ignore answers from the cache; a changed job file is read (PyYAML) again."""
    probe = (
        "import runpy, sys; sys.argv = ['amlops', 'local']\n"
        "try: runpy.run_module('amlops', run_name='__main__')\n"
        "except SystemExit as stop: assert not stop.code, stop.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'yaml', 'pathspec', 'dotenv'}))"
    )
    set_command(baked, "echo ran first")
    env = {**os.environ, **baked.env, "EXP": "train", "RUNTIME": "venv", "TRACKING": "0"}

    def imported() -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe], cwd=baked.path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "ran first" in imported()
    second = imported()
    assert "ran first" in second and second.strip().splitlines()[-1] == "[]", second
    baked.edit("src/train/job.yaml", "echo ran first", "echo ran again")
    third = imported()
    assert "ran again" in third and "'yaml'" in third.strip().splitlines()[-1], third
