"""Native Azure ML pipeline files (tests/cases/native/pipeline_native/, a nested pipeline
component in tests/cases/pipelines/) with every pipeline target: local DAG runs in
the venv runtime and real Docker, reuse, the plan, partial runs, graphs, DRY_RUN loaded
back with the SDK, a step through the recording fake service, and bad input."""

import json
import shutil

import pytest
import yaml

from tests.helpers import error_lines
from tests.native_support import CASES, REPO, dry_run_folder, edit_yaml, sent, tag_case_images
from tests.pipelines import pipeline_runs
from tests.test_local_docker import UNPULLABLE

pytest.importorskip("azure.ai.ml")

CASE = CASES / "pipeline_native"
NESTED = REPO / "tests" / "cases" / "pipelines"


def add_native_pipeline(project):
    """The case as its CASE.md says: pipeline.yaml in pipelines/, components/ beside it,
    tools/ as src/tools/; plus the nested pipeline and its component."""
    shutil.copy(CASE / "pipeline.yaml", project.path / "pipelines" / "native.yaml")
    shutil.copytree(CASE / "components", project.path / "pipelines" / "components")
    shutil.copytree(CASE / "tools", project.path / "src" / "tools")
    shutil.copy(NESTED / "nested.yaml", project.path / "pipelines" / "nested.yaml")
    shutil.copy(NESTED / "count_and_scale.yaml", project.path / "pipelines/components")
    return project


@pytest.fixture
def native(baked):
    return add_native_pipeline(baked)


def pipeline_record(project, name):
    newest = pipeline_runs(project, name)[-1]
    return json.loads((newest / "pipeline.json").read_text()), newest


def scaled(folder, step="scale"):
    return (folder / step / "outputs" / "scaled" / "scaled.txt").read_text()


def test_native_pipeline_runs_as_a_dag_and_is_reused(native):
    result = native.make("pipeline-local", PIPELINE="native", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    record, folder = pipeline_record(native, "native")
    assert [s["state"] for s in record["steps"].values()] == ["completed", "completed"]
    assert scaled(folder) == str(179 * 2)  # wine.csv's lines, times the factor
    command = json.loads((folder / "scale/run.json").read_text())["command"]
    assert "--factor 2" in command and "--label" not in command  # optional input unset
    assert "environment builds" in result.stdout  # the summary keeps builds apart
    again = native.make("pipeline-local", PIPELINE="native", RUNTIME="venv")
    assert again.returncode == 0, again.stderr
    record, _ = pipeline_record(native, "native")
    assert [s["state"] for s in record["steps"].values()] == ["reused", "reused"]


def test_plan_says_what_runs_and_why(native):
    assert native.make("pipeline-local", PIPELINE="native", RUNTIME="venv").returncode == 0
    plan = native.make("pipeline-local", PIPELINE="native", RUNTIME="venv", DRY_RUN="1")
    assert plan.returncode == 0, plan.stderr
    assert "count  reuse" in plan.stdout and "scale  reuse" in plan.stdout
    tool = native.path / "src/tools/count.py"
    tool.write_text(tool.read_text() + "# changed\n")
    plan = native.make("pipeline-local", PIPELINE="native", RUNTIME="venv", DRY_RUN="1")
    assert "count  run   (code changed: count.py)" in plan.stdout
    assert "scale  run   (upstream count runs)" in plan.stdout
    edit_yaml(native.path / "pipelines/native.yaml", lambda d: d["inputs"].update(scale=3))
    plan = native.make("pipeline-local", PIPELINE="native", RUNTIME="venv", DRY_RUN="1")
    assert "count  run   (code changed: count.py)" in plan.stdout
    runs_before = len(pipeline_runs(native, "native"))
    assert runs_before == 1, "a plan writes nothing"


def test_partial_runs_take_the_rest_from_earlier_runs(native):
    assert native.make("pipeline-local", PIPELINE="native", RUNTIME="venv").returncode == 0
    edit_yaml(native.path / "pipelines/native.yaml", lambda d: d["inputs"].update(scale=5))
    only = native.make("pipeline-local", PIPELINE="native", RUNTIME="venv", STEPS="scale")
    assert only.returncode == 0, only.stderr
    record, folder = pipeline_record(native, "native")
    assert record["steps"]["count"]["state"] == "reused"
    assert record["steps"]["scale"]["state"] == "completed"
    assert scaled(folder) == str(179 * 5)
    forced = native.make("pipeline-local", PIPELINE="native", RUNTIME="venv", FORCE="count")
    record, _ = pipeline_record(native, "native")
    told = forced.stdout + forced.stderr
    assert forced.returncode == 0 and record["steps"]["count"]["state"] == "completed", told
    assert record["steps"]["scale"]["state"] == "reused", told  # count's output is the same
    downstream = native.make("pipeline-local", PIPELINE="native", RUNTIME="venv", FROM="count")
    assert downstream.returncode == 0
    bad = native.make("pipeline-local", PIPELINE="native", RUNTIME="venv", STEPS="nope")
    assert bad.returncode == 2 and "has no step 'nope'" in error_lines(bad.stderr)[0]


def test_a_failure_ends_with_the_command_that_resumes(native):
    edit_yaml(
        native.path / "pipelines/components/scale.yaml",
        lambda d: d.update(command="exit 3"),
    )
    result = native.make("pipeline-local", PIPELINE="native", RUNTIME="venv")
    assert result.returncode != 0
    last = error_lines(result.stderr)[-1]
    assert "step 'scale' failed" in last
    assert last.endswith(
        "resume with: make pipeline-local PIPELINE=native (finished steps are reused)"
    )


def test_nested_pipeline_component_runs_flattened_and_is_sent_nested(native):
    result = native.make("pipeline-local", PIPELINE="nested", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    record, folder = pipeline_record(native, "nested")
    assert list(record["steps"]) == ["stage.count", "stage.scale", "report"]
    assert scaled(folder, "stage.scale") == str(179 * 3)
    assert (folder / "report/logs/std_log.txt").read_text().strip() == str(179 * 3)
    dry = native.make("pipeline", PIPELINE="nested", DRY_RUN="1")
    assert dry.returncode == 0, dry.stderr
    job = sent(native, dry)
    assert job["jobs"]["stage"]["type"] == "pipeline"
    inner = yaml.safe_load(
        (dry_run_folder(native, dry) / job["jobs"]["stage"]["component"]).read_text()
    )
    assert set(inner["jobs"]) == {"count", "scale"}
    from azure.ai.ml import load_job

    assert load_job(dry_run_folder(native, dry) / "job.yaml")._validate().passed


def test_dry_run_keeps_the_native_structure_and_loads(native):
    from azure.ai.ml import load_job

    dry = native.make("pipeline", PIPELINE="native", DRY_RUN="1")
    assert dry.returncode == 0, dry.stderr
    job = sent(native, dry)
    source = yaml.safe_load((native.path / "pipelines/native.yaml").read_text())
    assert job["settings"] == source["settings"]
    assert job["outputs"] == source["outputs"]
    scale = job["jobs"]["scale"]
    assert scale["inputs"] == source["jobs"]["scale"]["inputs"]
    assert scale["outputs"] == source["jobs"]["scale"]["outputs"]
    component = yaml.safe_load((dry_run_folder(native, dry) / scale["component"]).read_text())
    assert component["name"] == "scale_count" and component["inputs"]["label"]["optional"]
    count = job["jobs"]["count"]
    assert count["command"] == source["jobs"]["count"]["command"]
    assert (dry_run_folder(native, dry) / count["code"] / "count.py").is_file()
    loaded = load_job(dry_run_folder(native, dry) / "job.yaml")
    assert loaded._validate().passed
    assert native.make("validate", OFFLINE="1").returncode == 0


def test_a_component_file_runs_alone_and_submits_as_a_job(native):
    assert native.make("pipeline-local", PIPELINE="native", RUNTIME="venv").returncode == 0
    _, folder = pipeline_record(native, "native")
    counted = folder / "count/outputs/counted"
    result = native.make(
        "local", JOB="pipelines/components/scale.yaml", INPUTS=f"counted={counted}", RUNTIME="venv"
    )
    assert result.returncode == 0, result.stderr
    run = native.latest_run("scale_count")
    assert (run / "outputs/scaled/scaled.txt").read_text() == "179"  # factor's default: 1
    dry = native.make(
        "job", JOB="pipelines/components/scale.yaml", INPUTS=f"counted={counted}", DRY_RUN="1"
    )
    assert dry.returncode == 0, dry.stderr
    job = sent(native, dry)
    assert job["inputs"]["factor"] == 1 and "label" not in job["inputs"]
    assert "name" not in job and "version" not in job
    from azure.ai.ml import load_job

    assert load_job(dry_run_folder(native, dry) / "job.yaml")._validate().passed


def test_graph_in_the_terminal_mermaid_and_dot(native):
    text = native.make("pipeline-graph", PIPELINE="native")
    assert text.returncode == 0
    assert "count  command" in text.stdout and "<- counted=count.counted" in text.stdout
    mermaid = native.make("pipeline-graph", PIPELINE="native", FORMAT="mermaid").stdout
    assert (
        mermaid.startswith("flowchart LR") and 'step_count -- "counted" --> step_scale' in mermaid
    )
    dot = native.make("pipeline-graph", PIPELINE="native", FORMAT="dot").stdout
    assert dot.startswith('digraph "native"') and "step_count -> step_scale" in dot


def test_step_submits_one_node_through_the_service(tmp_path):
    from azure.ai.ml._restclient.arm_ml_service.models import JobBase

    from tests.cloud_support import cloud_make, cloud_project

    project = add_native_pipeline(cloud_project(tmp_path / "cloud"))
    result, rec = cloud_make(project, tmp_path, "step", PIPELINE="native", STEP="count")
    assert result.returncode == 0, result.stderr
    job = JobBase(rec.job_body()).properties
    assert job.command == "python count.py --data ${{inputs.data}} --out ${{outputs.counted}}"
    assert job.compute_id.endswith("/computes/cpu-cluster")  # the pipeline's default
    result, rec = cloud_make(project, tmp_path, "pipeline", PIPELINE="native")
    assert result.returncode == 0, result.stderr
    pipeline = JobBase(rec.job_body()).properties
    assert set(pipeline.jobs) == {"count", "scale"}


BAD = {
    "undeclared input in an inline node's command (with its line)": (
        lambda d: d["jobs"]["count"].update(command="python count.py ${{inputs.nope}}"),
        # line 18 of the file as edit_yaml dumps it
        "pipelines/native.yaml:18: command uses ${{inputs.nope}} but inputs declares no 'nope'",
    ),
    "unknown node type": (
        lambda d: d["jobs"]["count"].update(type="no_such_type"),
        "node 'count': unknown node type 'no_such_type'",
    ),
    "missing component file": (
        lambda d: d["jobs"]["scale"].update(component="./components/nope.yaml"),
        "component file './components/nope.yaml' does not exist",
    ),
    "binding to a missing output": (
        lambda d: d["jobs"]["scale"]["inputs"].update(
            counted="${{parent.jobs.count.outputs.nothing}}"
        ),
        "step 'count' (command) has no output 'nothing'",
    ),
    "cycle": (
        lambda d: d["jobs"]["count"]["inputs"].update(data="${{parent.jobs.scale.outputs.scaled}}"),
        "cycle",
    ),
    "required component input unbound": (
        lambda d: d["jobs"]["scale"]["inputs"].pop("counted"),
        "step 'scale': required input 'counted' (uri_folder) is not bound",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_native_pipeline_is_one_line_and_nothing_runs(native, case):
    change, message = BAD[case]
    edit_yaml(native.path / "pipelines/native.yaml", change)
    for target in ("pipeline-local", "pipeline-graph", "validate"):
        result = native.make(target, PIPELINE="native", RUNTIME="venv", OFFLINE="1")
        lines = error_lines(result.stderr)
        assert result.returncode == 2, (target, result.stderr)
        assert "Traceback" not in result.stderr
        problem = [line for line in lines if "pipelines/native.yaml" in line]
        assert problem and message in problem[0], (target, lines)
    assert not (native.path / ".runs/pipelines/native").exists()


@pytest.mark.docker
def test_native_pipeline_in_docker(baked, docker_base_image):
    for _ in tag_case_images(docker_base_image):
        add_native_pipeline(baked)
        baked.env.update(RUNTIME="docker", DOCKER_BUILD_ARGS="--network host")
        result = baked.make("pipeline-local", PIPELINE="native")
        assert result.returncode == 0, result.stdout + result.stderr
        record, folder = pipeline_record(baked, "native")
        assert record["runtime"] == "docker" and scaled(folder) == str(179 * 2)
        again = baked.make("pipeline-local", PIPELINE="native")
        record, _ = pipeline_record(baked, "native")
        assert again.returncode == 0
        assert [s["state"] for s in record["steps"].values()] == ["reused", "reused"]


@pytest.mark.docker
def test_one_unpullable_image_sends_only_its_step_to_a_venv(baked, docker_base_image):
    """RUNTIME=auto picks the runtime per step: the step whose image cannot be pulled runs
    in a venv and says so (with what the venv leaves out); the others stay in Docker."""
    for _ in tag_case_images(docker_base_image):
        add_native_pipeline(baked)
        edit_yaml(
            baked.path / "pipelines/components/scale.yaml",
            lambda d: d["environment"].update(image=UNPULLABLE),
        )
        baked.env.update(RUNTIME="auto", DOCKER_BUILD_ARGS="--network host")
        result = baked.make("pipeline-local", PIPELINE="native")
        assert result.returncode == 0, result.stdout + result.stderr
        record, folder = pipeline_record(baked, "native")
        assert record["runtime"] == "docker (venv: scale)"
        ran = {s: json.loads((folder / s / "run.json").read_text()) for s in ("count", "scale")}
        assert ran["count"]["runtime"] == "docker" and ran["scale"]["runtime"] == "venv"
        # the step's own image: (no Dockerfile of the user's for BASE_IMAGE to reach)
        assert f"step scale: image {UNPULLABLE} cannot be pulled (" in result.stderr
        notice = f"step scale: venv stands in for image {UNPULLABLE}: none of the image's"
        assert notice in result.stderr
        assert "none of the image's packages" in ran["scale"]["environment_notice"]
        assert scaled(folder) == str(179 * 2)
        # no venv to fall back to: one line with both reasons (not "RUNTIME=venv: ...")
        refused = baked.make("pipeline-local", PIPELINE="native", VENV_PYTHON="/nope/python")
        (line,) = error_lines(refused.stderr)
        assert refused.returncode == 2 and f"image {UNPULLABLE} cannot be pulled" in line
        assert "base image" not in line and "LOCAL_IMAGE=<image>" in line, line
        assert "and no venv fallback:" in line and "RUNTIME=venv" not in line


def test_registered_component_is_sent_unchanged_and_needs_a_login_locally(native):
    edit_yaml(
        native.path / "pipelines/native.yaml",
        lambda d: d["jobs"]["scale"].update(component="azureml:scale_count:1"),
    )
    dry = native.make("pipeline", PIPELINE="native", DRY_RUN="1")
    assert dry.returncode == 0, dry.stderr
    assert sent(native, dry)["jobs"]["scale"]["component"] == "azureml:scale_count:1"
    graph = native.make("pipeline-graph", PIPELINE="native")
    assert "component azureml:scale_count:1" in graph.stdout
    local = native.make("pipeline-local", PIPELINE="native", RUNTIME="venv")
    lines = error_lines(local.stderr)
    assert local.returncode == 2 and len(lines) == 1
    assert "azureml:scale_count:1, which only Azure ML has: log in" in lines[0]
    assert not (native.path / ".runs/pipelines/native").exists()


def test_step_local_runs_one_native_node_on_the_latest_upstream_outputs(native):
    assert native.make("pipeline-local", PIPELINE="native", RUNTIME="venv").returncode == 0
    result = native.make("step-local", PIPELINE="native", STEP="scale", RUNTIME="venv")
    assert result.returncode == 0, result.stderr
    assert "input counted:" in result.stderr and "latest local run" in result.stderr
    run = native.latest_run("scale_count")
    assert (run / "outputs/scaled/scaled.txt").read_text() == str(179 * 2)


def test_publish_dry_run_of_a_native_pipeline_loads(tmp_path):
    from azure.ai.ml import load_component

    from tests.cloud_support import cloud_make, cloud_project

    project = add_native_pipeline(cloud_project(tmp_path / "cloud"))
    result, rec = cloud_make(project, tmp_path, "publish", PIPELINE="native", DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    assert not rec.requests
    folder = project.path / result.stdout.strip().splitlines()[-1]
    pipeline = load_component(folder / "pipeline_component.yaml")
    assert set(pipeline.jobs) == {"count", "scale"}
    scale = load_component(folder / "component_scale_count.yaml")
    assert pipeline.jobs["scale"].component == f"{scale.name}:{scale.version}"
    # a component file keeps its own name and version, as `az ml component create` would
    assert (scale.name, scale.version) == ("scale_count", "1")
