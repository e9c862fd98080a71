"""`make notebooks`: execute every notebook under notebooks/ in an experiment's
environment (its image, or the venv runtime) with papermill, exactly like `make
local` runs that experiment: the same staged code, read-only inputs and fresh
outputs. Each notebook's `parameters` cell receives the experiment's inputs and
outputs (as the paths the environment sees) and literals.

The run folder `.runs/notebooks/<run-id>/` keeps the executed copies
(`notebooks/`), `junit.xml` (one test case per notebook; a failure carries the
failing cell's traceback) and the log. Any failing notebook fails the target."""

import json
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List
from xml.etree import ElementTree

from amlops.console import log_tail, say, strip_ansi, verbose
from amlops.errors import UserError
from amlops.local.run import prepare_run
from amlops.local.runtime_choice import prepared_runtime
from amlops.project import Project
from amlops.runs import RunRecord
from amlops.spec.job import load_experiment
from amlops.tracking.local import start_run
from amlops.yamlfile import literal_value

PAPERMILL = ["papermill>=2.5", "ipykernel>=6"]
RUNNER = Path(__file__).with_name("notebook_runner.py")
SKIPPED = {".ipynb_checkpoints"}


def find_notebooks(project: Project) -> List[Path]:
    """Every notebook under notebooks/ (checkpoints skipped), sorted."""
    folder = project.root / "notebooks"
    found = sorted(
        path
        for path in folder.rglob("*.ipynb")
        if not SKIPPED.intersection(path.relative_to(folder).parts)
    )
    if not found:
        raise UserError("make notebooks: no notebooks under notebooks/")
    return found


def junit_xml(results: List[Dict[str, Any]]) -> str:
    """A JUnit report: one test case per notebook, the failing cell's traceback as failure."""
    failures = [r for r in results if r["failure"]]
    suite = ElementTree.Element(
        "testsuite",
        name="notebooks",
        tests=str(len(results)),
        failures=str(len(failures)),
        time=f"{sum(r['seconds'] for r in results):.2f}",
    )
    for result in results:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname="notebooks",
            name=result["notebook"],
            time=f"{result['seconds']:.2f}",
        )
        if result["failure"]:
            failure = result["failure"]
            node = ElementTree.SubElement(
                case, "failure", message=f"cell {failure['cell']}: {failure['error']}"
            )
            node.text = strip_ansi(failure["traceback"])
    return ElementTree.tostring(suite, encoding="unicode") + "\n"


def notebook_parameters(job: Any) -> Dict[str, Any]:
    """The experiment's inputs/outputs (paths as the environment sees them) and literals."""
    parameters: Dict[str, Any] = {k: literal_value(v) for k, v in job.literals.items()}
    for name, binding in {**job.inputs, **job.outputs}.items():
        parameters[name] = binding.target
    return parameters


def run_notebooks(project: Project, experiment: str, runtime_choice: str) -> int:
    notebooks = find_notebooks(project)
    spec = load_experiment(project, experiment)
    runtime = prepared_runtime(project, spec, runtime_choice)
    tagged = runtime.with_packages("notebooks", PAPERMILL)
    if tagged:  # Docker: run in the experiment image plus papermill
        runtime.tag = tagged
    run_dir, job = prepare_run(project, spec, {}, runtime.in_container, runs_under="notebooks")
    code_dir = run_dir / "src"
    shutil.copytree(project.root / "notebooks", code_dir / "notebooks", ignore=_ignored)
    shutil.copy2(RUNNER, code_dir / RUNNER.name)
    relative = [path.relative_to(project.root).as_posix() for path in notebooks]
    job.command = " ".join(["python", RUNNER.name, *relative])
    job.argv = ["bash", "-c", job.command]
    # One MLflow run for the set (experiment <project>-notebooks): mlflow calls in the
    # notebooks' kernels log to it.
    tracked = start_run(
        project,
        spec,
        run_dir,
        runtime,
        job.literals,
        {"amlops.kind": "notebooks", "amlops.notebooks": " ".join(relative)},
        experiment=f"{project.slug}-notebooks",
    )
    env = {**spec.environment_variables, **tracked.env}
    env["AMLOPS_NOTEBOOK_PARAMETERS"] = json.dumps(notebook_parameters(job))
    shown = project.relative(run_dir)
    say(f"{len(notebooks)} notebook(s) in {runtime.describe()} (experiment {experiment}); {shown}")
    record = RunRecord(
        run_dir,
        experiment=experiment,
        kind="notebooks",
        runtime=runtime.name,
        notebooks=relative,
        tracking=tracked.record,
    )
    # papermill's and Jupyter's chatter (unknown parameters, path migration warnings, a
    # kernel's KeyboardInterrupt at shutdown) stays in the log; one line per notebook here
    code = runtime.run(job, run_dir, env, echo=verbose())
    results = _collect(run_dir)
    if not verbose():
        for result in results:
            print(_verdict(result), flush=True)  # as the runner prints it (VERBOSE=1)
        if code and not results:  # the runner itself failed: its own last words
            print(log_tail(run_dir / "logs" / "std_log.txt"), file=sys.stderr, flush=True)
    report = run_dir / "junit.xml"
    report.write_text(junit_xml(results), encoding="utf-8")
    failed = [r["notebook"] for r in results if r["failure"]]
    record.data["failed"] = failed
    record.finish(code or (1 if failed else 0))
    tracked.finish(record.data["status"])
    say(f"executed notebooks: {shown}/notebooks; report: {shown}/junit.xml")
    if failed or code:
        problem = ", ".join(failed) or f"the runner exited {code}"
        raise UserError(f"make notebooks: {problem}; log {shown}/logs/std_log.txt")
    return 0


def _verdict(result: Dict[str, Any]) -> str:
    """`notebook notebooks/x.ipynb: ok (1.2s)`, or the failing cell and error."""
    failure = result["failure"]
    verdict = "ok" if not failure else f"FAILED in cell {failure['cell']}: {failure['error']}"
    return f"notebook {result['notebook']}: {verdict} ({result['seconds']}s)"


def _ignored(folder: str, names: List[str]) -> List[str]:
    return [name for name in names if name in SKIPPED]


def _collect(run_dir: Path) -> List[Dict[str, Any]]:
    """Move the executed copies into the run folder; the runner's results."""
    written = run_dir / "logs" / "notebooks"
    results_file = written / "results.json"
    if not results_file.is_file():
        return []
    results = json.loads(results_file.read_text(encoding="utf-8"))
    target = run_dir / "notebooks"
    for result in results:
        source = written / result["notebook"]
        if source.is_file():
            destination = target / Path(result["notebook"]).relative_to("notebooks")
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), destination)
    return results
