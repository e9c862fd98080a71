"""Which Azure ML SDK backend a project uses (AML_SDK), its packages, and `make setup`'s
install of them. pyproject.toml's `azure` extra lists the backend chosen at bake time; AML_SDK in
config.env may name the other, so setup installs by AML_SDK. The two SDKs must not
share an environment (Microsoft's advice): v2 goes into the tools' Python (a venv
holding v1 is refused), v1 into a venv of its own (amlops.cloud.v1.environment), as
azureml-core's pins break the tools."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

from amlops.console import say, verbose
from amlops.errors import UserError
from amlops.project import Project

PACKAGES: Dict[str, List[str]] = {
    "v2": ["azure-ai-ml>=1.20", "azure-identity>=1.15"],
    "v1": ["azureml-core>=1.57", "azureml-pipeline>=1.57", "azure-identity>=1.15"],
}
# A module only the other backend's SDK installs.
OTHER_SDK_MODULE = {"v2": "azureml.core", "v1": "azure.ai.ml"}


def backend(project: Project) -> str:
    """AML_SDK: v2 (azure-ai-ml, the default) or v1 (azureml-core)."""
    chosen = (project.settings.get("AML_SDK") or "v2").lower()
    if chosen not in PACKAGES:
        raise UserError(f"AML_SDK={chosen!r}: use v2 (azure-ai-ml) or v1 (azureml-core)")
    return chosen


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def install_sdk(project: Project) -> int:
    """Install the AML_SDK=v2 backend into this Python (with the uv beside it, else pip),
    unless v1 is there (v1 goes into its own venv: amlops.cloud.v1.environment.install_v1,
    chosen by the CLI handler). Returns the installer's exit code."""
    chosen = backend(project)
    other = OTHER_SDK_MODULE[chosen]
    if _installed(other):
        raise UserError(
            f"AML_SDK={chosen} but this environment has {other} (the other Azure ML SDK):"
            " recreate it with `rm -rf .venv && make setup`"
        )
    say(f"installing the Azure ML SDK {chosen}: {' '.join(PACKAGES[chosen])}")
    quiet = [] if verbose() else ["--quiet"]  # pip and uv still print their errors
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))  # make setup's
    if uv:  # in a fraction of pip's time; it reads no pip.conf, so pip is the fallback
        command = [uv, "pip", "install", *quiet, "--python", sys.executable, *PACKAGES[chosen]]
        from amlops.local.venvs import uv_install_env

        if subprocess.run(command, env=uv_install_env(dict(os.environ))).returncode == 0:
            return 0
        say("uv could not install it: trying pip")
    command = [sys.executable, "-m", "pip", "install", *quiet, *PACKAGES[chosen]]
    return subprocess.run(command).returncode
