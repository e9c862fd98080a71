"""make notebooks: every notebook under notebooks/ executed with papermill in the
experiment's environment (real Docker, and the venv runtime), executed copies and a
JUnit report in the run folder, and a failing notebook failing the target."""

import json
from xml.etree import ElementTree

import pytest

from tests.helpers import error_lines


def broken_notebook() -> str:
    def code(source, tags=None):
        return {
            "cell_type": "code",
            "execution_count": None,
            "id": f"c{len(source)}",
            "metadata": {"tags": tags or []},
            "outputs": [],
            "source": source,
        }

    cells = [code("data = 'unset'", ["parameters"]), code("raise ValueError('bad table: ' + data)")]
    return json.dumps(
        {
            "cells": cells,
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def latest(project):
    return project.run_dirs("notebooks")[-1]


def report(run_dir):
    suite = ElementTree.parse(run_dir / "junit.xml").getroot()
    return suite, {case.get("name"): case for case in suite.iter("testcase")}


@pytest.mark.docker
def test_notebooks_run_in_the_image_with_the_inputs_mounted(docker_baked):
    result = docker_baked.make("notebooks")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "notebook notebooks/explore.ipynb: ok" in result.stdout
    run_dir = latest(docker_baked)
    suite, cases = report(run_dir)
    assert suite.get("tests") == "1" and suite.get("failures") == "0"
    assert list(cases) == ["notebooks/explore.ipynb"]
    executed = json.loads((run_dir / "notebooks/explore.ipynb").read_text())
    injected = [
        c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])
    ]
    source = "".join(injected[0]["source"])
    assert 'data = "/mnt/inputs/data"' in source and "n_estimators = 100" in source
    printed = [o.get("text") for c in executed["cells"] for o in c.get("outputs", [])]
    assert ["178 rows, 13 features\n"] in printed
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"

    (docker_baked.path / "notebooks/broken.ipynb").write_text(broken_notebook())
    result = docker_baked.make("notebooks")
    assert result.returncode != 0
    (line,) = error_lines(result.stderr)
    assert "notebooks/broken.ipynb" in line and "std_log.txt" in line
    run_dir = latest(docker_baked)
    suite, cases = report(run_dir)
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failure = cases["notebooks/broken.ipynb"].find("failure")
    # "cell 3": its execution count in the executed copy (after the injected parameters)
    assert failure.get("message") == "cell 3: ValueError: bad table: /mnt/inputs/data"
    assert "raise ValueError" in failure.text and "\x1b[" not in failure.text
    assert cases["notebooks/explore.ipynb"].find("failure") is None
    kept = json.loads((run_dir / "notebooks/broken.ipynb").read_text())
    assert any(o.get("ename") == "ValueError" for c in kept["cells"] for o in c.get("outputs", []))


def test_notebooks_run_in_the_venv_runtime(baked):
    result = baked.make("notebooks", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = latest(baked)
    suite, _ = report(run_dir)
    assert suite.get("failures") == "0"
    executed = (run_dir / "notebooks/explore.ipynb").read_text()
    assert str(baked.path / "data" / "wine") in executed  # the host path, read in place


def test_the_runner_takes_job_parameters_as_name_value_pairs(tmp_path, monkeypatch):
    """How Azure ML jobs (make notebook-job) pass inputs: `-- name value ...`."""
    import runpy

    from tests.helpers import REPO

    runner = runpy.run_path(
        str(REPO / "{{cookiecutter.project_slug}}/amlops/notebooks/notebook_runner.py")
    )
    seen = {}

    def execute(notebook, out, parameters):
        seen[notebook] = parameters
        return {"notebook": notebook, "seconds": 0.0, "failure": None}

    monkeypatch.setitem(runner["main"].__globals__, "execute", execute)
    monkeypatch.setenv("AMLOPS_LOG_DIR", str(tmp_path))
    monkeypatch.delenv("AMLOPS_NOTEBOOK_PARAMETERS", raising=False)
    argv = ["notebooks/a.ipynb", "--", "data", "/mnt/azureml/data", "n_estimators", "7"]
    assert runner["main"](argv) == 0
    assert seen == {"notebooks/a.ipynb": {"data": "/mnt/azureml/data", "n_estimators": 7}}
    assert json.loads((tmp_path / "notebooks/results.json").read_text())[0]["failure"] is None
