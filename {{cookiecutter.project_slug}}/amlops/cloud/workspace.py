"""Which workspace, which login, and the MLClient that talks to it.

Workspace: AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZURE_ML_WORKSPACE from
config.env (or the environment), else a config.json downloaded from the portal.
Login: DefaultAzureCredential (service principal variables from the environment
or .env, managed identity, Azure CLI login), or a device code with LOGIN=device."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from amlops.cloud.sdk import EXIT_AUTH
from amlops.errors import UserError
from amlops.project import Project
from amlops.settings import read_env_file

MANAGEMENT_SCOPE = "https://management.azure.com/.default"
# Service principal variables DefaultAzureCredential reads from os.environ; .env may hold them.
CREDENTIAL_VARIABLES = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")
LOGIN_HELP = (
    "log in with `az login`, set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
    " in .env, or use LOGIN=device"
)


@dataclass(frozen=True)
class Workspace:
    subscription_id: str
    resource_group: str
    name: str


def find_workspace(project: Project) -> Workspace:
    """The workspace from config.env / the environment, else config.json."""
    settings = project.settings
    found = Workspace(
        settings.get("AZURE_SUBSCRIPTION_ID"),
        settings.get("AZURE_RESOURCE_GROUP"),
        settings.get("AZURE_ML_WORKSPACE"),
    )
    if all((found.subscription_id, found.resource_group, found.name)):
        return found
    for candidate in (project.root / "config.json", project.root / ".azureml" / "config.json"):
        if candidate.is_file():
            return _from_config_json(candidate, project)
    raise UserError(
        "no Azure ML workspace: set AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP and"
        " AZURE_ML_WORKSPACE in config.env, or save the workspace's config.json"
        " (Azure portal, 'Download config file') in the project root"
    )


def _from_config_json(path: Path, project: Project) -> Workspace:
    shown = project.relative(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Workspace(data["subscription_id"], data["resource_group"], data["workspace_name"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(
            f"{shown}: expected subscription_id, resource_group and workspace_name ({err})"
        ) from None


def refuse_committed_secret(project: Project, key: str) -> None:
    """A secret in config.env (committed) is an error, never a value to use."""
    if read_env_file(project.root / "config.env").get(key):
        raise UserError(
            f"config.env sets {key}, and config.env is committed: remove it,"
            " rotate the secret, and put it in .env (git-ignored) or the environment"
        )


def secret(project: Project, key: str) -> str:
    """A secret from the environment or .env only (never config.env, never printed)."""
    refuse_committed_secret(project, key)
    return os.environ.get(key) or read_env_file(project.root / ".env").get(key, "")


def credential(project: Project) -> Any:
    """The credential for LOGIN (empty/auto: DefaultAzureCredential; device: device code)."""
    login = project.settings.get("LOGIN", "auto").lower()
    if login not in ("auto", "device"):
        raise UserError(f"LOGIN={login!r}: use auto (default) or device")
    refuse_committed_secret(project, "AZURE_CLIENT_SECRET")
    dotenv = read_env_file(project.root / ".env")
    for key in CREDENTIAL_VARIABLES:
        value = dotenv.get(key)
        if value and not os.environ.get(key):
            os.environ[key] = value  # read by EnvironmentCredential; never printed
    from azure.identity import DefaultAzureCredential, DeviceCodeCredential

    if login == "device":
        return DeviceCodeCredential()
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def check_login(cred: Any) -> None:
    """Ask for a token now, so a missing login is one line, not a stack trace later."""
    from azure.core.exceptions import ClientAuthenticationError

    try:
        cred.get_token(MANAGEMENT_SCOPE)
    except ClientAuthenticationError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"not logged in to Azure ({first[:160]}); {LOGIN_HELP}", EXIT_AUTH
        ) from None


def connect(project: Project, workspace: Optional[Workspace] = None) -> Any:
    """An MLClient for the project's workspace, with the login checked."""
    workspace = workspace or find_workspace(project)
    cred = credential(project)
    check_login(cred)
    from azure.ai.ml import MLClient

    retries = int(project.settings.get("AZURE_RETRIES", "3"))
    return MLClient(
        cred,
        workspace.subscription_id,
        workspace.resource_group,
        workspace.name,
        retry_total=retries,
        show_progress=False,
    )
