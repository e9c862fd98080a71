"""Write JSON records atomically, so a reader (a test, a second make) never sees half a file."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional


def write_json(path: Path, data: Any, indent: Optional[int] = 2) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(json.dumps(data, indent=indent) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
