"""`make datastore`: register an Azure Blob container as a workspace datastore, so
job.yaml and pipeline inputs can name it (`azureml://datastores/<name>/paths/...`).

The account key comes from AZURE_STORAGE_KEY in the environment or .env only -
never from config.env or any YAML - and is never printed."""

import re
from dataclasses import dataclass

from amlops.cloud.packages import backend
from amlops.cloud.workspace import secret
from amlops.console import say
from amlops.errors import UserError
from amlops.project import Project

KEY_VARIABLE = "AZURE_STORAGE_KEY"
DATASTORE_NAME = re.compile(r"[a-z][a-z0-9_]{0,254}")


@dataclass
class BlobStore:
    name: str
    account: str
    container: str


def _required(project: Project) -> BlobStore:
    settings = project.settings
    store = BlobStore(settings.get("DATASTORE"), settings.get("ACCOUNT"), settings.get("CONTAINER"))
    missing = [k for k, v in vars(store).items() if not v]
    if missing:
        raise UserError(
            "make datastore needs DATASTORE=<name> ACCOUNT=<storage account>"
            f" CONTAINER=<blob container> (missing: {', '.join(missing)})"
        )
    if not DATASTORE_NAME.fullmatch(store.name):
        raise UserError(
            f"DATASTORE={store.name!r}: use a lowercase letter, then lowercase letters,"
            " digits or _"
        )
    return store


def register_datastore(project: Project, dry_run: bool = False) -> int:
    """Register DATASTORE (ACCOUNT/CONTAINER, key from AZURE_STORAGE_KEY) in the
    workspace; returns 0. With `dry_run`, check the same settings, say what would be
    registered (never the key) and call nothing: no SDK import, no login.

    Raises UserError for a missing or invalid setting or a missing key."""
    store = _required(project)
    key = secret(project, KEY_VARIABLE)
    if not key:
        raise UserError(
            f"make datastore: set {KEY_VARIABLE} (the storage account key) in .env or the"
            " environment; it is never read from config.env or YAML"
        )
    if dry_run:
        say(
            f"DRY_RUN: would register datastore {store.name}: blob container"
            f" {store.container} of storage account {store.account}, key from {KEY_VARIABLE}"
            f" (SDK {backend(project)}); nothing registered"
        )
        print(f"azureml://datastores/{store.name}/paths/")
        return 0
    if backend(project) == "v1":
        _register_v1(project, store, key)
    else:
        _register_v2(project, store, key)
    say(f"datastore {store.name}: {store.account}/{store.container} (key from {KEY_VARIABLE})")
    print(f"azureml://datastores/{store.name}/paths/")
    return 0


def _register_v2(project: Project, store: BlobStore, key: str) -> None:
    from amlops.cloud.sdk import azure_errors, require_sdk
    from amlops.cloud.workspace import connect

    require_sdk("datastore")
    from azure.ai.ml.entities import AccountKeyConfiguration, AzureBlobDatastore

    client = connect(project)
    with azure_errors("make datastore"):
        client.datastores.create_or_update(
            AzureBlobDatastore(
                name=store.name,
                account_name=store.account,
                container_name=store.container,
                credentials=AccountKeyConfiguration(account_key=key),
            )
        )


def _register_v1(project: Project, store: BlobStore, key: str) -> None:
    from amlops.cloud.v1.workspace import connect_v1, require_v1, v1_errors

    require_v1("datastore")
    workspace = connect_v1(project)
    from azureml.core import Datastore

    with v1_errors("make datastore"):
        Datastore.register_azure_blob_container(
            workspace=workspace,
            datastore_name=store.name,
            container_name=store.container,
            account_name=store.account,
            account_key=key,
        )
