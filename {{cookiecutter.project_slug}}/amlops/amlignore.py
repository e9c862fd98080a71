"""What a code snapshot leaves out: ignore files with gitignore semantics, as the
Azure ML SDK applies them.

The SDK (azure.ai.ml._utils._asset_utils.get_ignore_file) reads one ignore file
at the root of the `code:` folder, `.amlignore` if there is one, else
`.gitignore`, and matches every file path relative to that root with pathspec's
gitwildmatch patterns; the last matching pattern wins, so `!pattern` can
re-include a file even inside an ignored folder. We apply the same rules, plus
the project's own `.amlignore` (project root; a convention of this template)
and a few caches that no job needs."""

from pathlib import Path
from typing import List, Optional, Sequence

import pathspec

from amlops.errors import UserError

ALWAYS_IGNORED = ["__pycache__/", "*.pyc", ".pytest_cache/", ".ipynb_checkpoints/"]
IGNORE_FILES = (".amlignore", ".gitignore")


def read_lines(path: Path) -> List[str]:
    """The lines of an ignore file; one-line error when it cannot be read as UTF-8."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror})") from None


def code_root_ignore_file(root: Path) -> Optional[Path]:
    """The ignore file the SDK uses for a code folder: .amlignore, else .gitignore."""
    for name in IGNORE_FILES:
        if (root / name).is_file():
            return root / name
    return None


class IgnoreRules:
    """Ordered gitignore patterns over paths relative to the snapshot root."""

    def __init__(self, lines: Sequence[str]) -> None:
        self._spec = pathspec.PathSpec.from_lines("gitwildmatch", [*ALWAYS_IGNORED, *lines])
        self._negates = any(line.strip().startswith("!") for line in lines)

    @classmethod
    def for_snapshot(cls, project_ignore: Path, code_root: Optional[Path]) -> "IgnoreRules":
        """The project's .amlignore, then the code root's .amlignore (or .gitignore)."""
        lines = read_lines(project_ignore) if project_ignore.is_file() else []
        own = code_root_ignore_file(code_root) if code_root and code_root.is_dir() else None
        if own and own.resolve() != project_ignore.resolve():
            lines += read_lines(own)
        return cls(lines)

    def ignored(self, relpath: str, is_dir: bool) -> bool:
        """Whether `relpath` (posix, relative to the snapshot root) is left out.

        A folder is only pruned when no `!pattern` could re-include a file in it."""
        if is_dir:
            return not self._negates and self._spec.match_file(relpath.rstrip("/") + "/")
        return self._spec.match_file(relpath)
