"""Step reuse: a step whose code, environment, inputs and literals are unchanged
since a successful run is not run again; that run's outputs are used.

The key is content-based, like Azure ML's: the staged code (the job's code
snapshot, file by file), the environment identity (image tag or venv hash), the
command, declared outputs, distribution and resources, the literal values, and
the content of every input; for a sweep node also its sweep settings (search_space,
sampling_algorithm, objective, limits, early_termination), so a changed search
space runs the sweep again. A reused run's outputs must still hold what they
held when it finished. Each step's last key parts are kept, so a plan can say
why a step would run (which file, input, environment or literal changed)."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from amlops.fingerprint import FileHashes, fingerprint
from amlops.jsonfile import write_json
from amlops.project import Project
from amlops.runs import RUN_FILE, load_record, read_record, reuse_problem, tell_damaged
from amlops.spec.job import JobSpec
from amlops.staging import code_snapshot, snapshot_files

KEY_VERSION = "2"


@dataclass
class Reusable:
    """A finished step run that can stand in for a new one."""

    step_dir: Path
    outputs: Dict[str, Path]


class ReuseCache:
    """`.runs/.reuse/<key>.json` entries, the last parts of each step, and the file-digest
    cache behind them."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.folder = project.runs / ".reuse"
        # In a folder of their own: .reuse/*.json are the reuse entries, one per key.
        self.hashes = FileHashes(self.folder / "hashes" / "files.json")

    def code_files(self, spec: JobSpec) -> Dict[str, str]:
        """{path in the snapshot: content digest} of `spec`'s code snapshot."""
        files = snapshot_files(self.project, code_snapshot(self.project, spec))
        return {rel: self.hashes.digest(path) for rel, path in files if not rel.endswith("/")}

    def content(self, path: Path) -> str:
        """A digest of a file or folder's content."""
        return fingerprint(path, self.hashes)

    def parts(
        self,
        spec: JobSpec,
        environment: str,
        literals: Dict[str, str],
        inputs: Dict[str, Path],
    ) -> Dict[str, Any]:
        """What decides whether one step about to run can be reused."""
        sweep = {"sweep": spec.sweep.settings()} if spec.sweep is not None else {}
        return {
            **sweep,
            "version": KEY_VERSION,
            "code": self.code_files(spec),
            "environment": environment,
            "command": spec.command,
            "environment_variables": spec.environment_variables,
            "outputs": {n: o.raw for n, o in spec.outputs.items()},
            "distribution": spec.raw.get("distribution"),
            "resources": spec.raw.get("resources"),
            "literals": literals,
            "inputs": {n: self.content(p) for n, p in sorted(inputs.items())},
        }

    @staticmethod
    def key(parts: Dict[str, Any]) -> str:
        blob = json.dumps(parts, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:24]

    def lookup(self, key: str) -> Optional[Reusable]:
        """The run recorded under `key`, if its outputs are still intact."""
        path = self.folder / f"{key}.json"
        entry = load_record(path, reuse_problem)  # a damaged one is said, never reused
        if entry is None:
            return None
        step_dir = self.project.root / entry["step_dir"]
        if not step_dir.is_dir():
            tell_damaged(path, f"its step folder {entry['step_dir']} is gone")
            return None
        if (step_dir / RUN_FILE).exists() and not read_record(step_dir):
            return None  # its run.json is damaged (said by read_record)
        outputs = {n: self.project.root / p for n, p in entry["outputs"].items()}
        digests = entry["digests"]
        for name, out in outputs.items():
            if not out.exists() or self.content(out) != digests.get(name):
                return None
        return Reusable(step_dir, outputs)

    def _last_file(self, pipeline: str, step: str) -> Path:
        return self.folder / "steps" / pipeline / f"{step}.json"

    def remember(
        self,
        key: str,
        step_dir: Path,
        outputs: Dict[str, Path],
        parts: Dict[str, Any],
        pipeline: str,
        step: str,
    ) -> None:
        """Record a successful run under `key`, and its parts as the step's last ones."""
        entry = {
            "step_dir": self.project.relative(step_dir),
            "outputs": {n: self.project.relative(p) for n, p in outputs.items()},
            "digests": {n: self.content(p) for n, p in outputs.items()},
        }
        write_json(self.folder / f"{key}.json", entry)
        self._last_file(pipeline, step).parent.mkdir(parents=True, exist_ok=True)
        write_json(self._last_file(pipeline, step), {"key": key, "parts": parts})

    def last_parts(self, pipeline: str, step: str) -> Optional[Dict[str, Any]]:
        """The parts of the step's last successful run, or None."""
        record = load_record(
            self._last_file(pipeline, step),
            lambda r: (
                "" if isinstance(r, dict) and isinstance(r.get("parts"), dict) else "no parts"
            ),
        )
        return record["parts"] if record else None

    def save(self) -> None:
        self.hashes.save()


def differences(old: Optional[Dict[str, Any]], new: Dict[str, Any]) -> List[str]:
    """Why a step whose parts changed from `old` to `new` runs, in a few words each."""
    if old is None or old.get("version") != new.get("version"):
        return ["no earlier run"]
    reasons: List[str] = []
    old_code, new_code = old.get("code", {}), new.get("code", {})
    changed = sorted(
        rel for rel in set(old_code) | set(new_code) if old_code.get(rel) != new_code.get(rel)
    )
    if changed:
        shown = ", ".join(changed[:3]) + (
            f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        )
        reasons.append(f"code changed: {shown}")
    if old.get("environment") != new.get("environment"):
        reasons.append("environment changed")
    for name in sorted(set(old.get("literals", {})) | set(new.get("literals", {}))):
        before, after = old.get("literals", {}).get(name), new.get("literals", {}).get(name)
        if before != after:
            reasons.append(f"literal {name}: {before} -> {after}")
    for name in sorted(set(old.get("inputs", {})) | set(new.get("inputs", {}))):
        if old.get("inputs", {}).get(name) != new.get("inputs", {}).get(name):
            reasons.append(f"input {name} changed")
    for part in ("command", "environment_variables", "outputs", "distribution", "resources"):
        if old.get(part) != new.get(part):
            reasons.append(f"{part.replace('_', ' ')} changed")
    old_sweep, new_sweep = old.get("sweep") or {}, new.get("sweep") or {}
    changed = [
        k for k in sorted(set(old_sweep) | set(new_sweep)) if old_sweep.get(k) != new_sweep.get(k)
    ]
    if changed:
        reasons.append(f"sweep changed: {', '.join(changed)}")
    return reasons or ["its earlier outputs changed or are gone"]
