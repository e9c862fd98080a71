"""Registered components (`component: azureml:<name>:<version>`, `azureml:<name>@latest`,
`azureml://registries/<registry>/components/<name>/versions/<v>`) downloaded from the
workspace or registry, so that `make pipeline-local` can run the node as Azure ML would.

Only local pipeline targets call this, only for such nodes, and only when a workspace
is set and AML_SDK is v2; it uses the SDK's own `ml_client.components.download`, which
writes the component spec with its code and environment localised. Downloads are kept
in .runs/.components/<name>/<version>/."""

from pathlib import Path
from typing import Optional

from amlops.errors import UserError
from amlops.project import Project
from amlops.spec.references import parse_reference


def download(project: Project, reference: str) -> Optional[Path]:
    """The downloaded component_spec.yaml of `reference`; None when it cannot be looked up
    here (no workspace in config.env, no SDK, no login)."""
    match = parse_reference(reference)
    if match is not None and match.form == "registry" and match.kind != "components":
        match = None
    if match is None or match.form not in ("workspace", "registry"):
        return None
    if project.settings.get("AML_SDK", "v2") != "v2":
        return None
    try:
        from amlops.cloud.workspace import connect, find_workspace

        workspace = find_workspace(project)
        import azure.ai.ml  # noqa: F401 - only to know the SDK is there
    except (UserError, ImportError):
        return None
    from amlops.cloud.sdk import azure_errors

    name, version, label = match.name, match.version, match.label
    target = project.runs / ".components" / name / (version or label or "latest")
    spec = target / "component_spec.yaml"
    if spec.is_file():
        return spec
    try:
        client = connect(project, workspace)
        if match.registry:
            from azure.ai.ml import MLClient

            client = MLClient(credential=client._credential, registry_name=match.registry)
        with azure_errors(f"downloading component {reference}"):
            if not version:
                version = client.components.get(name, label=label or "latest").version
            client.components.download(name, download_path=str(target), version=version)
    except UserError:
        return None
    return spec if spec.is_file() else None
