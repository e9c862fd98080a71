"""`make notebook-job NB=notebooks/x.ipynb EXP=e`: one notebook as an Azure ML command
job in experiment e's environment (its Docker context) and compute, on e's inputs.

The job's code is e's staged snapshot plus the notebook and the same runner
`make notebooks` uses; its command executes the notebook with e's inputs and
outputs as parameters. Papermill is added to the staged copy of e's Dockerfile, so
Azure ML builds it into the job's image, like the local `<tag>-notebooks` image,
and the compute needs no network at job start; only for an environment that is not
a build context (a registered one, or an image) is it pip-installed by the command.
The executed notebook lands in the job's `outputs/notebooks/` (Azure ML keeps
./outputs); a failing notebook fails the job."""

import shlex
import shutil
from pathlib import Path
from typing import Any, Dict

from amlops.cloud import native
from amlops.cloud.packages import backend
from amlops.cloud.submission import Submission
from amlops.cloud.submit import Request, _finish
from amlops.cloud.tags import submission_tags
from amlops.errors import UserError
from amlops.inputs import parse_overrides
from amlops.local.images import pip_install_layer
from amlops.notebooks.run import PAPERMILL, RUNNER
from amlops.project import Project
from amlops.spec.job import load_experiment


def notebook_path(project: Project, name: str) -> Path:
    """NB as a notebook under notebooks/ (a clear error otherwise)."""
    if not name:
        raise UserError("NB is required, e.g. make notebook-job NB=notebooks/explore.ipynb")
    path = (project.root / name).resolve()
    folder = (project.root / "notebooks").resolve()
    if path.suffix != ".ipynb" or folder not in path.parents or not path.is_file():
        raise UserError(f"NB={name!r}: expected an existing notebooks/<name>.ipynb")
    return path


def add_papermill_to_image(sub: Submission, job: Dict[str, Any]) -> bool:
    """Append a papermill layer to the staged Dockerfile of the job's build context;
    False when the environment is not a local build context."""
    environment = job.get("environment")
    build = environment.get("build") if isinstance(environment, dict) else None
    if not isinstance(build, dict) or not build.get("path"):
        return False
    dockerfile = sub.folder / build["path"] / build.get("dockerfile_path", "Dockerfile")
    text = dockerfile.read_text(encoding="utf-8").rstrip("\n")
    layer = pip_install_layer(PAPERMILL)
    dockerfile.write_text(f"{text}\n\n# added by make notebook-job\n{layer}\n", encoding="utf-8")
    return True


def notebook_command(relative: str, job: Dict[str, Any], install: bool) -> str:
    """Run the notebook with the job's inputs and outputs (pip install papermill first
    when `install`)."""
    pairs = [f"{name} ${{{{inputs.{name}}}}}" for name in job.get("inputs", {})]
    pairs += [f"{name} ${{{{outputs.{name}}}}}" for name in job.get("outputs", {})]
    run = f"python {RUNNER.name} {relative} -- {' '.join(pairs)}"
    if not install:
        return run
    return f"python -m pip install --quiet {shlex.join(PAPERMILL)} && {run}"


def build_notebook_job(
    project: Project, req: Request, notebook: Path, sub: Submission
) -> Dict[str, Any]:
    spec = load_experiment(project, req.name)
    overrides = parse_overrides(req.inputs, spec)
    job = native.command_job(project, spec, sub, overrides, submission_tags(project.root))
    if "code" not in job:  # a job without code: the notebook and runner need one
        job["code"] = "code/notebook"
    code = sub.folder / job["code"]
    code.mkdir(parents=True, exist_ok=True)
    relative = notebook.relative_to(project.root).as_posix()
    (code / relative).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(notebook, code / relative)
    shutil.copy2(RUNNER, code / RUNNER.name)
    in_image = add_papermill_to_image(sub, job)
    job["command"] = notebook_command(relative, job, install=not in_image)
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
