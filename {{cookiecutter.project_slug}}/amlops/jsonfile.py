"""Write JSON records atomically, so a reader (a test, a second make) never sees half a file.

A run's record must also say how the run ended when the disk filled up under it: with
`spare=True` the first write also reserves a same-sized spare file beside the record,
and a later write that finds no space writes over the spare's blocks (which needs no
new space on a filesystem that overwrites in place) and renames it over the record."""

import json
import os
from pathlib import Path
from typing import Any, Optional, Tuple

from amlops.diskspace import is_disk_full

SPARE_SLACK = 4096  # bytes a record may grow by after its spare is reserved


def _spare(path: Path) -> Path:
    return path.with_name(f".{path.name}.spare")


def _temporary(path: Path) -> Tuple[int, str]:
    """(descriptor, name) of a new file beside `path`, created exclusively, named as
    tempfile.mkstemp would (whose import, with `random`, costs every run ~3 ms)."""
    for _ in range(100):
        name = str(path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp"))
        try:
            return os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def write_json(path: Path, data: Any, indent: Optional[int] = 2, spare: bool = False) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename.

    `spare`: keep a spare file to fall back on when the disk is full (see the module
    docstring). Raises OSError (ENOSPC) when neither way had room; `path` then still
    holds its last complete version."""
    text = (json.dumps(data, indent=indent) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = _temporary(path)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException as err:
        Path(temporary).unlink(missing_ok=True)
        if spare and is_disk_full(err) and _write_over_spare(path, text):
            return
        raise
    if spare:
        _reserve(_spare(path), len(text) + SPARE_SLACK)


def _reserve(spare: Path, size: int) -> None:
    """Make `spare` at least `size` bytes (of real blocks); quietly not when no room."""
    try:
        if spare.is_file() and spare.stat().st_size >= size:
            return
        with open(spare, "wb") as out:
            out.write(b" " * size)
    except OSError:
        spare.unlink(missing_ok=True)


def _write_over_spare(path: Path, text: bytes) -> bool:
    """Write `text` over the spare's blocks and rename it to `path`; False when there is
    no spare big enough (or that failed too)."""
    spare = _spare(path)
    try:
        if not spare.is_file() or spare.stat().st_size < len(text):
            return False
        with open(spare, "r+b") as out:
            out.write(text)
            out.truncate(len(text))
        os.replace(spare, path)
        return True
    except OSError:
        return False


def release_spare(path: Path) -> None:
    """Delete the spare of a record that will not be written again."""
    _spare(path).unlink(missing_ok=True)
