"""A submission folder: what goes to Azure ML, kept on disk before anything is sent.

`.runs/azure/<kind>/<name>/<id>/` holds the native v2 YAML (`job.yaml`), the
staged code snapshot of each job (`code/<name>/`, see staging.py) and a copy of
each local environment file (`environments/<name>/`: a Docker build context, a
conda file, an environment YAML). Paths in the YAML are relative to the
folder, so `az ml job create -f <folder>/job.yaml` works from anywhere."""

import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from amlops.console import say
from amlops.jsonfile import write_json
from amlops.project import Project
from amlops.runs import unique_folder
from amlops.spec.job import JobSpec
from amlops.staging import (
    SIZE_WARNING,
    code_snapshot,
    is_remote_code,
    link_or_copy,
    snapshot_size,
    stage,
)
from amlops.yamlfile import dump_yaml, load_yaml, plain

JOB_FILE = "job.yaml"
RECORD_FILE = "submission.json"
SKIPPED_IN_CONTEXT = {"__pycache__", ".pytest_cache"}


class Submission:
    """One submission folder, filled job by job (pipeline nodes share what is equal)."""

    def __init__(
        self,
        project: Project,
        kind: str,
        name: str,
        folder: Optional[Path] = None,
        link: bool = False,
    ):
        """`link`: stage code and environment files as symbolic links to the project's
        own (staging.link_or_copy), for a folder that is only read back (make validate)."""
        self.project = project
        self.link = link
        self.kind = kind
        self.name = name
        self.folder = folder or unique_folder(project.runs / "azure" / kind / name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.record: Dict[str, Any] = {"kind": kind, "name": name, "created": time.time()}
        self.snapshots: Dict[str, List[str]] = {}
        self.labels: Dict[str, str] = {}
        self._codes: Dict[Tuple, str] = {}
        self._environments: Dict[Tuple, str] = {}

    @property
    def job_file(self) -> Path:
        return self.folder / JOB_FILE

    def local_path(self, path: Path) -> str:
        """A local file or folder as the YAML refers to it (relative to the folder)."""
        return os.path.relpath(path.resolve(), self.folder)

    def _unique(self, kind: str, wanted: str, taken: Dict[Tuple, str]) -> str:
        used = {value.split("/", 1)[1] for value in taken.values()}
        name, number = wanted, 2
        while name in used:
            name, number = f"{wanted}-{number}", number + 1
        return f"{kind}/{name}"

    def code(self, spec: JobSpec) -> Optional[str]:
        """Stage `spec`'s code snapshot once; its `code:` value (None without code:;
        a remote code reference is sent unchanged)."""
        if spec.code is None:
            return None
        if is_remote_code(spec.code):
            return spec.code
        snap = code_snapshot(self.project, spec)
        key = snap.parts
        if key not in self._codes:
            relative = self._unique("code", spec.experiment, self._codes)
            dest = self.folder / relative
            files = stage(self.project, snap, dest, link=self.link)
            name = relative.split("/", 1)[1]
            self.snapshots[name] = files
            self.labels[name] = snap.label
            size = snapshot_size(dest, files)
            if size > SIZE_WARNING:
                say(
                    f"warning: code snapshot {name} is {size / 1e6:.0f} MB; leave data and"
                    " checkpoints out with .amlignore"
                )
            self._codes[key] = relative
        return self._codes[key]

    def environment(self, spec: JobSpec) -> Any:
        """The job's `environment:` as sent: references, images and inline conda specs
        unchanged; a local build context, conda file or environment file copied into
        environments/<name>/ with the path pointing there (every other field kept)."""
        env = spec.environment
        if env.context is None and env.conda_file is None and env.source_file is None:
            return plain(spec.raw.get("environment"))
        key = (env.context, env.dockerfile, env.conda_file, env.source_file)
        if key not in self._environments:
            self._environments[key] = self._unique(
                "environments", spec.experiment, self._environments
            )
        relative = self._environments[key]
        in_file = env.source_file is not None
        # Paths are relative to the YAML that holds them: the job file, or the env file.
        document = plain(load_yaml(env.source_file, str(env.source_file)) if in_file else env.raw)
        here = "" if in_file else f"{relative}/"
        target = self.folder / relative
        if env.context is not None:
            context = target / "context" if in_file else target
            if not context.exists():
                ignore = shutil.ignore_patterns(*SKIPPED_IN_CONTEXT)
                place = link_or_copy if self.link else shutil.copy2
                shutil.copytree(env.context, context, ignore=ignore, copy_function=place)
            document["build"] = {
                **document["build"],
                "path": f"{here}context" if in_file else relative,
            }
        if env.conda_file is not None:
            target.mkdir(parents=True, exist_ok=True)
            (link_or_copy if self.link else shutil.copy2)(
                env.conda_file, target / env.conda_file.name
            )
            document["conda_file"] = f"{here}{env.conda_file.name}"
        if not in_file:
            return document
        target.mkdir(parents=True, exist_ok=True)
        dump_yaml(target / "environment.yml", document)
        return f"file:{relative}/environment.yml"

    def discard(self) -> None:
        """Remove the folder of a submission that could not be built."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def build(self, make: Callable[[], Dict[str, Any]], write: bool = True) -> Dict[str, Any]:
        """Write the native job `make()` returns (`write` False: only stage what it
        names; `write(native)` writes it later); a folder that could not be built (bad
        input, missing data) is removed, as nothing in it is worth keeping."""
        try:
            native = make()
            if write:
                self.write(native)
        except BaseException:
            self.discard()
            raise
        return native

    def write(self, native: Dict[str, Any]) -> Path:
        """Write the native YAML and the record; returns the YAML's path."""
        dump_yaml(self.job_file, native)
        self.record["files"] = {name: len(files) for name, files in self.snapshots.items()}
        self.save()
        return self.job_file

    def save(self, **fields: Any) -> None:
        """Update submission.json (job name, URL, status, error)."""
        self.record.update(fields)
        write_json(self.folder / RECORD_FILE, self.record)
