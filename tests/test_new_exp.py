"""`make new-exp EXP=x` renders the sub-template into src/x/ and nothing else."""

import pytest
import yaml

from tests.helpers import error_lines, tree_digest
from tests.test_bake import EXPERIMENT_FILES, TRAIN_FILES


def files_under(folder):
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_new_exp_creates_exactly_the_experiment(baked):
    before = files_under(baked.path)
    result = baked.make("new-exp", EXP="score_v2")
    assert result.returncode == 0, result.stderr
    after = files_under(baked.path)
    # .runs/ is amlops's own git-ignored state (config.env's parse cache lands there)
    added = {path for path in after - before if not path.startswith(".runs/")}
    assert added == {f"src/score_v2/{f}" for f in EXPERIMENT_FILES | TRAIN_FILES}
    assert before <= after
    job = yaml.safe_load((baked.path / "src/score_v2/job.yaml").read_text())
    assert job["command"].startswith("python -m score_v2.main")
    assert "${{inputs.data}}" in job["command"] and "${{outputs.model}}" in job["command"]
    assert job["experiment_name"] == "azure-ml-project-score_v2"
    local_py = (baked.path / "src/score_v2/local.py").read_text()
    assert "from score_v2.main import main" in local_py


def test_new_experiment_of_a_kind_takes_the_kind_files(baked):
    result = baked.make("new-exp", EXP="clean", KIND="prepare")
    assert result.returncode == 0, result.stderr
    folder = baked.path / "src/clean"
    assert {p for p in files_under(folder) if "__pycache__" not in p} == EXPERIMENT_FILES
    job = yaml.safe_load((folder / "job.yaml").read_text())
    assert job["command"].startswith("python -m clean.main") and "prepared" in job["outputs"]
    assert "from clean.main import main" in (folder / "tests/test_main.py").read_text()
    refused = baked.make("new-exp", EXP="other", KIND="scoring")
    assert "unknown KIND 'scoring': use one of train, prepare" in refused.stderr
    assert not (baked.path / "src/other").exists()
    assert not list((baked.path / "src").glob(".new-*")), "no scratch folder is left"


def test_new_experiment_passes_lint_and_its_tests(baked):
    assert baked.make("new-exp", EXP="second").returncode == 0
    lint = baked.make("lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    test = baked.make("test")
    assert test.returncode == 0, test.stdout + test.stderr
    assert "second/tests/test_main.py" in baked.make("test", PYTEST_ADDOPTS="-v").stdout


@pytest.mark.parametrize(
    "exp,message",
    [
        ("train", "src/train already exists"),
        ("Bad-Name", "invalid EXP 'Bad-Name'"),
        ("9lives", "invalid EXP '9lives'"),
        ("", "EXP is required"),
        ("common", "EXP=common is reserved"),
        ("pipelines", "EXP=pipelines is reserved"),
    ],
)
def test_new_exp_refuses_and_touches_nothing(baked, exp, message):
    before = tree_digest(baked.path)
    result = baked.make("new-exp", EXP=exp)
    assert result.returncode != 0
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert tree_digest(baked.path) == before
