"""What a pure reader made of a text, kept between commands (issue 23.2).

Every `make local` reads the same job file, config.env and ignore rules; importing the
libraries that read them (PyYAML, python-dotenv, pathspec) is a large part of a
do-nothing run's fixed cost. A reader whose result depends on nothing but the text
(and the reader's own code) keeps that result in a slot under `.runs/.cache/parsed/`, with the
whole text it was made from: a slot is used only when the text now read is exactly that
text (compared in full, not by a hash), so a changed file is always read again, and a
slot holds one file's last text only (a file changed a thousand times keeps one slot).

Slots are written atomically (temporary file, rename) with `marshal` (built in, nothing
to import); a slot that cannot be read, was written by another Python or another reader
version, or does not match is ignored and written anew; one that cannot be written is
skipped (caching is never a reason to fail). Only what a reader returns without error is
kept: a file with a problem is read, and its problem said, every time.

Off (every text read afresh) until the command line names the folder (`use`); tests of
the readers themselves run with it off."""

import hashlib
import marshal
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

# A slot: (FORMAT, version, text, value); FORMAT names this layout and the Python that
# wrote it (marshal's format may change between Python versions).
FORMAT = f"amlops-parsecache-1 {marshal.version} {sys.version}"
_folder: Optional[Path] = None


class Uncacheable(Exception):
    """Raised by an encoder for a value that marshal cannot keep exactly."""


def use(folder: Optional[Path]) -> None:
    """Keep results in `folder` (created on first write); None turns caching off."""
    global _folder
    _folder = folder


def folder() -> Optional[Path]:
    return _folder


def source_version(module_file: str) -> str:
    """A version of a reader from its own source file (size and modification time): an
    edited reader does not reuse what its older code made."""
    try:
        stat = os.stat(module_file)
    except OSError:
        return "?"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _slot(kind: str, name: str) -> Optional[Path]:
    if _folder is None:
        return None
    return _folder / f"{kind}-{hashlib.sha256(name.encode('utf-8', 'replace')).hexdigest()[:20]}"


def lookup(kind: str, name: str, text: str, version: str) -> Any:
    """The value kept for exactly `text` in slot `name` of `kind`, else None (a reader
    whose result may be None does not use this cache)."""
    slot = _slot(kind, name)
    if slot is None:
        return None
    try:
        kept = marshal.loads(slot.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if (
        type(kept) is tuple
        and len(kept) == 4
        and kept[0] == FORMAT
        and kept[1] == version
        and kept[2] == text
    ):
        return kept[3]
    return None


def keep(kind: str, name: str, text: str, version: str, value: Any) -> None:
    """Write slot `name` of `kind`: `value` (marshal-able) made from `text`."""
    slot = _slot(kind, name)
    if slot is None:
        return
    try:
        blob = marshal.dumps((FORMAT, version, text, value))
    except ValueError:  # not marshal-able: nothing kept
        return
    temporary = slot.with_name(f"{slot.name}.{os.getpid()}.tmp")
    try:
        slot.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(blob)
        os.replace(temporary, slot)
    except OSError:
        try:
            temporary.unlink()
        except OSError:
            pass


def cached(
    kind: str,
    name: str,
    text: str,
    read: Callable[[], Any],
    version: str = "",
    encode: Callable[[Any], Any] = lambda value: value,
    decode: Callable[[Any], Any] = lambda kept: kept,
) -> Any:
    """`read()`'s result for `text` (the whole input `read` depends on, with `version`):
    from slot `name` of `kind` when it was made from exactly this text, else read and
    kept. `encode` turns the result into marshal-able values (raising Uncacheable when it
    cannot keep it exactly) and `decode` turns them back into an equal, fresh result."""
    kept = lookup(kind, name, text, version)
    if kept is not None:
        return decode(kept)
    value = read()
    try:
        encoded = encode(value)
    except Uncacheable:
        return value
    keep(kind, name, text, version, encoded)
    return value
