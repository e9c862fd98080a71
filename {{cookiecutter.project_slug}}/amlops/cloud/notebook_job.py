"""`make notebook-job NB=notebooks/x.ipynb EXP=e`: one notebook as an Azure ML command
job in experiment e's environment (its Docker context) and compute, on e's inputs.

The job's code is e's staged snapshot plus the notebook and the same runner
`make notebooks` uses; its command installs papermill, then executes the notebook
with e's inputs and outputs as parameters. The executed notebook lands in the job's
`outputs/notebooks/` (Azure ML keeps ./outputs); a failing notebook fails the job."""

import shutil
from pathlib import Path
from typing import Any, Dict

from amlops.cloud import native
from amlops.cloud.packages import backend
from amlops.cloud.submission import Submission
from amlops.cloud.submit import Request, _finish
from amlops.cloud.tags import submission_tags
from amlops.errors import UserError
from amlops.jobspec import load_experiment
from amlops.local.resolve import parse_overrides
from amlops.notebooks.run import PAPERMILL, RUNNER
from amlops.project import Project


def notebook_path(project: Project, name: str) -> Path:
    """NB as a notebook under notebooks/ (a clear error otherwise)."""
    if not name:
        raise UserError("NB is required, e.g. make notebook-job NB=notebooks/explore.ipynb")
    path = (project.root / name).resolve()
    folder = (project.root / "notebooks").resolve()
    if path.suffix != ".ipynb" or folder not in path.parents or not path.is_file():
        raise UserError(f"NB={name!r}: expected an existing notebooks/<name>.ipynb")
    return path


def notebook_command(relative: str, job: Dict[str, Any]) -> str:
    """pip install papermill, then run the notebook with the job's inputs and outputs."""
    pairs = [f"{name} ${{{{inputs.{name}}}}}" for name in job.get("inputs", {})]
    pairs += [f"{name} ${{{{outputs.{name}}}}}" for name in job.get("outputs", {})]
    install = "python -m pip install --quiet " + " ".join(f"'{p}'" for p in PAPERMILL)
    return f"{install} && python {RUNNER.name} {relative} -- {' '.join(pairs)}"


def build_notebook_job(
    project: Project, req: Request, notebook: Path, sub: Submission
) -> Dict[str, Any]:
    spec = load_experiment(project, req.name)
    overrides = parse_overrides(req.inputs, spec)
    job = native.command_job(project, spec, req.name, sub, overrides, submission_tags(project.root))
    code = sub.folder / job["code"]
    relative = notebook.relative_to(project.root).as_posix()
    (code / relative).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(notebook, code / relative)
    shutil.copy2(RUNNER, code / RUNNER.name)
    job["command"] = notebook_command(relative, job)
    job["display_name"] = f"{notebook.stem} ({req.name})"
    job["tags"]["notebook"] = relative
    return job


def submit_notebook(project: Project, req: Request, name: str) -> int:
    notebook = notebook_path(project, name)
    sub = Submission(project, "notebooks", notebook.stem)
    if backend(project) == "v1":
        from amlops.cloud.v1.submit import submit_command_v1

        return submit_command_v1(
            project, req, sub, lambda: build_notebook_job(project, req, notebook, sub)
        )
    return _finish(project, sub, lambda: build_notebook_job(project, req, notebook, sub), req)
