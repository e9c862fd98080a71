"""Workspace environments (`azureml:<name>:<version>`, `azureml:<name>@<label>`) looked up
in the workspace, so that `make local` can run what Azure ML would.

Only called for a job whose environment is a workspace reference; it is the one
place a local target imports the Azure SDK, and only when a workspace is set
in config.env and AML_SDK is v2. No workspace, no SDK or no login: None, and
the caller says how to run locally instead (LOCAL_IMAGE)."""

from typing import Optional

from amlops.errors import UserError
from amlops.project import Project
from amlops.spec.environment import EnvironmentSpec


def look_up(project: Project, env: EnvironmentSpec) -> Optional[EnvironmentSpec]:
    """The workspace environment `env` names, as an image (+ conda) environment; None
    when it cannot be looked up here. UserError for one that cannot run locally."""
    if project.settings.get("AML_SDK", "v2") != "v2" or env.reference.startswith("azureml://"):
        return None
    try:
        from amlops.cloud.workspace import connect, find_workspace

        workspace = find_workspace(project)
        import azure.ai.ml  # noqa: F401 - only to know the SDK is there
    except (UserError, ImportError):
        return None
    from amlops.cloud.sdk import azure_errors

    try:
        client = connect(project, workspace)
        with azure_errors(f"looking up environment {env.reference}"):
            if env.version:
                found = client.environments.get(env.name, version=env.version)
            else:
                found = client.environments.get(env.name, label=env.label or "latest")
    except UserError as err:
        if "not found" in str(err).lower() or getattr(err, "exit_code", 0) == 4:
            raise UserError(f"{env.where}: environment {env.reference}: {err}") from None
        return None
    if getattr(found, "build", None) is not None:
        raise UserError(
            f"{env.where}: environment {env.reference} is built from a Docker context in the"
            " workspace; run it locally with LOCAL_IMAGE=<an image of it>, or copy its"
            " context next to the job file and use environment: build:"
        )
    conda = getattr(found, "conda_file", None)
    return EnvironmentSpec(
        "image",
        env.where,
        env.declared_in,
        env.raw,
        image=str(found.image),
        conda_inline=dict(conda) if conda else None,
        reference=env.reference,
        name=env.name,
        version=str(found.version),
    )
