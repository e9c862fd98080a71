"""`make data-pull EXP=x` and `make data-push DIR=... NAME=...` (SDK v2).

data-pull: each path input of src/x/job.yaml that names remote data (a data asset
`azureml:<name>:<version>` / `@latest`, `azureml://datastores/<store>/paths/<p>`, an
https file, or a blob container prefix by https, wasbs or abfss URL: see
cloud/storage_urls.py) is downloaded to where `make local` looks for it:
`data/<asset>/`, else `data/<input name>/`. Local paths are left alone. An https file
needs no SDK and no login; a container prefix is tried anonymously (a public
container), then with your login; azureml: data needs the workspace.
data-push: a local folder uploaded to the workspace's default datastore under
`amlops/data/<NAME>/<version>/` and registered as data asset NAME, version VERSION
or the next integer.

Blobs move with azure-storage-blob, with the datastore's key or SAS when it has
one, else your Azure login. An existing local folder is never overwritten without
FORCE=1; a download goes to a temporary folder first, so a failure loses nothing."""

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

from amlops.cloud.packages import backend
from amlops.cloud.sdk import azure_errors, require_sdk
from amlops.cloud.storage_urls import container_path, download_file, file_name, is_folder
from amlops.cloud.workspace import connect, credential
from amlops.console import say
from amlops.diskspace import size_text
from amlops.errors import UserError
from amlops.inputs import REMOTE_PREFIXES
from amlops.project import Project
from amlops.spec.job import InputSpec, load_experiment
from amlops.spec.references import asset_name, datastore_path, workspace_asset

# What data-pull downloads: the rest of inputs.REMOTE_PREFIXES (adl://) is refused.
PULLABLE = ("azureml:", "http://", "https://", "wasbs://", "wasb://", "abfss://", "abfs://")


@dataclass
class BlobPlace:
    """A folder (or file) in a blob container, and how to reach it."""

    account_url: str
    container: str
    prefix: str
    credential: Any

    def container_client(self) -> Any:
        from azure.storage.blob import ContainerClient

        return ContainerClient(self.account_url, self.container, credential=self.credential)


def _store_place(project: Project, client: Any, store_name: Optional[str], path: str) -> BlobPlace:
    """A datastore path (the default datastore when `store_name` is None)."""
    if store_name:
        store = client.datastores.get(store_name, include_secrets=True)
    else:
        store = client.datastores.get_default(include_secrets=True)
    if type(store).__name__ != "AzureBlobDatastore":
        raise UserError(
            f"datastore {store.name!r} is not Azure Blob storage; only blob is supported"
        )
    secrets = store.credentials
    secret: Any
    if getattr(secrets, "account_key", None):
        secret = {"account_name": store.account_name, "account_key": secrets.account_key}
    else:  # a SAS token, or an identity-based datastore: your own login
        secret = getattr(secrets, "sas_token", None) or credential(project)
    account_url = f"{store.protocol or 'https'}://{store.account_name}.blob.{store.endpoint}"
    return BlobPlace(account_url, store.container_name, path.strip("/"), secret)


def place_of(project: Project, client: Any, path: str) -> BlobPlace:
    """Where Azure data named like job.yaml names it lives."""
    asset = workspace_asset(path)
    if asset:
        if asset.version:
            found = client.data.get(asset.name, version=asset.version)
        else:
            found = client.data.get(asset.name, label=asset.label or "latest")
        path = str(found.path)
    stored = datastore_path(path)
    if stored:
        return _store_place(project, client, stored.store, stored.path)
    if path.startswith(("https://", "wasbs://", "abfss://")):
        where = container_path(path)
        return BlobPlace(where.account_url, where.container, where.prefix, credential(project))
    raise UserError(f"{path!r}: not a data asset, datastore path or blob URL")


def download(place: BlobPlace, target: Path) -> Tuple[int, int]:
    """Every blob under the prefix into `target` (relative paths kept); (files, bytes)."""
    container = place.container_client()
    prefix = place.prefix
    blobs = [b.name for b in container.list_blobs(name_starts_with=prefix)]
    if not blobs:
        raise UserError(f"nothing at {place.container}/{prefix}")
    single = len(blobs) == 1 and blobs[0] == prefix  # a uri_file
    size = 0
    for name in blobs:
        relative = Path(name).name if single else name[len(prefix) :].lstrip("/")
        if not relative or name.endswith("/"):
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        with open(destination, "wb") as out:
            size += container.download_blob(name).readinto(out)
    return len(blobs), size


def _v2_only(project: Project, target: str) -> None:
    if backend(project) != "v2":
        raise UserError(f"make {target} uses the v2 SDK (azure-ai-ml); AML_SDK=v1 projects cannot")


def _anonymous_then_login(project: Project, url: str, target: Path) -> Tuple[int, int]:
    """A container prefix named by URL (https, wasbs or abfss): anonymously first (a
    public container, as the azureml-examples data the Azure ML docs use by wasbs URL),
    else with your Azure login (azure-storage-blob either way). A host that cannot be
    reached fails on the anonymous try (ServiceRequestError), not as a login problem."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    where = container_path(url)
    place = BlobPlace(where.account_url, where.container, where.prefix, None)
    try:
        return download(place, target)
    except (ClientAuthenticationError, HttpResponseError) as err:
        if getattr(err, "status_code", None) not in (401, 403, 404, 409, None):
            raise
    place.credential = credential(project)
    return download(place, target)


def _pull_one(project: Project, item: InputSpec, target: Path, client: Callable[[], Any]) -> str:
    """Download one remote input into `target` (a new folder); what was pulled, in words."""
    path = item.path or ""
    label = f"input {item.name}"
    if path.startswith("azureml:"):
        with azure_errors(f"make data-pull: {label}"):
            count, size = download(place_of(project, client(), path), target)
    elif path.startswith(("http://", "https://")) and not is_folder(item.type):
        count, size = 1, download_file(path, target / file_name(path), label)
    else:  # a container prefix by https, wasbs or abfss URL (PULLABLE)
        require_sdk("data-pull")
        with azure_errors(f"make data-pull: {label}"):
            count, size = _anonymous_then_login(project, path, target)
    return f"{count} file(s), {size_text(size)}"


def data_pull(project: Project, experiment: str, force: bool) -> int:
    """`make data-pull EXP=x`: every path input of the job that names remote data
    (a data asset or datastore path, https, wasbs or abfss) into data/<asset or input>/."""
    spec = load_experiment(project, experiment)
    remote = [
        item
        for item in spec.inputs.values()
        if item.is_path and (item.path or "").startswith(REMOTE_PREFIXES)
    ]
    if not remote:
        say(f"{spec.shown_as} names no remote data (its inputs are local or literal)")
        return 0
    if any((item.path or "").startswith("azureml:") for item in remote):
        _v2_only(project, "data-pull with azureml: inputs")
    targets = {
        item.name: project.data / (asset_name(item.path or "") or item.name) for item in remote
    }
    for item in remote:
        if not (item.path or "").startswith(PULLABLE):
            raise UserError(
                f"input {item.name}: {item.path} cannot be pulled here (data-pull reads"
                " data assets, datastore paths, https, wasbs and abfss URLs); copy the data"
                f" into {project.relative(targets[item.name])}/"
            )
    taken = [project.relative(t) for t in targets.values() if t.exists() and any(t.iterdir())]
    if taken and not force:
        raise UserError(f"data-pull: {', '.join(taken)} already exist(s); FORCE=1 replaces them")
    clients: List[Any] = []

    def client() -> Any:
        if not clients:
            require_sdk("data-pull")
            clients.append(connect(project))
        return clients[0]

    for item in remote:
        target = targets[item.name]
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".pull-"))
        try:
            pulled = _pull_one(project, item, scratch, client)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)  # the old folder stays as it was
            raise
        if target.exists():
            shutil.rmtree(target)
        scratch.rename(target)
        say(f"input {item.name}: {pulled} from {item.path} -> {project.relative(target)}")
    return 0


def _next_version(client: Any, name: str) -> str:
    numbers: List[int] = []
    try:
        numbers = [int(d.version) for d in client.data.list(name=name) if str(d.version).isdigit()]
    except Exception as err:  # noqa: BLE001 - a new name has no versions to list
        if type(err).__name__ != "ResourceNotFoundError":
            raise
    return str(max(numbers, default=0) + 1)


def data_push(project: Project, folder: str, name: str, version: str) -> int:
    """`make data-push DIR=... NAME=...`."""
    _v2_only(project, "data-push")
    if not folder or not name:
        raise UserError("make data-push needs DIR=<local folder> NAME=<data asset name>")
    source = (project.root / folder).resolve()
    if not source.is_dir():
        raise UserError(f"DIR={folder!r}: not a folder")
    files = [p for p in sorted(source.rglob("*")) if p.is_file()]
    if not files:
        raise UserError(f"DIR={folder!r}: no files to upload")
    require_sdk("data-push")
    from azure.ai.ml.entities import Data

    client = connect(project)
    with azure_errors("make data-push"):
        version = version or _next_version(client, name)
        prefix = f"amlops/data/{name}/{version}"
        place = _store_place(project, client, None, prefix)
        container = place.container_client()
        for path in files:
            with open(path, "rb") as data:
                blob = f"{prefix}/{path.relative_to(source).as_posix()}"
                container.upload_blob(blob, data, overwrite=False)
        store = client.datastores.get_default().name
        asset = Data(
            name=name,
            version=version,
            type="uri_folder",
            path=f"azureml://datastores/{store}/paths/{prefix}/",
            description=f"Uploaded from {project.relative(source)} by make data-push",
        )
        client.data.create_or_update(asset)
    say(f"uploaded {len(files)} file(s) to {store}/{prefix}/")
    print(f"azureml:{name}:{version}")
    return 0
