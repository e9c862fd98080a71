"""Runs inside the experiment's environment (image or venv), copied into the staged code
by `make notebooks`: execute each notebook with papermill, write the executed copy and
results.json under $AMLOPS_LOG_DIR/notebooks/. Standard library + papermill only."""

import json
import os
import sys
import time
import traceback
from pathlib import Path


def execute(notebook: str, out: Path, parameters: dict) -> dict:
    """One notebook; its result (failure: the failing cell and its traceback)."""
    import papermill

    target = out / notebook
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    failure = None
    try:
        papermill.execute_notebook(
            notebook,
            str(target),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(Path(notebook).parent),
            progress_bar=False,
        )
    except papermill.PapermillExecutionError as err:
        failure = {
            "cell": err.exec_count,
            "error": f"{err.ename}: {err.evalue}",
            "traceback": "\n".join(err.traceback),
        }
    except Exception as err:  # a notebook that cannot even start (bad JSON, no kernel)
        failure = {
            "cell": None,
            "error": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(),
        }
    result = {"notebook": notebook, "seconds": round(time.time() - start, 2), "failure": failure}
    verdict = "ok" if failure is None else f"FAILED in cell {failure['cell']}: {failure['error']}"
    print(f"notebook {notebook}: {verdict} ({result['seconds']}s)", flush=True)
    return result


def _value(text: str):
    """A command-line parameter typed like JSON (7 -> 7, true -> True), else a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv: list) -> int:
    """argv: notebooks, then optionally `--` and `name value` parameter pairs (Azure ML
    jobs pass their inputs and outputs that way, each value a whole argument as SDK v1
    needs; `make notebooks` passes them in the environment)."""
    notebooks, _, pairs = _split(argv)
    # Azure ML keeps ./outputs as job artifacts; locally the run's logs folder is used
    out = Path(os.environ.get("AMLOPS_LOG_DIR", "outputs")) / "notebooks"
    parameters = json.loads(os.environ.get("AMLOPS_NOTEBOOK_PARAMETERS", "{}"))
    for name, value in zip(pairs[::2], pairs[1::2]):
        parameters[name] = _value(value)
    out.mkdir(parents=True, exist_ok=True)
    results = [execute(notebook, out, parameters) for notebook in notebooks]
    (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 1 if any(r["failure"] for r in results) else 0


def _split(argv: list) -> tuple:
    if "--" not in argv:
        return argv, None, []
    cut = argv.index("--")
    return argv[:cut], "--", argv[cut + 1 :]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
