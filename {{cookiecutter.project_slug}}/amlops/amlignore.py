"""What a code snapshot leaves out: ignore files with gitignore semantics, as the
Azure ML SDK applies them.

The SDK (azure.ai.ml._utils._asset_utils.get_ignore_file) reads one ignore file
at the root of the `code:` folder, `.amlignore` if there is one, else
`.gitignore`, and matches every file path relative to that root with pathspec's
gitwildmatch patterns; the last matching pattern wins, so `!pattern` can
re-include a file even inside an ignored folder. We apply the same rules, plus
the project's own `.amlignore` (project root; a convention of this template)
and a few caches that no job needs.

Whether a path is ignored depends only on the patterns and the path, so the answers
for one set of patterns are kept by the patterns' exact text (amlops.parsecache): a
snapshot whose paths were all answered before (an unchanged code folder) does not
import pathspec (~15 ms); a new path, or any change to the patterns, asks pathspec."""

from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

from amlops import parsecache
from amlops.errors import UserError

if TYPE_CHECKING:
    import pathspec

# The parse cache's reader version: this file's own source (amlops.parsecache).
_VERSION = parsecache.source_version(__file__)
# Answers kept for one set of patterns at most (a slot past it starts again).
MAX_KEPT = 20_000

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
        self._lines = [*ALWAYS_IGNORED, *lines]
        self._spec: Optional["pathspec.PathSpec"] = None
        self._negates = any(line.strip().startswith("!") for line in lines)
        # answers by "d:<folder>" / "f:<file>", kept by the patterns' text (save())
        self._text = "\n".join(self._lines)
        kept = parsecache.lookup("ignore", self._text, self._text, _VERSION)
        self._answers: Dict[str, bool] = kept if type(kept) is dict else {}
        self._new = False

    @property
    def spec(self) -> "pathspec.PathSpec":
        """pathspec's matcher for the patterns, made on first use."""
        if self._spec is None:
            import pathspec

            self._spec = pathspec.PathSpec.from_lines("gitwildmatch", self._lines)
        return self._spec

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
        key = ("d:" if is_dir else "f:") + relpath
        answer = self._answers.get(key)
        if answer is None:
            if is_dir:
                answer = not self._negates and self.spec.match_file(relpath.rstrip("/") + "/")
            else:
                answer = self.spec.match_file(relpath)
            self._answers[key] = answer = bool(answer)
            self._new = True
        return answer

    def save(self) -> None:
        """Keep the answers given (when any was new) for the next command."""
        if not self._new:
            return
        if len(self._answers) > MAX_KEPT:
            self._answers = {}
        parsecache.keep("ignore", self._text, self._text, _VERSION, self._answers)
        self._new = False
