"""The .amlignore rules (a gitignore subset) deciding what goes into a code snapshot."""

import fnmatch
from pathlib import Path
from typing import List, Tuple

ALWAYS_IGNORED = ["__pycache__/", "*.pyc", ".pytest_cache/", ".ipynb_checkpoints/"]


class IgnoreRules:
    """Ordered patterns; the last match wins and `!pattern` re-includes."""

    def __init__(self, lines: List[str]) -> None:
        self._rules: List[Tuple[bool, bool, str]] = []
        for raw in ALWAYS_IGNORED + lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = line.lstrip("!")
            dir_only = line.endswith("/")
            self._rules.append((negate, dir_only, line.strip("/")))

    @classmethod
    def from_file(cls, path: Path) -> "IgnoreRules":
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        return cls(lines)

    def ignored(self, relpath: str, is_dir: bool) -> bool:
        """Whether `relpath` (posix, relative to the snapshot root) is left out."""
        name = relpath.rsplit("/", 1)[-1]
        result = False
        for negate, dir_only, pattern in self._rules:
            if dir_only and not is_dir:
                continue
            target = relpath if "/" in pattern else name
            if fnmatch.fnmatchcase(target, pattern):
                result = not negate
        return result
