"""Step reuse: a step whose code, environment, inputs and literals are unchanged
since a successful run is not run again; that run's outputs are used.

The key is content-based, like Azure ML's: the staged code (experiment +
common, after .amlignore), the environment identity (image tag or venv hash),
the command and declared outputs, the literal values, and the content of every
input. A reused run's outputs must still hold what they held when it finished."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from amlops.fingerprint import FileHashes, digest_files, fingerprint
from amlops.jobspec import JobSpec
from amlops.jsonfile import write_json
from amlops.project import Project
from amlops.staging import snapshot

KEY_VERSION = "1"


@dataclass
class Reusable:
    """A finished step run that can stand in for a new one."""

    step_dir: Path
    outputs: Dict[str, Path]


class ReuseCache:
    """`.runs/.reuse/<key>.json` entries, plus the file-digest cache behind them."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.folder = project.runs / ".reuse"
        # In a folder of their own: .reuse/*.json are the reuse entries, one per key.
        self.hashes = FileHashes(self.folder / "hashes" / "files.json")

    def code_digest(self, experiment: str) -> str:
        """A digest of what would be staged for `experiment`."""
        return digest_files(snapshot(self.project, experiment), self.hashes)

    def content(self, path: Path) -> str:
        """A digest of a file or folder's content."""
        return fingerprint(path, self.hashes)

    def key(
        self,
        spec: JobSpec,
        environment: str,
        literals: Dict[str, str],
        inputs: Dict[str, Path],
    ) -> str:
        """The reuse key of one step about to run."""
        parts = {
            "version": KEY_VERSION,
            "experiment": spec.file.parent.name,
            "code": self.code_digest(spec.file.parent.name),
            "environment": environment,
            "command": spec.command,
            "environment_variables": spec.environment_variables,
            "outputs": {n: o.type for n, o in spec.outputs.items()},
            "literals": literals,
            "inputs": {n: self.content(p) for n, p in sorted(inputs.items())},
        }
        blob = json.dumps(parts, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:24]

    def lookup(self, key: str) -> Optional[Reusable]:
        """The run recorded under `key`, if its outputs are still intact."""
        try:
            entry = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        outputs = {n: self.project.root / p for n, p in entry.get("outputs", {}).items()}
        digests = entry.get("digests", {})
        for name, path in outputs.items():
            if not path.exists() or self.content(path) != digests.get(name):
                return None
        return Reusable(self.project.root / entry["step_dir"], outputs)

    def remember(self, key: str, step_dir: Path, outputs: Dict[str, Path]) -> None:
        """Record a successful run under `key`."""
        entry = {
            "step_dir": self.project.relative(step_dir),
            "outputs": {n: self.project.relative(p) for n, p in outputs.items()},
            "digests": {n: self.content(p) for n, p in outputs.items()},
        }
        write_json(self.folder / f"{key}.json", entry)

    def save(self) -> None:
        self.hashes.save()
