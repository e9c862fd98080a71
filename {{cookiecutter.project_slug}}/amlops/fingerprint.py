"""Content fingerprints of files and folders: to prove inputs stayed unchanged,
and to key step reuse. `FileHashes` remembers file digests by (size, mtime,
inode) so an unchanged file is not read again."""

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from amlops.jsonfile import write_json


def file_digest(path: Path) -> str:
    """sha256 of one file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FileHashes:
    """A file-digest cache keyed by path and stat, optionally kept in a JSON file."""

    def __init__(self, store: Optional[Path] = None) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._entries: Dict[str, List] = {}
        if store and store.is_file():
            try:
                self._entries = json.loads(store.read_text(encoding="utf-8"))
            except ValueError:
                self._entries = {}

    def digest(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        signature = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        with self._lock:
            entry = self._entries.get(key)
        if entry and entry[:3] == signature:
            return entry[3]
        value = file_digest(path)
        with self._lock:
            self._entries[key] = signature + [value]
        return value

    def save(self) -> None:
        """Write the cache back (atomically) when it has a store; files that no
        longer exist (e.g. deleted run folders) are dropped, so it does not grow forever."""
        if not self.store:
            return
        with self._lock:
            kept = {k: v for k, v in self._entries.items() if os.path.exists(k)}
            write_json(self.store, kept, indent=None)


def digest_files(entries: Iterable[Tuple[str, Path]], hashes: Optional[FileHashes] = None) -> str:
    """sha256 over (name, content) pairs; names ending in `/` are folders."""
    digest = hashlib.sha256()
    for rel, path in entries:
        digest.update(rel.encode() + b"\0")
        if not rel.endswith("/"):
            digest.update((hashes.digest(path) if hashes else file_digest(path)).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def tree_entries(path: Path) -> List[Tuple[str, Path]]:
    """(relative name, path) of every file and folder under `path` (or the file itself)."""
    if path.is_file():
        return [(path.name, path)]
    entries: List[Tuple[str, Path]] = []
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        rel_folder = Path(folder).relative_to(path).as_posix()
        prefix = "" if rel_folder == "." else f"{rel_folder}/"
        if prefix:
            entries.append((prefix, Path(folder)))
        entries += [(prefix + name, Path(folder) / name) for name in sorted(files)]
    return entries


def fingerprint(path: Path, hashes: Optional[FileHashes] = None) -> str:
    """A digest of every file name and content under `path`; empty folders count."""
    return digest_files(tree_entries(path), hashes)
