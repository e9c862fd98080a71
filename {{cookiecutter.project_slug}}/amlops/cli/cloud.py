"""Commands that talk to Azure ML: job, notebook-job, pipeline, step, publish, install-sdk,
data-pull, data-push, datastore, register-model, deploy,
validate. Their handlers import the cloud code (and so
an Azure SDK) only when they run."""

import argparse

from amlops.cli.options import Commands, Options, given_inputs
from amlops.project import Project


def register(commands: Commands, options: Options) -> None:
    def cloud_options(sub: argparse.ArgumentParser, inputs_text: str) -> None:
        options.inputs(sub, inputs_text)
        options.switch(sub, "DRY_RUN", "write the native v2 YAML, submit nothing")
        options.switch(sub, "STREAM", "stream the logs; exit with the job's status")
        options.reads(sub, COMPUTE="name: the compute of the job (each step), for this call")

    job = options.command(
        commands, "job", "submit the experiment to Azure ML as a command (or sweep) job"
    )
    cloud_options(job, "an input path (local or azureml:...) or literal (INPUTS='a=x')")
    options.job(job)
    job.set_defaults(func=_submit)
    notebook = options.command(
        commands, "notebook-job", "submit one notebook as a command job in EXP's environment"
    )
    notebook.add_argument("--nb", default=options.setting("NB"), help="notebooks/<name>.ipynb (NB)")
    cloud_options(notebook, "one of EXP's inputs (INPUTS='data=azureml:wine:1')")
    notebook.set_defaults(func=_submit)
    pipeline = options.pipeline_command(
        commands, "pipeline", "submit the pipeline to Azure ML as a pipeline job"
    )
    cloud_options(pipeline, "override a pipeline input (INPUTS='raw=azureml:wine:1')")
    pipeline.set_defaults(func=_submit)
    step = options.pipeline_command(
        commands, "step", "submit one pipeline step to Azure ML as a command job"
    )
    step.add_argument("--step", default=options.setting("STEP"), help="the step's name (STEP)")
    step.add_argument(
        "--from-job",
        default=options.setting("FROM_JOB"),
        help="pipeline job whose outputs feed the step (FROM_JOB; default: the latest sent)",
    )
    cloud_options(step, "one of the step's inputs (INPUTS='data=azureml:...'); repeatable")
    step.set_defaults(func=_submit)
    _register_publish(commands, options)
    _register_assets(commands, options)
    _register_models(commands, options)
    validate = options.command(
        commands,
        "validate",
        "check every job.yaml and pipeline, offline and in the workspace",
        exp=False,
    )
    options.switch(validate, "OFFLINE", "skip the workspace checks")
    options.switch(validate, "FORCE", "check every file again, reusing no kept result")
    validate.set_defaults(func=_validate)


def _register_publish(commands: Commands, options: Options) -> None:
    publish = options.pipeline_command(
        commands,
        "publish",
        "register the pipeline as a component and deploy it to a batch endpoint",
    )
    publish.add_argument(
        "--version", default=options.setting("VERSION"), help="pipeline component version (VERSION)"
    )
    publish.add_argument(
        "--endpoint", default=options.setting("ENDPOINT"), help="batch endpoint name (ENDPOINT)"
    )
    publish.add_argument(
        "--schedule",
        default=options.setting("SCHEDULE"),
        help="also schedule it: a cron line (SCHEDULE)",
    )
    options.switch(publish, "DEFAULT", "make this the endpoint's default deployment")
    options.switch(publish, "DRY_RUN", "write the YAML, publish nothing")
    publish.set_defaults(func=_publish)


def _register_models(commands: Commands, options: Options) -> None:
    model = options.command(
        commands,
        "register-model",
        "register a local run's model output locally (MLflow registry) and in Azure ML",
    )
    model.add_argument(
        "--run", default=options.setting("RUN"), help="the run's id (RUN; default: the newest)"
    )
    model.add_argument(
        "--name", default=options.setting("NAME"), help="the model's name (NAME; default: EXP)"
    )
    model.add_argument(
        "--version",
        default=options.setting("VERSION"),
        help="the model's version (VERSION; default: the next number)",
    )
    model.add_argument(
        "--output",
        default=options.setting("OUTPUT"),
        help="the run's output that holds the model (OUTPUT; default: the model output)",
    )
    options.switch(model, "DRY_RUN", "write model.yaml, register nothing")
    options.switch(model, "OFFLINE", "register locally only")
    model.set_defaults(func=_register_model)
    deploy = options.command(
        commands,
        "deploy",
        "create or update an endpoint and its deployments in Azure ML, then set traffic",
        exp=False,
    )
    deploy.add_argument(
        "--endpoint", default=options.setting("ENDPOINT"), help="endpoints/<name>/ (ENDPOINT)"
    )
    deploy.add_argument(
        "--deployment",
        default=options.setting("DEPLOYMENT"),
        help="only this deployment (DEPLOYMENT; default: every deployment file)",
    )
    deploy.add_argument(
        "--traffic",
        default=options.setting("TRAFFIC"),
        help='traffic instead of the endpoint file\'s (TRAFFIC="blue=90 green=10")',
    )
    options.switch(deploy, "DRY_RUN", "write the endpoint and deployment files, send nothing")
    deploy.set_defaults(func=_deploy)


def _register_assets(commands: Commands, options: Options) -> None:
    options.command(
        commands, "install-sdk", "pip install the Azure ML SDK that AML_SDK names", exp=False
    ).set_defaults(func=_install_sdk)
    pull = options.command(
        commands,
        "data-pull",
        "download the remote data job.yaml's inputs name (azureml:, https, blob URLs) into data/",
    )
    options.switch(pull, "FORCE", "replace existing local folders")
    pull.set_defaults(func=_data_pull)
    push = options.command(
        commands, "data-push", "upload a folder and register it as a data asset", exp=False
    )
    push.add_argument("--dir", default=options.setting("DIR"), help="the local folder (DIR)")
    push.add_argument(
        "--name", default=options.setting("NAME"), help="the data asset's name (NAME)"
    )
    push.add_argument("--version", default=options.setting("VERSION"), help="its version (VERSION)")
    push.set_defaults(func=_data_push)
    datastore = options.command(
        commands,
        "datastore",
        "register a blob container as a datastore (key from AZURE_STORAGE_KEY in .env)",
        exp=False,
    )
    options.reads(
        datastore,
        DATASTORE="name: the datastore's name",
        ACCOUNT="account: the storage account",
        CONTAINER="container: the blob container",
    )
    options.switch(datastore, "DRY_RUN", "say what would be registered, register nothing")
    datastore.set_defaults(func=_datastore)


def _submit(args: argparse.Namespace, project: Project) -> int:
    """job, notebook-job, pipeline and step: one submission request."""
    from amlops.cloud.packages import backend
    from amlops.cloud.plan import Request

    job_file = getattr(args, "job", "") if args.command == "job" else ""
    request = Request(
        target=args.command,
        job_file=job_file,
        name=args.exp if args.command in ("job", "notebook-job") else args.pipeline,
        inputs=given_inputs(args, project),
        dry_run=args.dry_run,
        stream=args.stream,
        step=getattr(args, "step", ""),
        from_job=getattr(args, "from_job", ""),
    )
    if args.command in ("job", "notebook-job") and (args.exp or not job_file):
        project.experiment_dir(args.exp)
    if not request.dry_run:  # said before any staging or SDK import (both backends)
        from amlops.cloud.workspace import find_workspace

        find_workspace(project)
    if args.command == "notebook-job":
        from amlops.cloud.notebook_job import submit_notebook

        return submit_notebook(project, request, args.nb)
    if backend(project) == "v1":
        from amlops.cloud.v1.submit import SUBMITTERS_V1 as submitters
    else:
        from amlops.cloud.submit import SUBMITTERS as submitters
    return submitters[request.target](project, request)


def _publish(args: argparse.Namespace, project: Project) -> int:
    from amlops.cloud.packages import backend
    from amlops.cloud.plan import PublishRequest

    request = PublishRequest(
        args.pipeline, args.version, args.endpoint, args.schedule, args.default, args.dry_run
    )
    if backend(project) == "v1":
        from amlops.cloud.v1.publish import publish_v1

        return publish_v1(project, request)
    from amlops.cloud.publish import publish

    return publish(project, request)


def _install_sdk(args: argparse.Namespace, project: Project) -> int:
    from amlops.cloud.packages import PACKAGES, backend, install_sdk

    if backend(project) == "v1":
        from amlops.cloud.v1.environment import install_v1

        return install_v1(project, PACKAGES["v1"])
    return install_sdk(project)


def _data_pull(args: argparse.Namespace, project: Project) -> int:
    from amlops.cloud.data import data_pull

    project.experiment_dir(args.exp)
    return data_pull(project, args.exp, args.force)


def _data_push(args: argparse.Namespace, project: Project) -> int:
    from amlops.cloud.data import data_push

    return data_push(project, args.dir, args.name, args.version)


def _datastore(args: argparse.Namespace, project: Project) -> int:
    from amlops.cloud.datastore import register_datastore

    return register_datastore(project, args.dry_run)


def _register_model(args: argparse.Namespace, project: Project) -> int:
    from amlops.cloud.models import RegisterRequest, register_model

    request = RegisterRequest(
        args.exp, args.run, args.name, args.version, args.output, args.dry_run, args.offline
    )
    return register_model(project, request)


def _deploy(args: argparse.Namespace, project: Project) -> int:
    from amlops.cloud.endpoints import DeployRequest, deploy

    return deploy(
        project, DeployRequest(args.endpoint, args.deployment, args.traffic, args.dry_run)
    )


def _validate(args: argparse.Namespace, project: Project) -> int:
    from amlops.cloud.validate import run_validate

    return run_validate(project, args.offline, args.force)
