"""Count a text's characters, then show the count: a pipeline written with azure.ai.ml.dsl."""

from azure.ai.ml import Input, Output, command, load_component
from azure.ai.ml.dsl import pipeline

count = load_component(source="components/count.yaml")
show = command(
    code="../src/tools",
    command="python show.py --counted ${{inputs.counted}} --out ${{outputs.shown}}",
    inputs={"counted": Input(type="uri_folder")},
    outputs={"shown": Output(type="uri_folder")},
    environment="azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest",
)


@pipeline(default_compute="cpu-cluster")
def count_and_show(text: str = "pipelines"):
    counted = count(text=text)
    shown = show(counted=counted.outputs.counted)  # noqa: F841 - the node is named shown


pipeline_job = count_and_show()
