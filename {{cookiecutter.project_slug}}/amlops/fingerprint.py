"""Content fingerprints of files and folders (used to prove inputs stayed unchanged)."""

import hashlib
import os
from pathlib import Path


def fingerprint(path: Path) -> str:
    """sha256 over relative names and contents of every file under `path`."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        rel = file.name if file == path else file.relative_to(path).as_posix()
        digest.update(rel.encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    if path.is_dir():
        # Empty folders count too: a run that adds one has changed the input.
        for folder, dirs, _ in os.walk(path):
            for name in sorted(dirs):
                digest.update(b"d:" + (Path(folder) / name).relative_to(path).as_posix().encode())
    return digest.hexdigest()
