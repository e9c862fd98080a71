"""Loaded by Python at start-up when this folder is on PYTHONPATH (tests only): when
AMLOPS_FAKE_AZURE names a folder, Azure ML calls go to the recording fake service."""

import os

if os.environ.get("AMLOPS_FAKE_AZURE"):
    import fake_azure

    fake_azure.install()
