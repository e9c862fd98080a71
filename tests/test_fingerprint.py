"""Content fingerprints (amlops.fingerprint): the same answer as reading everything,
at the cost of what changed - unchanged files and folders are only stat'ed."""

import hashlib
import json
import os
import sys
import time

import pytest

from tests.helpers import TEMPLATE_PROJECT

sys.path.insert(0, str(TEMPLATE_PROJECT))

import amlops.fingerprint as fp  # noqa: E402
from amlops.fingerprint import FileHashes, fingerprint  # noqa: E402

AN_HOUR_AGO = time.time() - 3600


def age(*paths):
    """Give files an old mtime, as data that was not just written has."""
    for path in paths:
        os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))


def walk_digest(root):
    """The fingerprint's definition, the slow way: os.walk order, every file read."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(folder, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        if prefix:
            digest.update(prefix.encode() + b"\0\0")
        for name in sorted(files):
            with open(os.path.join(folder, name), "rb") as handle:
                content = hashlib.sha256(handle.read()).hexdigest()
            digest.update((prefix + name).encode() + b"\0" + content.encode() + b"\0")
    return digest.hexdigest()


@pytest.fixture
def tree(tmp_path):
    """A folder of nested files (some bigger than one read block), an empty folder and a
    symlinked folder; all with old mtimes."""
    root = tmp_path / "data"
    for i in range(40):
        sub = root / f"part-{i % 4}" / ("deep" if i % 3 else "")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:02d}.bin").write_bytes(os.urandom(100 + i * 997))
    (root / "big.bin").write_bytes(os.urandom(fp.BLOCK * 2 + 5))
    (root / "empty").mkdir()
    (root / "link").symlink_to(root / "part-1", target_is_directory=True)
    age(*[p for p in root.rglob("*") if p.is_file() and not p.is_symlink()])
    FileHashes._memo.clear()  # as in a new process
    return root


@pytest.fixture
def reads(monkeypatch):
    """The files fingerprint reads (not merely stats)."""
    seen = []
    real = fp.file_digest

    def counting(path):
        seen.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(fp, "file_digest", counting)
    return seen


def test_fingerprint_equals_reading_every_file_in_walk_order(tree):
    assert fingerprint(tree, FileHashes()) == walk_digest(tree)
    assert fingerprint(tree / "big.bin") == fingerprint(tree / "big.bin", FileHashes())
    assert fingerprint(tree) != fingerprint(tree / "part-1")


def test_an_unchanged_folder_is_not_read_again_in_a_new_process(tree, tmp_path, reads):
    store = tmp_path / "hashes.json"
    first = FileHashes(store)
    digest = fingerprint(tree, first)
    assert len(reads) == 41
    first.save()

    FileHashes._memo.clear()
    reads.clear()
    assert fingerprint(tree, FileHashes(store)) == digest
    assert reads == [], "stats alone decide: nothing is read"


def test_one_changed_file_is_the_only_one_read_again(tree, tmp_path, reads):
    store = tmp_path / "hashes.json"
    hashes = FileHashes(store)
    before = fingerprint(tree, hashes)
    hashes.save()
    FileHashes._memo.clear()
    reads.clear()

    changed = tree / "part-2" / "f02.bin"
    changed.write_bytes(b"new content")
    age(changed)
    after = fingerprint(tree, FileHashes(store))
    assert after != before and after == walk_digest(tree)
    assert reads == ["f02.bin"]


def test_a_rewrite_within_the_timestamp_resolution_is_still_seen(tmp_path):
    """A file hashed right after it was written is not remembered: a second write in the
    same clock tick could keep its size and mtime."""
    folder = tmp_path / "data"
    folder.mkdir()
    target = folder / "x.csv"
    target.write_text("1,2\n")
    hashes = FileHashes(tmp_path / "hashes.json")
    first = fingerprint(folder, hashes)
    stat = target.stat()
    target.write_text("1,3\n")  # same size; force the same mtime as well
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fingerprint(folder, hashes) != first


def test_the_store_keeps_digests_and_drops_deleted_files(tree, tmp_path):
    store = tmp_path / "hashes.json"
    hashes = FileHashes(store)
    fingerprint(tree, hashes)
    hashes.save()
    entries = json.loads(store.read_text())
    assert str(tree / "big.bin") in entries and len(entries) == 41

    (tree / "big.bin").unlink()
    FileHashes._memo.clear()
    hashes = FileHashes(store)
    fingerprint(tree, hashes)
    hashes.save()
    assert str(tree / "big.bin") not in json.loads(store.read_text())


def test_a_dangling_symlink_counts_by_its_target_instead_of_failing(tree):
    (tree / "gone").symlink_to(tree / "nowhere")
    first = fingerprint(tree, FileHashes())
    (tree / "gone").unlink()
    (tree / "gone").symlink_to(tree / "elsewhere")
    assert fingerprint(tree, FileHashes()) != first
