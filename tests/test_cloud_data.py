"""make data-pull / data-push: blobs move through a real blob service (Azurite, from
the npm registry, started here) and the Azure ML calls go to the recording fake."""

import json
import socket
import subprocess
import time

import pytest

from tests.cloud_support import SUBSCRIPTION, cloud_make, cloud_project
from tests.helpers import error_lines, npm_package

pytest.importorskip("azure.ai.ml")

from azure.ai.ml._restclient.arm_ml_service.models import DataVersionBase  # noqa: E402
from azure.storage.blob import BlobServiceClient  # noqa: E402

AZURITE_VERSION = "3.35.0"
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
WORKSPACE = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg"
    "/providers/Microsoft.MachineLearningServices/workspaces/ws"
)


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    """An Azurite blob service on a free port; yields (port, BlobServiceClient)."""
    binary = npm_package("azurite", AZURITE_VERSION).parent / ".bin" / "azurite-blob"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    location = tmp_path_factory.mktemp("azurite")
    server = subprocess.Popen(
        [str(binary), "--location", str(location), "--blobHost", "127.0.0.1"]
        + ["--blobPort", str(port), "--skipApiVersionCheck", "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    service = BlobServiceClient(
        f"http://127.0.0.1:{port}/{ACCOUNT}",
        credential={"account_name": ACCOUNT, "account_key": KEY},
    )
    for _ in range(100):
        try:
            service.create_container("data")
            break
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.1)
    else:
        server.kill()
        pytest.fail("Azurite did not start")
    yield port, service
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture()
def project(tmp_path, azurite):
    port, service = azurite
    baked = cloud_project(tmp_path / "bake")
    baked.env["AMLOPS_FAKE_AZURE_BLOB_PORT"] = str(port)
    return baked


def blobs(service, prefix: str) -> dict:
    container = service.get_container_client("data")
    return {
        b.name: container.download_blob(b.name).readall().decode()
        for b in container.list_blobs(name_starts_with=prefix)
    }


def test_pull_downloads_a_data_asset_where_make_local_looks(project, tmp_path, azurite):
    _, service = azurite
    container = service.get_container_client("data")
    remote = {
        "assets/wine/3/part-1.csv": "a,b\n1,2\n",
        "assets/wine/3/more/part-2.csv": "a,b\n3,4\n",
    }
    for name, text in remote.items():
        container.upload_blob(name, text.encode(), overwrite=True)
    state = tmp_path / "workspace.json"
    state.write_text(
        json.dumps(
            {
                "data/wine/versions/3": {
                    "id": f"{WORKSPACE}/data/wine/versions/3",
                    "name": "3",
                    "properties": {
                        "dataType": "uri_folder",
                        "dataUri": f"azureml:/{WORKSPACE}/datastores/workspaceblobstore"
                        "/paths/assets/wine/3/",
                    },
                }
            }
        )
    )
    project.edit("src/train/job.yaml", "path: ../../data/wine", "path: azureml:wine:3")
    local = project.path / "data/wine"
    before = sorted(p.name for p in local.iterdir())

    refused, rec = cloud_make(project, tmp_path, "data-pull", EXP="train", state=state)
    assert refused.returncode != 0 and not rec.requests
    (line,) = error_lines(refused.stderr)
    assert "data/wine already exist" in line and "FORCE=1" in line
    assert sorted(p.name for p in local.iterdir()) == before  # nothing lost

    result, rec = cloud_make(project, tmp_path, "data-pull", EXP="train", FORCE="1", state=state)
    assert result.returncode == 0, result.stderr
    pulled = {
        p.relative_to(local).as_posix(): p.read_text() for p in local.rglob("*") if p.is_file()
    }
    assert pulled == {"part-1.csv": "a,b\n1,2\n", "more/part-2.csv": "a,b\n3,4\n"}
    asked = [r["url"].split("/workspaces/ws/")[1].split("?")[0] for r in rec.requests]
    assert "data/wine/versions/3" in asked and "datastores/workspaceblobstore/listSecrets" in asked
    assert not list(local.parent.glob(".pull-*"))


def test_push_uploads_a_folder_and_registers_versions(project, tmp_path, azurite):
    _, service = azurite
    incoming = project.path / "incoming"
    (incoming / "sub").mkdir(parents=True)
    (incoming / "a.csv").write_text("x\n1\n")
    (incoming / "sub/b.csv").write_text("x\n2\n")
    state = tmp_path / "workspace.json"

    result, rec = cloud_make(
        project, tmp_path, "data-push", DIR="incoming", NAME="fresh", state=state
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "azureml:fresh:1"
    assert blobs(service, "amlops/data/fresh/1/") == {
        "amlops/data/fresh/1/a.csv": "x\n1\n",
        "amlops/data/fresh/1/sub/b.csv": "x\n2\n",
    }
    (put,) = [r for r in rec.puts("data") if r["status"] < 300]
    assert put["url"].split("/workspaces/ws/")[1].startswith("data/fresh/versions/1?")
    version = DataVersionBase(put["body"]).properties
    assert version.data_type == "uri_folder"
    assert version.data_uri.endswith("/datastores/workspaceblobstore/paths/amlops/data/fresh/1/")

    again, rec = cloud_make(
        project, tmp_path, "data-push", DIR="incoming", NAME="fresh", state=state
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "azureml:fresh:2"
    assert set(blobs(service, "amlops/data/fresh/2/")) == {
        "amlops/data/fresh/2/a.csv",
        "amlops/data/fresh/2/sub/b.csv",
    }


def test_push_refuses_a_missing_folder_before_calling_azure(project, tmp_path):
    result, rec = cloud_make(project, tmp_path, "data-push", DIR="nope", NAME="x")
    assert result.returncode != 0 and not rec.requests
    assert "DIR='nope'" in error_lines(result.stderr)[0]


@pytest.fixture()
def web_file(tmp_path):
    """A local HTTP server serving one CSV; yields its URL."""
    import functools
    import http.server
    import threading

    served = tmp_path / "web"
    served.mkdir()
    (served / "wine.csv").write_text("a,b\n" + "1,2\n" * 5000)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/wine.csv"
    server.shutdown()


def test_pull_downloads_an_https_file_without_a_workspace(project, tmp_path, web_file):
    """Issue 24.7: a public file named by URL needs no SDK call and no login."""
    project.edit("src/train/job.yaml", "type: uri_folder\n    path: ../../data/wine",
                 f"type: uri_file\n    path: {web_file}")  # fmt: skip
    result, rec = cloud_make(project, tmp_path, "data-pull", EXP="train")
    assert result.returncode == 0, result.stderr
    assert (project.path / "data/data/wine.csv").read_text().count("1,2") == 5000
    assert "downloading" in result.stderr and "KB" in result.stderr  # its size is said
    assert not rec.requests  # no Azure ML call


def test_pull_lists_a_public_container_prefix_named_by_url(project, tmp_path, azurite):
    port, service = azurite
    public = service.get_container_client("public")
    if not public.exists():
        public.create_container(public_access="container")
    for name, text in {"wine/part-1.csv": "a\n1\n", "wine/sub/part-2.csv": "a\n2\n"}.items():
        public.upload_blob(name, text.encode(), overwrite=True)
    url = f"http://127.0.0.1:{port}/{ACCOUNT}/public/wine/"
    project.edit("src/train/job.yaml", "path: ../../data/wine", f"path: {url}")
    result, rec = cloud_make(project, tmp_path, "data-pull", EXP="train")
    assert result.returncode == 0, result.stderr
    local = project.path / "data/data"
    pulled = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    assert pulled == {"part-1.csv", "sub/part-2.csv"}
    assert not rec.requests


def test_an_input_on_a_storage_that_cannot_be_pulled_is_one_line(project, tmp_path):
    project.edit("src/train/job.yaml", "path: ../../data/wine", "path: adl://store/wine")
    result, _ = cloud_make(project, tmp_path, "data-pull", EXP="train")
    assert result.returncode != 0
    (line,) = error_lines(result.stderr)
    assert "adl://" in line and "copy the data into data/data/" in line


BLOB = "https://acct.blob.core.windows.net"
AZURITE = "http://127.0.0.1:10000/devstoreaccount1"


@pytest.mark.parametrize(
    "url, account_url, container, prefix",
    [
        ("wasbs://c@acct.blob.core.windows.net/a/b", BLOB, "c", "a/b"),
        ("abfss://fs@acct.dfs.core.windows.net/p/", BLOB, "fs", "p/"),
        (f"{BLOB}/c/x.csv", BLOB, "c", "x.csv"),
        (f"{AZURITE}/c/p", AZURITE, "c", "p"),
    ],
)
def test_storage_urls_name_their_container_and_prefix(url, account_url, container, prefix):
    import sys

    from tests.helpers import TEMPLATE_PROJECT

    sys.path.insert(0, str(TEMPLATE_PROJECT))
    from amlops.cloud.storage_urls import ContainerPath, container_path

    assert container_path(url) == ContainerPath(account_url, container, prefix)
