"""The v1 Workspace, logged in with the same credential as the v2 backend, and v1
service errors as one line with the same exit codes."""

import contextlib
from typing import Any, Iterator

from amlops.cloud.sdk import EXIT_AUTH, exit_code_for_status
from amlops.cloud.workspace import check_login, credential, find_workspace
from amlops.console import one_line
from amlops.errors import UserError
from amlops.project import Project

INSTALL_HINT = (
    "run `make setup` (AML_SDK=v1 installs azureml-core and azureml-pipeline into their own"
    " venv, .runs/.tools/aml-sdk-v1, which the cloud targets then use)"
)


def require_v1(target: str) -> None:
    """Import azureml-core once; a clear error when it is not installed."""
    try:
        import azureml.core  # noqa: F401
        import azureml.pipeline.core  # noqa: F401
    except ImportError as err:
        raise UserError(f"make {target} with AML_SDK=v1 needs azureml-core ({err}); {INSTALL_HINT}")


def connect_v1(project: Project) -> Any:
    """An azureml.core.Workspace whose tokens come from DefaultAzureCredential
    (or a device code with LOGIN=device), checked before anything is sent."""
    found = find_workspace(project)
    cred = credential(project)
    check_login(cred)
    from azureml.core import Workspace
    from azureml.core.authentication import TokenAuthentication

    def token(audience: str, *args: Any) -> str:
        return cred.get_token(f"{audience.rstrip('/')}/.default").token

    return Workspace(
        found.subscription_id, found.resource_group, found.name, auth=TokenAuthentication(token)
    )


@contextlib.contextmanager
def v1_errors(action: str) -> Iterator[None]:
    """azureml exceptions -> one line and the exit codes of the v2 targets."""
    from azureml.exceptions import AuthenticationException, AzureMLException

    try:
        yield
    except AuthenticationException as err:
        first = str(getattr(err, "message", err)).strip().splitlines()[0][:200]
        raise UserError(f"{action}: not logged in to Azure ({first})", EXIT_AUTH) from None
    except AzureMLException as err:
        status = int(getattr(err, "status_code", 0) or 0)
        first = one_line(str(getattr(err, "message", err)))
        raise UserError(f"{action}: {first}", exit_code_for_status(status)) from None
