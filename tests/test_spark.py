"""Spark job files (sparkJob schema) and `type: spark` pipeline nodes run on a real local
Spark (pyspark from PyPI in the venv runtime, the system's Java) and are sent unchanged by
DRY_RUN (amlops/spec/spark.py). The cases are tests/cases/native/spark_job: a word count
whose counts are to=2, be=2, the rest 1; its conf asks 1 driver core + 1 executor x 2
cores, so local[3]; and tests/cases/native/spark_pipeline: the same word count as a spark
component node feeding a command node that totals the counts (10 words). Every Spark run
here uses the same requirements (pyspark 3.4.*), so the venv (~310 MB) is built once per
test session, in the shared VENV_DIR, whichever test comes first."""

import json
import os
import shutil
import signal
import sys
from dataclasses import replace

import pytest
import yaml

from tests.helpers import TEMPLATE_PROJECT, Baked, error_lines, run_processes
from tests.native_support import CASES, add_case, dry_run_folder, edit_yaml, sent, unchanged_fields

PIPELINE_CASE = CASES / "spark_pipeline"


@pytest.fixture(autouse=True)
def quick_jvm(monkeypatch):
    """The JVMs these tests start compile less and collect garbage simply: a word count
    then takes ~18 s of CPU instead of ~31 s (measured on 2 loaded cores). A test
    setting only: amlops passes no JVM options of its own."""
    monkeypatch.setenv("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


def require_java() -> None:
    """Skip where there is no Java runtime and CI is unset (.ci/run installs one; in CI a
    missing Java fails the test instead)."""
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")) and not os.environ.get("CI"):
        pytest.skip("no Java runtime on this machine (apt install default-jre-headless)")


def test_spark_job_counts_words_on_local_spark(baked: Baked):
    require_java()
    add_case(baked, "spark_job")
    done = baked.make("local", EXP="spark_job", RUNTIME="venv", TRACKING="0")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = baked.latest_run("spark_job")
    counts = {}
    for part in (run / "outputs" / "counts").glob("part-*.csv"):
        for line in part.read_text().split():
            word, count = line.split(",")
            counts[word] = int(count)
    assert counts["to"] == 2 and counts["be"] == 2, counts
    assert set(counts.values()) == {1, 2} and len(counts) > 2, counts
    command = json.loads((run / "run.json").read_text())["command"]
    assert command.startswith("spark-submit --master local[3] "), command
    assert "--conf spark.driver.memory=2g" in command and " wordcount.py --text " in command
    assert f"--counts {run / 'outputs' / 'counts'}" in command
    said = done.stderr + done.stdout
    assert "$ spark-submit --master local[3] " in said
    assert "venv for a Spark job: pyspark==3.4.* and the system's Java" in said
    assert "differs from Azure's serverless Spark" in said and "no abfss://" in said
    assert "not applied locally: identity (user_identity" in said
    # Spark's INFO lines go to logs/spark.log only; the terminal gets its warnings
    assert " INFO " not in said and " INFO " not in (run / "logs" / "std_log.txt").read_text()
    assert (
        "INFO SparkContext: Running Spark version 3.4" in (run / "logs" / "spark.log").read_text()
    )
    assert "logs/spark.log (VERBOSE=1 shows it)" in said


def test_spark_dry_run_sends_the_file_unchanged(baked: Baked):
    from azure.ai.ml import load_job

    add_case(baked, "spark_job")
    done = baked.make("job", EXP="spark_job", DRY_RUN="1")
    assert done.returncode == 0, done.stderr
    native = sent(baked, done)
    source = yaml.safe_load((CASES / "spark_job" / "job.yml").read_text())
    assert unchanged_fields(source, native) == []
    assert native["$schema"].endswith("/sparkJob.schema.json") and "environment" not in native
    folder = dry_run_folder(baked, done)
    assert (folder / native["code"] / "wordcount.py").is_file()
    job = load_job(folder / "job.yaml")
    assert type(job).__name__ == "Spark"
    assert (job.driver_cores, job.executor_cores, job.executor_instances) == (1, 2, 1)
    assert job.entry.entry == "wordcount.py" and job.resources.runtime_version == "3.4"


def test_spark_without_java_is_one_line(baked: Baked, tmp_path):
    add_case(baked, "spark_job")
    baked.env["JAVA_HOME"] = str(tmp_path / "no-java")
    done = baked.make("local", EXP="spark_job", RUNTIME="venv")
    assert done.returncode != 0
    (line,) = error_lines(done.stderr)
    assert "Spark needs a Java runtime: install openjdk-17-jre-headless" in line, line
    assert not (baked.path / ".runs" / "spark_job").exists()


def test_spark_bad_conf_and_docker_are_one_line(baked: Baked):
    folder = add_case(baked, "spark_job")
    docker = baked.make("local", EXP="spark_job", RUNTIME="docker")
    (line,) = error_lines(docker.stderr)
    assert "Spark jobs run in the venv runtime here" in line, line
    edit_yaml(folder / "job.yml", lambda d: d["conf"].pop("spark.executor.instances"))
    bad = baked.make("local", EXP="spark_job", RUNTIME="venv")
    (line,) = error_lines(bad.stderr)
    assert "job.yml" in line and "spark.executor.instances required" in line, line
    assert not (baked.path / ".runs" / "spark_job").exists()


def test_spark_dry_run_sends_its_own_environment_not_the_local_pyspark(baked: Baked):
    folder = add_case(baked, "spark_job")
    (folder / "env.yml").write_text("dependencies:\n  - pip:\n      - tabulate\n")
    image = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    edit_yaml(
        folder / "job.yml",
        lambda d: d.update(environment={"image": image, "conda_file": "env.yml"}),
    )
    native = sent(baked, baked.make("job", EXP="spark_job", DRY_RUN="1"))
    assert native["environment"]["image"] == image
    assert native["environment"]["conda_file"].endswith("env.yml")
    assert "pyspark" not in str(native)


def test_spark_missing_entry_file_is_one_line(baked: Baked):
    folder = add_case(baked, "spark_job")
    (folder / "src" / "wordcount.py").unlink()
    done = baked.make("local", EXP="spark_job", RUNTIME="venv")
    (line,) = error_lines(done.stderr)
    assert "entry.file: ./src/wordcount.py does not exist" in line, line


def add_spark_pipeline(baked: Baked, name: str = "spark") -> "os.PathLike[str]":
    """The spark_pipeline case as pipelines/<name>.yml (its component, code and data beside)."""
    folder = baked.path / "pipelines"
    for part in ("src", "data", "wordcount_component.yml"):
        source = PIPELINE_CASE / part
        if source.is_dir():
            shutil.copytree(source, folder / part)
        else:
            shutil.copy(source, folder / part)
    path = folder / f"{name}.yml"
    shutil.copy(PIPELINE_CASE / "pipeline.yml", path)
    return path


def test_a_spark_node_feeds_a_command_node_is_reused_and_runs_alone_with_step_local(baked: Baked):
    require_java()
    add_spark_pipeline(baked)
    first = baked.make("pipeline-local", PIPELINE="spark", RUNTIME="venv", TRACKING="0")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    latest = baked.path / ".runs" / "pipelines" / "spark" / "latest"
    assert (latest / "total" / "outputs" / "total" / "total.txt").read_text().split() == ["10"]
    command = json.loads((latest / "count" / "run.json").read_text())["command"]
    assert command.startswith("spark-submit --master local[3] "), command
    assert "--conf spark.dynamicAllocation.maxExecutors=1" in command
    assert " wordcount.py --text " in command and "/pipelines/data/sample.txt" in command
    assert "step count: venv for a Spark job: pyspark==3.4.*" in first.stderr
    assert "step count: spark: differs from Azure's serverless Spark" in first.stderr
    log = (latest / "count" / "logs" / "std_log.txt").read_text()
    assert (
        " INFO " not in log
        and "Running Spark version" in (latest / "count" / "logs" / "spark.log").read_text()
    )
    # unchanged: both nodes reused, nothing started
    second = baked.make("pipeline-local", PIPELINE="spark", RUNTIME="venv", TRACKING="0")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "pipeline spark: 2 reused" in second.stdout, second.stdout
    # the node alone, on the pipeline's input; VERBOSE=1 streams Spark's whole log
    alone = baked.make("step-local", PIPELINE="spark", STEP="count", TRACKING="0", VERBOSE="1")
    assert alone.returncode == 0, alone.stdout[-3000:] + alone.stderr[-3000:]
    assert "INFO SparkContext: Running Spark version 3.4" in alone.stdout
    run = baked.latest_run("word_count")
    counts = {}
    for part in (run / "outputs" / "counts").glob("part-*.csv"):
        for line in part.read_text().split():
            word, count = line.split(",")
            counts[word] = int(count)
    assert counts["to"] == 2 and sum(counts.values()) == 10, counts


INLINE_NODE = """\
  inline_count:
    type: spark
    code: ./src
    entry:
      file: wordcount.py
    inputs:
      text:
        type: uri_file
        path: ./data/sample.txt
        mode: direct
    outputs:
      counts:
        type: uri_folder
        mode: direct
    args: >-
      --text ${{inputs.text}} --counts ${{outputs.counts}}
    conf:
      spark.driver.cores: 1
      spark.driver.memory: 2g
      spark.executor.cores: 1
      spark.executor.memory: 2g
      spark.executor.instances: 1
    resources:
      instance_type: standard_e4s_v3
      runtime_version: "3.4"
"""


def test_spark_nodes_are_sent_as_written_and_planned_to_run_here(baked: Baked):
    from azure.ai.ml import load_job

    path = add_spark_pipeline(baked)
    path.write_text(path.read_text() + INLINE_NODE)
    dry = baked.make("pipeline", PIPELINE="spark", DRY_RUN="1")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    folder = (baked.path / dry.stdout.strip().splitlines()[-1]).parent
    written = yaml.safe_load((folder / "job.yaml").read_text())
    source = yaml.safe_load(path.read_text())
    # every field as written (code staged; the component written beside the job)
    assert unchanged_fields(source["jobs"]["count"], written["jobs"]["count"]) == ["component"]
    assert unchanged_fields(source["jobs"]["inline_count"], written["jobs"]["inline_count"]) == []
    assert "compute" not in written["jobs"]["count"]  # serverless Spark: chosen by resources
    component = yaml.safe_load((folder / written["jobs"]["count"]["component"]).read_text())
    original = yaml.safe_load((PIPELINE_CASE / "wordcount_component.yml").read_text())
    assert unchanged_fields(original, component) == []
    assert (folder / component["code"] / "wordcount.py").is_file()
    assert (folder / written["jobs"]["inline_count"]["code"] / "wordcount.py").is_file()
    job = load_job(folder / "job.yaml")
    for name in ("count", "inline_count"):
        node = job.jobs[name]
        assert type(node).__name__ == "Spark" and node.entry.entry == "wordcount.py", name
        assert node.resources.runtime_version == "3.4"
    assert job.jobs["count"].dynamic_allocation_max_executors == 1
    assert job.jobs["inline_count"].executor_instances == 1
    plan = baked.make("pipeline-local", PIPELINE="spark", DRY_RUN="1")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    # RUNTIME=auto: the Spark nodes in a venv, the command node in Docker where it answers
    header = plan.stdout.splitlines()[0]
    assert header.endswith(("(venv runtime):", "(docker (venv: count, inline_count) runtime):"))
    assert "inline_count  run   (no earlier run)" in plan.stdout


def test_a_spark_node_that_cannot_run_here_is_one_line_before_anything_starts(
    baked: Baked, tmp_path
):
    path = add_spark_pipeline(baked)
    docker = baked.make("pipeline-local", PIPELINE="spark", RUNTIME="docker")
    (line,) = error_lines(docker.stderr)
    assert "RUNTIME=docker: step 'count' is a Spark node" in line, line
    baked.env["JAVA_HOME"] = str(tmp_path / "no-java")
    java = baked.make("pipeline-local", PIPELINE="spark", RUNTIME="venv")
    (line,) = error_lines(java.stderr)
    assert "step 'count' (spark component word_count): Spark needs a Java runtime" in line, line
    path.write_text(path.read_text().replace('runtime_version: "3.4"', "runtime_version: three"))
    bad = baked.make("pipeline-local", PIPELINE="spark", RUNTIME="venv")
    (line,) = error_lines(bad.stderr)
    assert "pipelines/spark.yml:28: resources.runtime_version: give a Spark version" in line, line
    assert not (baked.path / ".runs" / "pipelines").exists()


SLOW_TASKS = """\
import argparse
import os
import time

from pyspark.sql import SparkSession

parser = argparse.ArgumentParser()
parser.add_argument("--text")
parser.add_argument("--counts")
args = parser.parse_args()
os.makedirs(args.counts, exist_ok=True)
spark = SparkSession.builder.getOrCreate()


def slow(item):
    open(os.path.join(args.counts, f"task-{item}-started"), "w").close()
    time.sleep(600)
    return item


spark.sparkContext.parallelize(range(2), 2).map(slow).collect()
"""


def test_sigterm_to_make_stops_spark_its_jvm_and_every_python_worker(baked: Baked):
    """What `timeout` and a CI cancel do: TERM to make's whole process group while Spark's
    Python workers run tasks; nothing of the run survives and it is recorded interrupted."""
    require_java()
    folder = add_case(baked, "spark_job")
    (folder / "src" / "wordcount.py").write_text(SLOW_TASKS)
    proc = baked.start_make("local", EXP="spark_job", RUNTIME="venv", TRACKING="0")
    try:
        assert baked.wait_for(lambda: baked.latest_run("spark_job"), 300), "no run folder"
        run = baked.latest_run("spark_job")
        started = run / "outputs" / "counts"
        assert baked.wait_for(lambda: len(list(started.glob("task-*-started"))) == 2, 300)
        running = run_processes(run)
        assert any("SparkSubmit" in line for line in running), running
        assert sum("pyspark" in line and "daemon" in line for line in running) >= 2, running
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=60)
        assert baked.wait_for(lambda: not run_processes(run), 60), run_processes(run)
        assert baked.wait_for(lambda: '"interrupted"' in (run / "run.json").read_text(), 30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def test_a_users_own_spark_log_settings_are_left_alone(monkeypatch):
    """amlops's quiet log4j2.properties (SPARK_CONF_DIR) is added only where the user set
    no log settings of their own: none when the job's environment_variables or the shell
    set SPARK_CONF_DIR, or its conf names a log4j option (which would win anyway: a -D
    system property beats a configuration found on the classpath)."""
    sys.path.insert(0, str(TEMPLATE_PROJECT))
    from amlops.local.run import SPARK_CONF_DIR, spark_variables
    from amlops.spec.job import load_job

    monkeypatch.delenv("SPARK_CONF_DIR", raising=False)
    monkeypatch.delenv("VERBOSE", raising=False)
    job = load_job(CASES / "spark_job" / "job.yml")
    assert (SPARK_CONF_DIR / "log4j2.properties").is_file()
    assert spark_variables(job) == {
        "SPARK_CONF_DIR": str(SPARK_CONF_DIR),
        "AMLOPS_SPARK_CONSOLE_LEVEL": "warn",
    }
    monkeypatch.setenv("VERBOSE", "1")
    assert spark_variables(job)["AMLOPS_SPARK_CONSOLE_LEVEL"] == "info"
    options = "-Dlog4j2.configurationFile=mine.properties"
    own_conf = replace(job.spark, conf={**job.spark.conf, "spark.driver.extraJavaOptions": options})
    assert spark_variables(replace(job, spark=own_conf)) == {}
    assert spark_variables(replace(job, environment_variables={"SPARK_CONF_DIR": "conf"})) == {}
    monkeypatch.setenv("SPARK_CONF_DIR", "/etc/spark")
    assert spark_variables(job) == {}
