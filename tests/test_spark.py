"""Spark job files (sparkJob schema) run with make local on a real local Spark (pyspark
from PyPI in the venv runtime, the system's Java) and are sent unchanged by DRY_RUN
(amlops/spec/spark.py). The case is tests/cases/native/spark_job: a word count whose
counts are to=2, be=2, the rest 1; its conf asks 1 driver core + 1 executor x 2 cores,
so local[3]. The venv (pyspark 3.4.*, ~310 MB) is built once in the shared VENV_DIR."""

import json
import os
import shutil

import pytest
import yaml

from tests.helpers import Baked, error_lines
from tests.native_support import CASES, add_case, dry_run_folder, edit_yaml, sent, unchanged_fields


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
