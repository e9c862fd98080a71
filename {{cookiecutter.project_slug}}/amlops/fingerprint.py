"""Content fingerprints of files and folders: to prove inputs stayed unchanged, and to
key step reuse. Their cost grows with what changed, not with what exists:

- `FileHashes` remembers each file's digest by (size, mtime, inode), so an unchanged
  file is only stat'ed, never read again; and each folder's digest by a signature of
  all those stats, so an unchanged folder of 20,000 files costs one walk of os.scandir
  and one dictionary lookup. The cache is kept in memory for the process and, given a
  store, in JSON files (loaded on first use, written only when something changed).
- Files that must be read are read in 1 MiB blocks by a few threads (hashlib and file
  reads release the GIL), so a first hash runs near disk speed.

A file modified less than RACY_S seconds before it was hashed is not remembered: a
second write within the file system's timestamp resolution could keep size and mtime."""

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from amlops.jsonfile import write_json

BLOCK = 1 << 20
GIL_PRIMER = 4096
RACY_S = 2.0
THREADS = min(8, (os.cpu_count() or 1) * 2)
BATCH = 32  # files per task: fewer futures than files, still spread over the threads
Signature = Tuple[int, int, int]  # size, mtime_ns, inode
# One scanned entry: (relative name, absolute path, signature); folders end in "/" and
# have no signature; a symlink that points nowhere has signature None too.
Entry = Tuple[str, str, Optional[Signature]]
_buffers = threading.local()


def file_digest(path) -> str:
    """sha256 of one file's content, read in 1 MiB blocks into a reused buffer."""
    buffer = getattr(_buffers, "block", None)
    if buffer is None:
        buffer = _buffers.block = bytearray(BLOCK)
    view = memoryview(buffer)
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        count = handle.readinto(buffer)
        # CPython's hashlib hashes a new object's first block holding the GIL (it sets up
        # its lock then): a small first update lets the rest run beside other threads.
        digest.update(view[: min(count, GIL_PRIMER)])
        if count > GIL_PRIMER:
            digest.update(view[GIL_PRIMER:count])
        while count:
            count = handle.readinto(buffer)
            digest.update(view[:count])
    return digest.hexdigest()


def _read_batch(paths: List[str]) -> List[str]:
    return [file_digest(path) for path in paths]


def _signature(stat: os.stat_result) -> Signature:
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino)


def _racy(signature: Signature, now_ns: int) -> bool:
    return now_ns - signature[1] < RACY_S * 1e9


def scan(root: Path) -> List[Entry]:
    """Every file and folder under `root` (or `root` itself when it is a file), in a
    stable order: each folder's files by name, then its subfolders by name, depth first
    (os.walk's order). Symlinked folders are skipped, as os.walk skips them."""
    root_text = os.path.abspath(root)
    if not os.path.isdir(root_text):
        return [(os.path.basename(root_text), root_text, _signature(os.stat(root_text)))]
    entries: List[Entry] = []
    _scan_folder(root_text, "", entries)
    return entries


def _scan_folder(folder: str, prefix: str, entries: List[Entry]) -> None:
    with os.scandir(folder) as listing:
        items = sorted(listing, key=lambda e: e.name)
    subfolders = []
    for item in items:
        try:
            is_dir = item.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            subfolders.append(item)
            continue
        try:
            signature: Optional[Signature] = _signature(item.stat())
        except OSError:  # a symlink to nothing
            signature = None
        entries.append((prefix + item.name, item.path, signature))
    for item in subfolders:
        if item.is_symlink():
            continue  # as os.walk: a symlinked folder is neither listed nor followed
        rel = f"{prefix}{item.name}/"
        entries.append((rel, item.path, None))
        _scan_folder(item.path, rel, entries)


class FileHashes:
    """File and folder digests cached by stat signatures; `store` (a JSON file, with a
    `.trees.json` sibling for folders) keeps them between processes."""

    # Shared by every instance in this process: what one hashed, the others reuse
    # (a pipeline's reuse keys, then the venv runtime's before/after input checks).
    _memo: Dict[str, list] = {}
    _memo_lock = threading.Lock()

    def __init__(self, store: Optional[Path] = None) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._files: Optional[Dict[str, list]] = None
        self._trees: Optional[Dict[str, list]] = None
        self._dirty = False

    # -- the stores, loaded on first use ----------------------------------------------

    @property
    def _tree_store(self) -> Optional[Path]:
        return self.store.with_name(self.store.stem + ".trees.json") if self.store else None

    @staticmethod
    def _load(path: Optional[Path]) -> Dict[str, list]:
        if not path:
            return {}
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _file_entries(self) -> Dict[str, list]:
        if self._files is None:
            loaded = self._load(self.store)
            with self._lock:
                if self._files is None:
                    self._files = loaded
        return self._files

    def _tree_entries(self) -> Dict[str, list]:
        if self._trees is None:
            loaded = self._load(self._tree_store)
            with self._lock:
                if self._trees is None:
                    self._trees = loaded
        return self._trees

    # -- files ------------------------------------------------------------------------

    def _known(self, key: str, signature: Signature) -> Optional[str]:
        for entries in (self._memo, self._file_entries()):
            entry = entries.get(key)
            if entry and tuple(entry[:3]) == signature:
                return entry[3]
        return None

    def _remember(self, key: str, signature: Signature, value: str, now_ns: int) -> None:
        if _racy(signature, now_ns):
            return
        entry = [*signature, value]
        with self._memo_lock:
            self._memo[key] = entry
        if self.store:
            files = self._file_entries()
            with self._lock:
                files[key] = entry
                self._dirty = True

    def digest(self, path: Path) -> str:
        """The sha256 of one file's content (read only when its stat changed)."""
        key = os.path.abspath(path)
        signature = _signature(os.stat(key))
        known = self._known(key, signature)
        if known:
            return known
        value = file_digest(key)
        self._remember(key, signature, value, time.time_ns())
        return value

    def _digests(self, files: List[Tuple[str, Signature]]) -> List[str]:
        """Digests of many files: cached ones from the cache, the rest read in threads."""
        values: List[Optional[str]] = [self._known(k, s) for k, s in files]
        missing = [i for i, value in enumerate(values) if value is None]
        if missing:
            now_ns = time.time_ns()
            paths = [files[i][0] for i in missing]
            if len(paths) > 1 and THREADS > 1:
                batches = [paths[i : i + BATCH] for i in range(0, len(paths), BATCH)]
                from concurrent.futures import ThreadPoolExecutor  # ~10 ms: only here

                with ThreadPoolExecutor(THREADS) as pool:
                    read = [v for batch in pool.map(_read_batch, batches) for v in batch]
            else:
                read = _read_batch(paths)
            for i, value in zip(missing, read):
                values[i] = value
                self._remember(files[i][0], files[i][1], value, now_ns)
        return [value or "" for value in values]

    # -- folders ----------------------------------------------------------------------

    def tree(self, path: Path) -> str:
        """fingerprint() of a file or folder, from stats alone when nothing changed."""
        started_ns = time.time_ns()
        entries = scan(path)
        listing = hashlib.sha256()
        for rel, full, signature in entries:
            dangling = signature is None and not rel.endswith("/")
            stamp = f"link:{os.readlink(full)}" if dangling else signature
            listing.update(f"{rel}\0{stamp}\n".encode())
        signature_text = listing.hexdigest()
        key = os.path.abspath(path)
        trees = self._tree_entries() if self.store else {}
        known = self._memo.get("tree:" + key)
        if known and known[0] == signature_text:
            return known[1]
        known = trees.get(key)
        if known and known[0] == signature_text:
            with self._memo_lock:
                self._memo["tree:" + key] = known
            return known[1]
        files = [(p, s) for rel, p, s in entries if s is not None and not rel.endswith("/")]
        digests = iter(self._digests(files))
        digest = hashlib.sha256()
        for rel, full, signature in entries:
            digest.update(rel.encode() + b"\0")
            if rel.endswith("/"):
                pass
            elif signature is None:  # a dangling symlink: its target names it
                digest.update(f"link:{os.readlink(full)}".encode())
            else:
                digest.update(next(digests).encode())
            digest.update(b"\0")
        value = digest.hexdigest()
        if not any(s and _racy(s, started_ns) for _, _, s in entries):
            with self._memo_lock:
                self._memo["tree:" + key] = [signature_text, value]
            if self.store:
                with self._lock:
                    trees[key] = [signature_text, value]
                    self._dirty = True
        return value

    def save(self) -> None:
        """Write the cache back (atomically) when it has a store and something changed;
        entries of files and folders that no longer exist (e.g. deleted run folders)
        are dropped then, so it does not grow forever."""
        if not self.store or not self._dirty:
            return
        with self._lock:
            files = {k: v for k, v in (self._files or {}).items() if os.path.exists(k)}
            trees = {k: v for k, v in (self._trees or {}).items() if os.path.exists(k)}
            write_json(self.store, files, indent=None)
            write_json(self._tree_store, trees, indent=None)
            self._dirty = False


_process_hashes = FileHashes()


def fingerprint(path: Path, hashes: Optional[FileHashes] = None) -> str:
    """A digest of every file name and content under `path`; empty folders count.
    Unchanged files are not read again within this process (nor, with a stored
    `hashes`, across processes)."""
    return (hashes or _process_hashes).tree(path)
