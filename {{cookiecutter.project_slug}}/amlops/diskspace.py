"""A full disk (ENOSPC, or a quota: EDQUOT) said in one line naming the path, the space
free there and, where known, the space needed - never an OSError traceback."""

import errno
import os
import shutil
from pathlib import Path
from typing import Optional

from amlops.errors import UserError

FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def is_disk_full(err: BaseException) -> bool:
    """Whether `err` is an OSError for a full disk or an exhausted quota."""
    return isinstance(err, OSError) and err.errno in FULL


def size_text(size: float) -> str:
    """Bytes as `512 B`, `3.4 KB`, `12.0 MB`, `1.5 GB` (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _free(path: Path) -> Optional[int]:
    """Free bytes on the filesystem holding `path` (its nearest existing parent)."""
    for folder in (path, *path.parents):
        if folder.exists():
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                return None
    return None


def disk_full_error(err: OSError, where: Path, needed: Optional[int] = None) -> UserError:
    """The one-line UserError for `err`: its file (else `where`), the space free on that
    filesystem and `needed` bytes when known. Exit code 1, as a failed run."""
    written = err.filename2 or err.filename  # a copy names its source first
    path = Path(os.fsdecode(written)) if written else where
    try:
        shown = os.path.relpath(path)
    except ValueError:
        shown = str(path)
    free = _free(path)
    space = f"{size_text(free)} free there" if free is not None else "no space left"
    if needed:
        space += f", {size_text(needed)} needed"
    return UserError(
        f"disk full writing {shown} ({space}): free some space (make prune removes old"
        " local runs) and run again",
        1,
    )
