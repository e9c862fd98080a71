"""make datastore: a blob container registered with its key from .env only (both SDKs)."""

import pytest

from tests.cloud_support import cloud_make, cloud_project, v1_python
from tests.helpers import error_lines

pytest.importorskip("azure.ai.ml")

from azure.ai.ml._restclient.arm_ml_service.models import Datastore  # noqa: E402

KEY = "c3RvcmFnZS1rZXktbmV2ZXItcHJpbnRlZA=="
STORE = dict(DATASTORE="raw_data", ACCOUNT="acct", CONTAINER="landing")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    baked = cloud_project(tmp_path_factory.mktemp("ds"))
    with open(baked.path / ".env", "a") as env:
        env.write(f"AZURE_STORAGE_KEY={KEY}\n")
    return baked


def test_v2_registers_the_container_with_the_key_from_dotenv(project, tmp_path):
    result, rec = cloud_make(project, tmp_path, "datastore", **STORE)
    assert result.returncode == 0, result.stderr
    (put,) = rec.puts("datastores")
    assert put["url"].split("/datastores/")[1].startswith("raw_data?")
    store = Datastore(put["body"]).properties
    assert (store.account_name, store.container_name) == ("acct", "landing")
    assert store.credentials.secrets.key == KEY
    assert KEY not in result.stdout + result.stderr
    assert result.stdout.strip() == "azureml://datastores/raw_data/paths/"


def test_the_key_is_required_and_never_taken_from_config_env(project, tmp_path):
    config = project.path / "config.env"
    original = config.read_text()
    dotenv = project.path / ".env"
    saved = dotenv.read_text()
    try:
        dotenv.write_text(saved.replace(f"AZURE_STORAGE_KEY={KEY}\n", ""))
        result, rec = cloud_make(project, tmp_path, "datastore", **STORE)
        assert result.returncode != 0 and not rec.requests
        assert "set AZURE_STORAGE_KEY" in error_lines(result.stderr)[0]
        config.write_text(original + f"AZURE_STORAGE_KEY={KEY}\n")
        result, rec = cloud_make(project, tmp_path, "datastore", **STORE)
        assert result.returncode != 0 and not rec.requests
        (line,) = error_lines(result.stderr)
        assert "config.env sets AZURE_STORAGE_KEY" in line and KEY not in result.stderr
    finally:
        config.write_text(original)
        dotenv.write_text(saved)
    result, _ = cloud_make(project, tmp_path, "datastore", DATASTORE="Bad-Name", ACCOUNT="a")
    assert "CONTAINER" in error_lines(result.stderr)[0]


def test_v1_registers_through_azureml_core(tmp_path):
    baked = cloud_project(tmp_path / "v1", aml_sdk="v1")
    with open(baked.path / ".env", "a") as env:
        env.write(f"AZURE_STORAGE_KEY={KEY}\n")
    python = str(v1_python(baked.path))
    result, rec = cloud_make(baked, tmp_path, "datastore", PYTHON=python, **STORE)
    assert result.returncode == 0, result.stderr
    (call,) = rec.v1("datastore_register")
    assert call["name"] == "raw_data" and call["account_key"] == KEY
    assert (call["account_name"], call["container_name"]) == ("acct", "landing")
    assert KEY not in result.stdout + result.stderr
