"""Loaded by Python at start-up when this folder is on PYTHONPATH (tests only): when
AMLOPS_FAKE_AZURE names a folder, Azure ML calls are answered and recorded there -
SDK v2 calls by the fake service, SDK v1 workspace calls by their interceptors -
for whichever SDK this Python has.

The fakes are installed when the process first imports azure.identity or the SDK,
not at start-up: every Python process of a cloud test inherits this variable (the
local jobs, `python -c` probes, amlops commands that never reach Azure), and
importing the SDKs up front cost each of them 3-5 s of CPU."""

import importlib.abc
import importlib.util
import os
import sys


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is not installed
        return False


class _InstallOnImport(importlib.abc.MetaPathFinder):
    """Runs `install` right after the first of `triggers` (or a submodule's parent
    chain reaching one) has been imported, before the importer gets it."""

    def __init__(self, triggers, install) -> None:  # type: ignore[no-untyped-def]
        self.triggers = set(triggers)
        self.install = install
        self.done = False

    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if self.done or fullname not in self.triggers:
            return None
        self.done = True  # install() imports the triggers itself
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module) -> None:  # type: ignore[no-untyped-def]
            run(module)
            self.install()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _v2() -> None:
    import fake_azure

    fake_azure.install()


def _v1() -> None:
    import fake_azureml_v1

    fake_azureml_v1.install()


if os.environ.get("AMLOPS_FAKE_AZURE"):
    if _has("azure.ai.ml"):
        sys.meta_path.insert(0, _InstallOnImport({"azure.identity", "azure.ai.ml"}, _v2))
    if _has("azureml.core"):
        # v1's install blocks the network before azureml is imported (it fetches cloud
        # metadata on import), so it stays at start-up
        _v1()
