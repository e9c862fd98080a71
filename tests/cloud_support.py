"""Drive the baked project's cloud targets against the recording fake Azure ML service
(tests/support/fake_azure) and read back what was sent."""

import json
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from tests.conftest import PRELOAD
from tests.helpers import REPO, Baked, bake, cached_venv, default_project

FAKE_AZURE = REPO / "tests" / "support" / "fake_azure"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
SECRET = "s3cr3t-value-never-printed"
# The sample train experiment's code snapshot: src/train + src/common after .amlignore.
TRAIN_FILES = [
    "common/__init__.py",
    "common/tables.py",
    "common/tracking.py",
    "train/__init__.py",
    "train/job.yaml",
    "train/main.py",
    "train/sweep.yaml",
]


def cloud_project(folder: Path, **answers: str) -> Baked:
    """A baked project (default answers unless given) in a git repository, with a
    workspace and a service principal secret in .env (which the fake login never needs)."""
    project = Baked(bake(folder, **answers) if answers else default_project(folder))
    project.preload = PRELOAD
    (project.path / ".env").write_text(
        f"AZURE_SUBSCRIPTION_ID={SUBSCRIPTION}\nAZURE_RESOURCE_GROUP=rg\n"
        f"AZURE_ML_WORKSPACE=ws\nAZURE_TENANT_ID=t\nAZURE_CLIENT_ID=c\n"
        f"AZURE_CLIENT_SECRET={SECRET}\n"
    )
    git = ["git", "-C", str(project.path), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "baked"], check=True)
    return project


@dataclass
class Recording:
    """What one make call sent to the fake service."""

    folder: Path

    def _lines(self, name: str) -> List[Dict[str, Any]]:
        path = self.folder / name
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    @property
    def requests(self) -> List[Dict[str, Any]]:
        return self._lines("requests.jsonl")

    @property
    def uploads(self) -> List[Dict[str, Any]]:
        return self._lines("uploads.jsonl")

    def puts(self, collection: str) -> List[Dict[str, Any]]:
        """PUT requests to .../workspaces/ws/<collection>/..."""
        return [
            r
            for r in self.requests
            if r["method"] == "PUT" and f"/workspaces/ws/{collection}/" in r["url"]
        ]

    def job_body(self) -> Dict[str, Any]:
        puts = [r for r in self.puts("jobs") if r["status"] < 300]
        assert len(puts) == 1, [r["url"] for r in self.puts("jobs")]
        return puts[0]["body"]

    def v1(self, kind: str) -> List[Dict[str, Any]]:
        """What the SDK v1 interceptors recorded, of one kind (job_submit, publish, ...)."""
        return [r for r in self._lines("v1.jsonl") if r["kind"] == kind]

    def uploaded(self, name_part: str = "") -> List[Dict[str, str]]:
        """Uploaded file maps (relative path -> text) whose source contains `name_part`."""
        return [u["files"] for u in self.uploads if name_part in u["source"]]


def fake_env(record: Path, scenario: str = "", state: Optional[Path] = None) -> Dict[str, str]:
    """Environment that puts the fake service in front of the SDK, recording into `record`."""
    return {
        "PYTHONPATH": str(FAKE_AZURE),
        "AMLOPS_FAKE_AZURE": str(record),
        "AMLOPS_FAKE_AZURE_SCENARIO": scenario,
        "AMLOPS_FAKE_AZURE_STATE": str(state or ""),
    }


def cloud_make(
    project: Baked,
    tmp_path: Path,
    *args: str,
    scenario: str = "",
    state: Optional[Path] = None,
    **variables: str,
):
    """Run a make target with the fake service; returns (result, Recording). With
    `state`, the workspace's resources persist in that file from call to call."""
    record = tmp_path / f"record-{len(list(tmp_path.glob('record-*')))}"
    env = fake_env(record, scenario, state)
    saved = dict(project.env)
    project.env.update(env)
    try:
        result = project.make(*args, timeout=300, **variables)
    finally:
        project.env.clear()
        project.env.update(saved)
    return result, Recording(record)


def submitted_folder(result_stdout: str, project: Baked) -> Path:
    """The submission folder of a DRY_RUN (its job.yaml path is the last stdout line)."""
    return (project.path / result_stdout.strip().splitlines()[-1]).parent


def azure_extra(project: Path) -> List[str]:
    """The baked project's `azure` extra (the cloud SDK it installs)."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    return list(pyproject["project"]["optional-dependencies"]["azure"])


def v1_python(project: Path) -> Path:
    """A Python with the v1 project's `azure` extra (azureml-core, azureml-pipeline)
    and the project's own dependencies (what amlops imports: pyyaml, filelock, ...), in
    its own venv (v1 and v2 must not share one). Cached by requirement list under
    $AMLOPS_TEST_CACHE (default /tmp/amlops-test-cache)."""
    own = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    requirements = sorted(azure_extra(project) + list(own))
    return cached_venv("v1", requirements)
