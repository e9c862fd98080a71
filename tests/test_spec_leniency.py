"""Never stricter than Azure ML (issue 24.2): what azure-ai-ml's `load_job` accepts is
accepted here too, with one warning line where the file likely holds a typo."""

import sys

import pytest
import yaml

from tests.helpers import TEMPLATE_PROJECT

sys.path.insert(0, str(TEMPLATE_PROJECT))

from amlops.errors import UserError  # noqa: E402
from amlops.project import Project  # noqa: E402
from amlops.spec.job import LITERAL_CHECKS  # noqa: E402
from amlops.spec.pipeline_loader import load_pipeline  # noqa: E402

COMPONENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: echo_flags
inputs:
  flag: {type: boolean, default: "False"}
  n: {type: integer, default: 3}
  rate: {type: number, default: 0.5}
command: echo flag=${{inputs.flag}} n=${{inputs.n}} rate=${{inputs.rate}}
environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
"""

PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
settings:
  default_datestore: azureml:workspaceblobstore
  continue_on_step_failure: false
jobs:
  echo:
    type: command
    component: ../components/echo.yaml
    inputs:
      flag: %s
      n: %s
      rate: %s
"""


def write(baked, flag, n, rate):
    (baked.path / "components").mkdir(exist_ok=True)
    (baked.path / "components" / "echo.yaml").write_text(COMPONENT)
    (baked.path / "pipelines" / "lenient.yaml").write_text(PIPELINE % (flag, n, rate))


@pytest.mark.parametrize(
    "type_, value, accepted",
    [
        ("boolean", "False", True),
        ("boolean", "TRUE", True),
        ("boolean", "yes", False),
        ("integer", "5", True),
        ("integer", "5.0", True),  # Input._parse: int(float(v))
        ("integer", "many", False),
        ("integer", True, False),
        ("number", "1e-3", True),
        ("number", "fast", False),
    ],
)
def test_literal_types_take_the_strings_the_sdk_parses(type_, value, accepted):
    assert LITERAL_CHECKS[type_](value) is accepted


def test_string_booleans_and_numbers_and_an_unknown_setting_load_with_one_warning(
    baked, capsys, monkeypatch
):
    monkeypatch.chdir(baked.path)
    write(baked, '"True"', '"5"', '"0.25"')
    spec = load_pipeline(Project(baked.path), "lenient")
    assert list(spec.steps) == ["echo"]
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1, warnings
    assert "pipelines/lenient.yaml:4: unknown field 'default_datestore'" in warnings[0]
    assert "did you mean 'default_datastore'?" in warnings[0]
    assert "sent as written" in warnings[0]


def test_a_value_the_sdk_cannot_parse_is_still_refused(baked, monkeypatch):
    monkeypatch.chdir(baked.path)
    write(baked, '"maybe"', "5", "0.25")
    with pytest.raises(UserError, match=r"input 'flag' \(boolean\): type mismatch, got 'maybe'"):
        load_pipeline(Project(baked.path), "lenient")


INLINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
jobs:
  iris:
    type: command
    component:
      name: r-iris-example
      type: command
      command: echo hi
      environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
"""


def test_an_inline_component_is_anonymous_but_a_component_file_keeps_the_name_rule(
    baked, monkeypatch
):
    # load_job takes the pipeline (an inline component is anonymous); load_component
    # refuses the same name in a component file ("should only contain lower letter...").
    monkeypatch.chdir(baked.path)
    (baked.path / "pipelines" / "inline.yaml").write_text(INLINE)
    assert list(load_pipeline(Project(baked.path), "inline").steps) == ["iris"]
    (baked.path / "components").mkdir()
    (baked.path / "components" / "iris.yaml").write_text(
        INLINE.split("component:\n")[1].replace("      ", "", 1).replace("\n      ", "\n")
    )
    (baked.path / "pipelines" / "inline.yaml").write_text(
        INLINE.split("    component:")[0] + "    component: ../components/iris.yaml\n"
    )
    with pytest.raises(UserError, match="a component name is a lowercase letter"):
        load_pipeline(Project(baked.path), "inline")


DUMPED = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
outputs:
  result:
    type: uri_folder
jobs:
  make:
    type: command
    command: echo hi > ${{outputs.out}}/x.txt
    environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
    outputs:
      out:
        mode: rw_mount
        path: ${{parent.outputs.result}}
        type: uri_folder
"""


def test_a_node_output_bound_in_the_sdk_dump_form_exports_the_pipeline_output(baked, monkeypatch):
    # azure-ai-ml's PipelineJob.dump() writes a bound node output as a mapping whose
    # path is the ${{parent.outputs.x}} binding
    monkeypatch.chdir(baked.path)
    (baked.path / "pipelines" / "dumped.yaml").write_text(DUMPED)
    spec = load_pipeline(Project(baked.path), "dumped")
    assert spec.steps["make"].exported == {"out": "result"}
    assert spec.steps["make"].outputs["out"].mode == "rw_mount"


@pytest.mark.parametrize(
    "section, typo", [("inputs", "tpye: uri_folder"), ("outputs", "tpye: uri_folder")]
)
def test_a_typo_inside_an_input_or_output_is_refused_with_its_line(baked, section, typo):
    # azure-ai-ml's input and output schemas refuse an unknown field ("Unknown field"):
    # refused here too, at its line, before anything runs
    from amlops.spec.job import load_job

    job = baked.path / "src" / "train" / "job.yaml"
    text = job.read_text()
    mapping = "  tagged:\n    " + typo + "\n    path: ../../data/wine\n"
    if section == "outputs":
        mapping = "  tagged:\n    " + typo + "\n"
    job.write_text(text.replace(f"\n{section}:\n", f"\n{section}:\n{mapping}", 1))
    line = job.read_text().splitlines().index("    " + typo) + 1
    with pytest.raises(UserError) as raised:
        load_job(job, "src/train/job.yaml")
    assert str(raised.value).startswith(f"src/train/job.yaml:{line}: unknown field 'tpye'")
    assert "did you mean 'type'?" in str(raised.value)


READER = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: read_one_file
inputs:
  data: {type: uri_folder}
command: python -c "import sys; print(open(sys.argv[1]).read().strip())" ${{inputs.data}}
environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
"""

FILE_BOUND = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
jobs:
  read:
    type: command
    component: ../components/reader.yaml
    inputs:
      data: {type: uri_file, path: azureml:one-file@latest}
"""


def test_a_uri_file_binding_gives_the_command_a_file_where_the_component_says_folder(baked):
    """Issue 24.6: the binding's own type is what Azure ML mounts; data/<asset>/ by
    convention then resolves to its one file, as it does for a single job."""
    (baked.path / "components").mkdir(exist_ok=True)
    (baked.path / "components" / "reader.yaml").write_text(READER)
    (baked.path / "pipelines" / "file_bound.yaml").write_text(FILE_BOUND)
    (baked.path / "data" / "one-file").mkdir(parents=True)
    (baked.path / "data" / "one-file" / "rows.txt").write_text("seven rows\n")
    done = baked.make("pipeline-local", PIPELINE="file_bound", RUNTIME="venv")
    assert done.returncode == 0, done.stdout + done.stderr
    log = next((baked.path / ".runs" / "pipelines").rglob("read/logs/std_log.txt"))
    assert "seven rows" in log.read_text()
    sent = baked.make("pipeline", PIPELINE="file_bound", DRY_RUN="1")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    written = yaml.safe_load((baked.path / sent.stdout.strip().splitlines()[-1]).read_text())
    assert written["jobs"]["read"]["inputs"]["data"]["type"] == "uri_file"  # sent as written


SWEEP_PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
settings:
    default_compute: azureml:cpu-cluster
jobs:
  sweep_step:
    type: sweep
    inputs:
      data:
        type: uri_file
        path: wasbs://datasets@azuremlexamples.blob.core.windows.net/iris.csv
      shrinking: False
    outputs:
      model_output:
        type: uri_folder
        mode: upload
    sampling_algorithm: random
    trial: ./train.yml
    search_space:
      c_value: {type: uniform, min_value: 0.5, max_value: 0.9}
    objective: {goal: minimize, primary_metric: training_f1_score}
    limits: {max_total_trials: 2, max_concurrent_trials: 2, timeout: 7200}
  predict_step:
    type: command
    inputs:
      model: ${{parent.jobs.sweep_step.outputs.model_output}}
    outputs:
      predict_result:
    component: ./predict.yml
"""
SWEEP_TRIAL = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: train_model
version: 1
inputs:
  data: {type: uri_folder}
  c_value: {type: number, default: 1.0}
  shrinking: {type: boolean, default: false}
outputs:
  model_output: {type: uri_folder}
environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
command: >-
  echo ${{inputs.data}} ${{inputs.c_value}} ${{inputs.shrinking}} ${{outputs.model_output}}
"""
PREDICT = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: predict_component
version: 3
type: command
inputs:
  model: {type: mlflow_model}
outputs:
  predict_result: {type: uri_folder}
environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
command: echo ${{inputs.model}} ${{outputs.predict_result}}
"""


def test_microsofts_sweep_pipeline_binding_a_folder_to_an_mlflow_model_loads(
    baked, capsys, monkeypatch
):
    """Issue 24.3 (azureml-examples pipeline_with_hyperparameter_sweep, trimmed): a
    uri_folder output bound to an mlflow_model input. load_job and _validate() compare no
    types across a binding and the service runs the example: loaded, and no warning."""
    ml = pytest.importorskip("azure.ai.ml")
    folder = baked.path / "pipelines" / "sweep_ms"
    folder.mkdir()
    for name, text in [("pipeline.yml", SWEEP_PIPELINE), ("train.yml", SWEEP_TRIAL),
                       ("predict.yml", PREDICT)]:  # fmt: skip
        (folder / name).write_text(text)
    monkeypatch.chdir(baked.path)
    spec = load_pipeline(Project(baked.path), "sweep_ms")
    assert list(spec.steps) == ["sweep_step", "predict_step"]
    assert "warning" not in capsys.readouterr().err
    job = ml.load_job(folder / "pipeline.yml")
    assert not job._validate().error_messages  # the SDK's own verdict, for comparison


def test_a_file_bound_to_a_folder_input_is_one_warning_not_a_refusal(baked, capsys, monkeypatch):
    (baked.path / "components").mkdir(exist_ok=True)
    (baked.path / "components" / "reader.yaml").write_text(READER)
    text = FILE_BOUND.replace(
        "data: {type: uri_file, path: azureml:one-file@latest}", "data: ${{parent.inputs.f}}"
    )
    text = text.replace("jobs:\n", "inputs:\n  f: {type: uri_file, path: ../data/x.csv}\njobs:\n")
    (baked.path / "pipelines" / "file_into_folder.yaml").write_text(text)
    monkeypatch.chdir(baked.path)
    load_pipeline(Project(baked.path), "file_into_folder")
    (warning,) = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert "pipeline input 'f' is uri_file" in warning and "passes the path on" in warning


def test_a_misspelt_required_field_is_one_line_not_two(tmp_path):
    """One typo, one line: the unknown field with its "did you mean", not also the
    required field it was meant to be (a command job, a sweep, a deployment)."""
    from amlops.errors import problems_of
    from amlops.spec.endpoints import load_endpoint_folder
    from amlops.spec.job import load_job

    job = tmp_path / "job.yaml"
    job.write_text("type: command\ncomand: python -V\nenvironment: {image: python:3.11}\n")
    with pytest.raises(UserError) as caught:
        load_job(job, "job.yaml")
    assert problems_of(caught.value) == [
        "job.yaml:2: unknown field 'comand' (did you mean 'command'?)"
    ]
    job.write_text("type: command\ncommand: python -V\nenviroment: {image: python:3.11}\n")
    with pytest.raises(UserError) as caught:
        load_job(job, "job.yaml")
    assert problems_of(caught.value) == [
        "job.yaml:3: unknown field 'enviroment' (did you mean 'environment'?)"
    ]
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "type: sweep\nsampling_algorithim: random\nsearch_space: {n: {type: choice, values: [1]}}\n"
        "objective: {goal: maximize, primary_metric: acc}\nlimits: {max_total_trials: 1}\n"
        "trial: {command: 'echo ${{search_space.n}}', environment: {image: python:3.11}}\n"
    )
    with pytest.raises(UserError) as caught:
        load_job(sweep, "sweep.yaml")
    assert [p.split(": ", 1)[1] for p in problems_of(caught.value)] == [
        "unknown field 'sampling_algorithim' (did you mean 'sampling_algorithm'?)"
    ]
    endpoint = tmp_path / "ep"
    endpoint.mkdir()
    (endpoint / "endpoint.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
        "name: ep-one\nauth_mode: key\n"
    )
    (endpoint / "blue.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
        "name: blue\nendpoint_name: ep-one\ninstance_typ: Standard_DS3_v2\n"
    )
    with pytest.raises(UserError) as caught:
        load_endpoint_folder(endpoint)
    assert [p.split(": ", 1)[1] for p in problems_of(caught.value)] == [
        "unknown field 'instance_typ' (did you mean 'instance_type'?)"
    ]
    # still said when nothing close was written
    job.write_text("type: command\nenvironment: {image: python:3.11}\n")
    with pytest.raises(UserError, match="'command' must be a non-empty string"):
        load_job(job, "job.yaml")
