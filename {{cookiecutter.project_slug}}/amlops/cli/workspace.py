"""The workspace look-ups a local command may need, handed to it through the Project.

A local run of a job whose environment is `azureml:<name>...` looks the environment up
in the workspace, and make pipeline-local downloads a registered component a node names;
local code gets these as callables (project.WorkspaceAccess) and never imports
amlops.cloud. The cloud modules are imported only when a look-up happens, so the
command line starts as fast as before."""

from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from amlops.project import Project, WorkspaceAccess


def _environment(project: Project, env: Any) -> Optional[Any]:
    from amlops.cloud.environments import look_up

    return look_up(project, env)


def _component(project: Project, reference: str) -> Optional[Path]:
    from amlops.cloud.registered_components import download

    return download(project, reference)


ACCESS = WorkspaceAccess(environment=_environment, component=_component)


def with_workspace(project: Project) -> Project:
    """`project` with the workspace look-ups set."""
    return replace(project, workspace=ACCESS)
