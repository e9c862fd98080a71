"""Loaded by Python at start-up when this folder is on PYTHONPATH (tests only): when
AMLOPS_FAKE_AZURE names a folder, Azure ML calls are answered and recorded there -
SDK v2 calls by the fake service, SDK v1 workspace calls by their interceptors -
for whichever SDK this Python has."""

import importlib.util
import os


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is not installed
        return False


if os.environ.get("AMLOPS_FAKE_AZURE"):
    if _has("azure.ai.ml"):
        import fake_azure

        fake_azure.install()
    if _has("azureml.core"):
        import fake_azureml_v1

        fake_azureml_v1.install()
