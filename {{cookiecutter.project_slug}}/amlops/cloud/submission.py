"""A submission folder: what goes to Azure ML, kept on disk before anything is sent.

`.runs/azure/<kind>/<name>/<id>/` holds the native v2 YAML (`job.yaml`), one
staged code snapshot per experiment (`code/<exp>/`: the experiment and
src/common after .amlignore) and a copy of each experiment's Docker build
context (`environments/<exp>/`). Paths in the YAML are relative to the folder,
so `az ml job create -f <folder>/job.yaml` works from anywhere."""

import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from amlops.errors import UserError
from amlops.jobspec import JobSpec
from amlops.jsonfile import write_json
from amlops.local.runs import unique_folder
from amlops.project import Project
from amlops.staging import stage_code
from amlops.yamlfile import dump_yaml, line_of

JOB_FILE = "job.yaml"
RECORD_FILE = "submission.json"
SKIPPED_IN_CONTEXT = {"__pycache__", ".pytest_cache"}


class Submission:
    """One submission folder, filled experiment by experiment."""

    def __init__(self, project: Project, kind: str, name: str, folder: Optional[Path] = None):
        self.project = project
        self.kind = kind
        self.name = name
        self.folder = folder or unique_folder(project.runs / "azure" / kind / name)
        self.record: Dict[str, Any] = {"kind": kind, "name": name, "created": time.time()}
        self.snapshots: Dict[str, List[str]] = {}

    @property
    def job_file(self) -> Path:
        return self.folder / JOB_FILE

    def local_path(self, path: Path) -> str:
        """A local file or folder as the YAML refers to it (relative to the folder)."""
        return os.path.relpath(path.resolve(), self.folder)

    def code(self, experiment: str) -> str:
        """Stage `experiment` once; its `code:` value."""
        if experiment not in self.snapshots:
            dest = self.folder / "code" / experiment
            self.snapshots[experiment] = stage_code(self.project, experiment, dest)
        return f"code/{experiment}"

    def environment(self, experiment: str, spec: JobSpec) -> Any:
        """job.yaml's `environment:` with a local build context or conda file copied in."""
        env = spec.raw.get("environment")
        if not isinstance(env, dict):
            if not env:
                raise UserError(f"{spec.where(0)}: environment: is required for Azure ML")
            return env
        env = dict(env)
        target = self.folder / "environments" / experiment
        build = env.get("build")
        if isinstance(build, dict) and build.get("path"):
            source = self._local(spec, str(build["path"]), line_of(env, "build"))
            if not source.is_dir():
                raise UserError(f"{spec.where(line_of(env, 'build'))}: build path is not a folder")
            if not target.exists():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns(*SKIPPED_IN_CONTEXT))
            env["build"] = {**build, "path": f"environments/{experiment}"}
        if isinstance(env.get("conda_file"), str):
            source = self._local(spec, env["conda_file"], line_of(env, "conda_file"))
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / source.name)
            env["conda_file"] = f"environments/{experiment}/{source.name}"
        return env

    @staticmethod
    def _local(spec: JobSpec, path: str, line: int) -> Path:
        found = (spec.file.parent / path).resolve()
        if not found.exists():
            raise UserError(f"{spec.where(line)}: environment path {path!r} does not exist")
        return found

    def discard(self) -> None:
        """Remove the folder of a submission that could not be built."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def build(self, make: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
        """Write the native job `make()` returns; a folder that could not be built
        (bad input, missing data) is removed, as nothing in it is worth keeping."""
        try:
            native = make()
            self.write(native)
        except BaseException:
            self.discard()
            raise
        return native

    def write(self, native: Dict[str, Any]) -> Path:
        """Write the native YAML and the record; returns the YAML's path."""
        dump_yaml(self.job_file, native)
        self.record["files"] = {exp: len(files) for exp, files in self.snapshots.items()}
        self.save()
        return self.job_file

    def save(self, **fields: Any) -> None:
        """Update submission.json (job name, URL, status, error)."""
        self.record.update(fields)
        write_json(self.folder / RECORD_FILE, self.record)
