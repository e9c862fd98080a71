"""Parallel jobs and batch model deployments run locally with real worker processes
(amlops/parallel/driver.py): a parallelJob file with make local, a batch deployment with
make batch-score, and the bad inputs each one line with nothing started. The rules
asserted are Azure ML's (see the driver's docstring): each returned element is one
successful item; a mini-batch whose run() raises fails all its items."""

import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Dict, List

import pytest

from tests.helpers import Baked, error_lines, run_processes

CASE = Path(__file__).resolve().parent / "cases" / "native" / "parallel_node"

PARALLEL_JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/parallelJob.schema.json
type: parallel
inputs:
  pages:
    type: uri_folder
    path: ./pages
outputs:
  counts:
    type: uri_folder
input_data: ${{inputs.pages}}
mini_batch_size: "MINI_BATCH"
error_threshold: ERRORS
max_concurrency_per_instance: 2
retry_settings:
  max_retries: 2
  timeout: TIMEOUT
task:
  type: run_function
  code: ./code
  entry_script: count.py
  environment:
    image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
  append_row_to: ${{outputs.counts}}
"""

# The case's count.py, plus a line per init() (with the worker's pid) on its stdout.
COUNTING_INIT = """\
import os
import pathlib
import time


def init():
    print(f"init pid={os.getpid()}", flush=True)


def run(mini_batch):
    rows = []
    for path in mini_batch:
        text = pathlib.Path(path).read_text(encoding="utf-8")
        rows.append(f"{pathlib.Path(path).name},{len(text.split())}")
    return rows
"""


def add_parallel_job(
    project: Baked, name: str = "pcount", mini_batch: str = "1", errors: int = 1, timeout: int = 30
) -> Path:
    folder = project.path / "src" / name
    shutil.copytree(CASE / "pages", folder / "pages")
    shutil.copytree(CASE / "code", folder / "code")
    (folder / "code" / "count.py").write_text(COUNTING_INIT)
    text = PARALLEL_JOB.replace("MINI_BATCH", mini_batch).replace("ERRORS", str(errors))
    (folder / "job.yaml").write_text(text.replace("TIMEOUT", str(timeout)))
    return folder


def rows(run_dir: Path) -> List[str]:
    return sorted((run_dir / "outputs" / "counts" / "parallel_run_step.txt").read_text().split())


def init_lines(run_dir: Path) -> Dict[str, List[str]]:
    folder = run_dir / "logs" / "user" / "stdout" / "0"
    return {
        p.name: [line for line in p.read_text().splitlines() if line.startswith("init pid=")]
        for p in sorted(folder.glob("process*.stdout.txt"))
    }


def driver_processes(run_dir: Path) -> List[str]:
    """Processes still running from this run's code root."""
    listing = subprocess.run(
        ["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True
    ).stdout
    return [line for line in listing.splitlines() if str(run_dir) in line and "ps -eo" not in line]


def test_parallel_job_within_error_threshold_completes_and_counts_the_failed_item(baked):
    add_parallel_job(baked, mini_batch="1", errors=1)
    result = baked.make("local", EXP="pcount", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = baked.latest_run("pcount")
    assert rows(run_dir) == [f"p{i}.txt,{i}" for i in range(1, 6)]
    assert "parallel: 6/6 mini-batches done, 1 failed (1 failed items)" in result.stdout
    # the failing mini-batch was tried max_retries (2) times, then counted once
    assert result.stdout.count("mini-batch 0 (bad.txt) failed, try") == 2
    assert "5 items succeeded, 1 failed" in result.stdout
    # init() once per worker process: two workers, one init each, no other
    inits = init_lines(run_dir)
    assert len(inits) == 2 and all(len(found) == 1 for found in inits.values()), inits
    # the failing item's error is in the log of whichever worker process ran it
    errors = (run_dir / "logs" / "user" / "error" / "0").glob("process*.txt")
    assert "UnicodeDecodeError" in "".join(p.read_text() for p in errors)
    assert (run_dir / "logs" / "job_result.txt").read_text().startswith("completed")
    assert '"status": "completed"' in (run_dir / "run.json").read_text().replace(": ", ": ")
    assert not driver_processes(run_dir)


def test_append_row_to_a_uri_file_output_writes_that_file(baked):
    # a uri_file output is the file itself (not a folder holding parallel_run_step.txt)
    folder = add_parallel_job(baked, mini_batch="1", errors=1)
    job = folder / "job.yaml"
    job.write_text(
        job.read_text().replace("  counts:\n    type: uri_folder", "  counts:\n    type: uri_file")
    )
    result = baked.make("local", EXP="pcount", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    written = [
        p for p in (baked.latest_run("pcount") / "outputs" / "counts").rglob("*") if p.is_file()
    ]
    assert [p.relative_to(baked.latest_run("pcount") / "outputs").as_posix() for p in written] == [
        "counts/counts"
    ]
    assert sorted(written[0].read_text().split()) == [f"p{i}.txt,{i}" for i in range(1, 6)]


def test_parallel_job_beyond_error_threshold_fails(baked):
    add_parallel_job(baked, mini_batch="1", errors=0)
    result = baked.make("local", EXP="pcount", RUNTIME="venv")
    assert result.returncode != 0
    assert "parallel job FAILED: 1 failed items > error_threshold 0" in result.stdout
    run_dir = baked.latest_run("pcount")
    assert (run_dir / "logs" / "job_result.txt").read_text().startswith("FAILED")
    assert not driver_processes(run_dir)


def test_a_raising_mini_batch_fails_all_its_items_as_azure_counts_them(baked):
    """The case's mini-batches of 2: run() raises on bad.txt, so its whole mini-batch
    (bad.txt and p1.txt) fails: 2 failed items > error_threshold 1."""
    add_parallel_job(baked, mini_batch="2", errors=1)
    result = baked.make("local", EXP="pcount", RUNTIME="venv")
    assert result.returncode != 0
    assert "2 failed items > error_threshold 1" in result.stdout
    appended = rows(baked.latest_run("pcount"))
    assert "p1.txt,1" not in appended  # failed with bad.txt in its mini-batch
    assert set(appended) <= {f"p{i}.txt,{i}" for i in range(2, 6)}


def test_a_timed_out_mini_batch_is_retried_in_a_fresh_worker(baked):
    folder = add_parallel_job(baked, mini_batch="1", errors=1, timeout=3)
    (folder / "pages" / "bad.txt").unlink()
    (folder / "code" / "count.py").write_text(
        COUNTING_INIT.replace(
            "    rows = []\n",
            textwrap.indent(
                textwrap.dedent("""\
                    marker = pathlib.Path(os.environ["AZURE_ML_OUTPUT_counts"]) / "slept"
                    if any(pathlib.Path(p).name == "p3.txt" for p in mini_batch):
                        if not marker.exists():
                            marker.write_text("x")
                            time.sleep(60)
                    rows = []
                    """),
                "    ",
            ),
        )
    )
    result = baked.make("local", EXP="pcount", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = baked.latest_run("pcount")
    assert "(p3.txt) failed, try 1/2: timed out after 3.0s" in result.stdout
    assert "5/5 mini-batches done, 0 failed" in result.stdout
    assert sorted(rows(run_dir)) == [f"p{i}.txt,{i}" for i in range(1, 6)]
    # the timed-out worker was killed and replaced: a third init()
    assert sum(len(found) for found in init_lines(run_dir).values()) == 3
    assert not driver_processes(run_dir)


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            lambda f: (f / "code" / "count.py").write_text("def init():\n    pass\n"),
            "src/pcount/job.yaml:20: task.entry_script ./code/count.py defines no run():",
        ),
        (
            lambda f: (f / "job.yaml").write_text(
                (f / "job.yaml").read_text().replace('"1"', '"ten"')
            ),
            "src/pcount/job.yaml:11: mini_batch_size 'ten' does not parse",
        ),
        (
            lambda f: (f / "code" / "count.py").unlink(),
            "src/pcount/job.yaml:20: task.entry_script: ./code/count.py does not exist",
        ),
        (
            lambda f: (f / "job.yaml").write_text(
                (f / "job.yaml").read_text().replace("type: uri_folder", "type: mltable", 1)
            ),
            "src/pcount/job.yaml: input_data is an mltable (tabular) input:",
        ),
    ],
    ids=["no-run", "mini-batch-size", "no-entry-file", "mltable"],
)
def test_bad_parallel_inputs_are_one_line_and_start_nothing(baked, change, expected):
    folder = add_parallel_job(baked)
    change(folder)
    result = baked.make("local", EXP="pcount", RUNTIME="venv")
    assert result.returncode != 0
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (baked.path / ".runs" / "pcount").exists()


def test_make_job_refuses_a_standalone_parallel_job_in_one_line(baked):
    add_parallel_job(baked)
    result = baked.make("job", EXP="pcount", DRY_RUN="1")
    assert result.returncode != 0
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "only as pipeline nodes" in lines[0], result.stderr


BATCH_DEPLOYMENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json
name: classifier
endpoint_name: scorer
type: model
model:
  name: lengths
  path: ./model
code_configuration:
  code: ./code
  scoring_script: score.py
environment:
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
compute: azureml:batch-cluster
resources:
  instance_count: 1
settings:
  max_concurrency_per_instance: 2
  mini_batch_size: 2
  output_action: append_row
  retry_settings:
    max_retries: 3
    timeout: 30
  error_threshold: -1
  logging_level: info
"""

SCORE = """\
import os


def init():
    global factor
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "factor.txt")) as f:
        factor = int(f.read())


def run(mini_batch):
    rows = []
    for path in mini_batch:
        with open(path) as f:
            rows.append(f"{os.path.basename(path)} {len(f.read().split()) * factor}")
    return rows
"""


def test_batch_deployment_scores_a_folder_into_predictions_csv(baked):
    folder = baked.path / "endpoints" / "scorer"
    (folder / "code").mkdir(parents=True)
    (folder / "model").mkdir()
    (folder / "endpoint.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json\n"
        "name: scorer\nauth_mode: aad_token\n"
    )
    (folder / "deployment.yml").write_text(BATCH_DEPLOYMENT)
    (folder / "model" / "factor.txt").write_text("3\n")
    (folder / "code" / "score.py").write_text(SCORE)
    data = baked.path / "data" / "rows"
    data.mkdir(parents=True)
    for i in range(1, 6):
        (data / f"r{i}.txt").write_text(" ".join(["w"] * i) + "\n")
    result = baked.make("batch-score", ENDPOINT="scorer", INPUTS="data=data/rows", RUNTIME="venv")
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = baked.latest_run("scorer-classifier")
    predictions = run_dir / "outputs" / "score" / "predictions.csv"
    # hand computation: words x the model's factor 3, one space-separated row per file
    assert sorted(predictions.read_text().splitlines()) == [
        f"r{i}.txt {3 * i}" for i in range(1, 6)
    ]
    assert "3/3 mini-batches done, 0 failed" in result.stdout
    assert not list((baked.path / "endpoints").rglob("predictions.csv"))
    # the baked CI runs endpoint-test for every endpoint: a batch one is skipped in one line
    tested = baked.make("endpoint-test", ENDPOINT="scorer")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "scorer is a batch endpoint: endpoint-test checks online endpoints; skipped" in (
        tested.stdout + tested.stderr
    )

    (folder / "deployment.yml").write_text(
        BATCH_DEPLOYMENT.replace("path: ./model", "path: ./nope")
    )
    bad = baked.make("batch-score", ENDPOINT="scorer", INPUTS="data=data/rows", RUNTIME="venv")
    assert bad.returncode != 0
    lines = error_lines(bad.stderr)
    assert len(lines) == 1 and "deployment.yml:7: model.path './nope' does not exist" in lines[0]
    assert len(baked.run_dirs("scorer-classifier")) == 1


# -- pipelines -------------------------------------------------------------------------

TOTAL_NODE = """\
  total:
    type: command
    inputs:
      counts: ${{parent.jobs.count_words.outputs.counts}}
    outputs:
      result:
        type: uri_folder
    code: ./code
    command: >-
      python -c "import pathlib, sys;
      rows = pathlib.Path(sys.argv[1], 'parallel_run_step.txt').read_text().split();
      total = sum(int(r.split(',')[1]) for r in rows);
      pathlib.Path(sys.argv[2], 'total.txt').write_text(str(total))"
      ${{inputs.counts}} ${{outputs.result}}
    environment:
      image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
"""


def add_pipeline(
    project: Baked, name: str = "words", mini_batch: str = "2", errors: int = 1
) -> Path:
    """The shared case as pipelines/<name>.yml (its code/ and pages/ beside it)."""
    folder = project.path / "pipelines"
    for part in ("code", "pages"):
        if not (folder / part).exists():
            shutil.copytree(CASE / part, folder / part)
    text = (CASE / "pipeline.yml").read_text()
    text = text.replace('mini_batch_size: "2"', f'mini_batch_size: "{mini_batch}"')
    text = text.replace("    error_threshold: 1\n", f"    error_threshold: {errors}\n")
    path = folder / f"{name}.yml"
    path.write_text(text)
    return path


def pipeline_step_dir(project: Baked, pipeline: str, step: str) -> Path:
    return project.path / ".runs" / "pipelines" / pipeline / "latest" / step


def test_case_pipeline_is_sent_as_written_loads_with_load_job_and_runs_by_azure_rule(baked):
    from azure.ai.ml import load_job

    add_pipeline(baked)  # the case unchanged
    validate = baked.make("validate")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "ok pipelines/words.yml" in validate.stderr
    dry = baked.make("pipeline", PIPELINE="words", DRY_RUN="1")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    folder = (baked.path / dry.stdout.strip().splitlines()[-1]).parent
    node = load_job(folder / "job.yaml").jobs["count_words"]
    assert type(node).__name__ == "Parallel"
    assert (node.mini_batch_size, node.error_threshold, node.mini_batch_error_threshold) == (
        2,
        1,
        1,
    )
    assert node.max_concurrency_per_instance == 2
    assert node.task.entry_script == "count.py" and node.task.append_row_to == "${{outputs.counts}}"
    assert dict(node.retry_settings._to_dict()) == {"max_retries": 2, "timeout": 30}
    # the code sent is the user's only: amlops's local driver is not uploaded
    sent_code = [p.name for p in (folder / "code").rglob("*") if p.is_file()]
    assert sent_code == ["count.py"]
    # locally: bad.txt's mini-batch of 2 fails both its items, beyond error_threshold 1
    run = baked.make("pipeline-local", PIPELINE="words", RUNTIME="venv")
    assert run.returncode != 0
    assert "step 'count_words' failed" in run.stderr
    log = (pipeline_step_dir(baked, "words", "count_words") / "logs" / "std_log.txt").read_text()
    assert "2 failed items > error_threshold 1" in log
    # (how many other mini-batches finish before the abort depends on timing)
    assert "mini-batches done, 1 failed (2 failed items)" in log


def test_parallel_node_feeds_a_command_node(baked):
    path = add_pipeline(baked, mini_batch="1")
    path.write_text(path.read_text() + TOTAL_NODE)
    run = baked.make("pipeline-local", PIPELINE="words", RUNTIME="venv")
    assert run.returncode == 0, run.stdout + run.stderr
    counts = pipeline_step_dir(baked, "words", "count_words") / "outputs" / "counts"
    assert sorted((counts / "parallel_run_step.txt").read_text().split()) == [
        f"p{i}.txt,{i}" for i in range(1, 6)
    ]
    total = pipeline_step_dir(baked, "words", "total") / "outputs" / "result" / "total.txt"
    assert total.read_text() == "15"
    log = (pipeline_step_dir(baked, "words", "count_words") / "logs" / "std_log.txt").read_text()
    assert "6/6 mini-batches done, 1 failed (1 failed items)" in log
    # error_threshold 0: the node fails and the command node never runs
    path.write_text(
        path.read_text().replace("    error_threshold: 1\n", "    error_threshold: 0\n")
    )
    failed = baked.make("pipeline-local", PIPELINE="words", RUNTIME="venv")
    assert failed.returncode != 0
    assert "step 'count_words' failed" in failed.stderr
    assert not (pipeline_step_dir(baked, "words", "total") / "outputs").exists()


def test_a_tabular_mltable_node_says_in_one_line_that_it_cannot_run_here(baked):
    """Azure ML hands run() pandas DataFrames that the mltable package reads; that loader is
    not available offline here, so a parallel node over an mltable input says so in one
    line and nothing starts (validation and submission take it as written)."""
    path = add_pipeline(baked)
    path.write_text(
        path.read_text().replace(
            "type: uri_folder\n    path: ./pages", "type: mltable\n    path: ./pages"
        )
    )
    (path.parent / "pages" / "MLTable").write_text("paths:\n  - pattern: ./*.txt\n")
    result = baked.make("pipeline-local", PIPELINE="words", RUNTIME="venv")
    assert result.returncode != 0
    (line,) = error_lines(result.stderr)
    assert "step 'count_words': input_data is an mltable (tabular) input:" in line, line
    assert "not available offline here" in line, line
    assert not (baked.path / ".runs" / "pipelines").exists()


AUTOML_PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
settings:
  default_compute: azureml:cpu-cluster
inputs:
  training:
    type: mltable
    path: ./training
jobs:
  classify:
    type: automl
    task: classification
    primary_metric: accuracy
    target_column_name: y
    training_data: ${{parent.inputs.training}}
    limits:
      timeout_minutes: 60
    outputs:
      best_model:
        type: mlflow_model
  report:
    type: command
    inputs:
      model: ${{parent.jobs.classify.outputs.best_model}}
    outputs:
      summary:
        type: uri_folder
    command: ls ${{inputs.model}} > ${{outputs.summary}}/files.txt
    environment:
      image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
"""


def test_a_node_only_azure_runs_is_validated_sent_and_skipped_locally_with_given_outputs(baked):
    from azure.ai.ml import load_job

    training = baked.path / "pipelines" / "training"
    training.mkdir()
    (training / "MLTable").write_text("paths:\n  - file: ./train.csv\n")
    (training / "train.csv").write_text("a,y\n1,0\n")
    (baked.path / "pipelines" / "auto.yml").write_text(AUTOML_PIPELINE)
    validate = baked.make("validate")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "ok pipelines/auto.yml" in validate.stderr
    dry = baked.make("pipeline", PIPELINE="auto", DRY_RUN="1")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    written = (baked.path / dry.stdout.strip().splitlines()[-1]).parent / "job.yaml"
    assert type(load_job(written).jobs["classify"]).__name__ == "ClassificationJob"
    # without its outputs: one line, nothing started
    stopped = baked.make("pipeline-local", PIPELINE="auto", RUNTIME="venv")
    assert stopped.returncode != 0
    lines = error_lines(stopped.stderr)
    assert lines == [
        "error: step 'classify' (automl node) runs only in Azure ML (make pipeline): give its"
        ' outputs to run the rest here (INPUTS="classify.best_model=<path>")'
    ]
    assert not (baked.path / ".runs" / "pipelines" / "auto").exists()
    # with them: the rest runs on the given model
    model = baked.path / "data" / "model"
    model.mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    run = baked.make(
        "pipeline-local", PIPELINE="auto", RUNTIME="venv", INPUTS="classify.best_model=data/model"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "step 'classify' (automl node) runs only in Azure ML: not run here" in run.stderr
    files = pipeline_step_dir(baked, "auto", "report") / "outputs" / "summary" / "files.txt"
    assert files.read_text().split() == ["MLmodel"]


def test_ctrl_c_stops_the_driver_and_every_worker(baked):
    """SIGINT to amlops while workers are busy: exit 130, run recorded as interrupted,
    no driver or worker process left."""
    import signal
    import time

    folder = add_parallel_job(baked, mini_batch="1", errors=-1)
    (folder / "code" / "count.py").write_text(
        COUNTING_INIT.replace("    rows = []\n", "    time.sleep(120)\n    rows = []\n")
    )
    proc = baked.start("local", EXP="pcount", RUNTIME="venv")
    assert baked.wait_for(
        lambda: (
            any(
                len(found) for run in baked.run_dirs("pcount") for found in init_lines(run).values()
            )
            if baked.run_dirs("pcount")
            else False
        ),
        seconds=300,
    )
    run_dir = baked.latest_run("pcount")
    time.sleep(1)  # both workers inside run()
    assert driver_processes(run_dir)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert baked.wait_for(lambda: not driver_processes(run_dir), seconds=30), driver_processes(
        run_dir
    )
    assert '"status": "interrupted"' in (run_dir / "run.json").read_text()
    assert "Traceback" not in err


def test_ctrl_c_to_makes_process_group_leaves_no_driver_or_worker(baked):
    """Ctrl-C in a terminal: SIGINT to make and everything in its process group while the
    workers are inside run(); exit 130 recorded, no process of the run left."""
    import os
    import signal

    folder = add_parallel_job(baked, mini_batch="1", errors=-1)
    (folder / "code" / "count.py").write_text(
        COUNTING_INIT.replace("    rows = []\n", "    time.sleep(120)\n    rows = []\n")
    )
    proc = baked.start_make("local", EXP="pcount", RUNTIME="venv", TRACKING="0")
    try:
        assert baked.wait_for(lambda: baked.latest_run("pcount"), 300), "no run folder"
        run_dir = baked.latest_run("pcount")
        assert baked.wait_for(
            lambda: sum(len(found) for found in init_lines(run_dir).values()) == 2, 300
        )
        assert len(run_processes(run_dir)) >= 3, run_processes(run_dir)  # driver + 2 workers
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)
        assert baked.wait_for(lambda: not run_processes(run_dir), 60), run_processes(run_dir)
        assert baked.wait_for(
            lambda: '"status": "interrupted"' in (run_dir / "run.json").read_text(), 30
        )
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
