"""The code snapshot of a job: the folder its `code:` names, staged as Azure ML uploads it.

The staged folder is the job's working directory in a local run (the Docker
mount, or the venv's cwd) and the `code:` sent to Azure ML, so a command sees
the same files in both places. src/ itself is never written to.

How `code:` becomes a snapshot (paths relative to the job file's folder):
- `code: ..` from src/<exp>/ (the code root is src/ itself): src/<exp>/ and
  src/common/ only, under their names; other experiments are left out (put
  shared code in src/common); src/ named from elsewhere (a pipeline node's
  `code: ../src`) is staged whole;
- any other folder under src/ (`code: .`, `code: app`): that folder's content,
  plus src/common/ copied in as `common/` so `import common` works the same
  locally and in Azure ML (unless the folder has a `common` module or package of
  its own - common/, common.py, ... - which is kept and named in the label);
- a folder outside src/: its content as it is;
- no `code:`: nothing is uploaded; a local run starts in an empty folder.
Ignore rules: see amlignore.py. Symlinks are followed (the SDK uploads link
targets); a broken link is an error naming it."""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, List, Optional, Set, Tuple

from amlops.amlignore import IgnoreRules
from amlops.errors import UserError
from amlops.project import Project
from amlops.spec.job import JobSpec

REMOTE_CODE = ("azureml:", "git+", "http://", "https://", "wasbs://", "abfss://")
# Files Python imports as a module named after their stem (importlib.machinery's suffixes).
MODULE_SUFFIXES = (".py", ".pyc", ".pyw", ".so", ".pyd")
SIZE_WARNING = 100 * 1024 * 1024  # bytes; the SDK also warns about uploads above 100 MB


@dataclass(frozen=True)
class CodeSnapshot:
    """What one job's code snapshot is made of.

    `parts` are (name in the snapshot, source folder or file); an empty name
    means "at the root". `root` is the code folder the ignore file comes from."""

    root: Optional[Path]
    parts: Tuple[Tuple[str, Path], ...]
    label: str

    @property
    def empty(self) -> bool:
        return not self.parts


def is_remote_code(code: str) -> bool:
    """Whether `code:` names something that is not a local path (sent unchanged)."""
    return code.startswith(REMOTE_CODE)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def own_common(source: Path) -> str:
    """The name of `source`'s own module or package `common` (common/, common.py, a
    compiled common.*.so or .pyd, ...), which src/common must not shadow; "" if none.

    Python imports a package folder before a module file of the same name, so any of
    these would be replaced by the copied folder, locally and in the snapshot sent."""
    if not source.is_dir():
        return ""
    for entry in sorted(source.iterdir()):
        if entry.name == "common" or (
            entry.name.startswith("common.") and entry.suffix in MODULE_SUFFIXES
        ):
            return entry.name
    return ""


def code_snapshot(project: Project, spec: JobSpec) -> CodeSnapshot:
    """The snapshot of `spec`'s `code:` (see the module docstring), plus the files amlops
    stages beside it (`spec.staged_files`: a parallel job's driver); UserError when the
    folder does not exist or is remote (which cannot run locally)."""
    snap = _code_snapshot(project, spec)
    if not spec.staged_files:
        return snap
    extra = tuple((name, source) for name, source in spec.staged_files.items())
    return CodeSnapshot(snap.root, snap.parts + extra, snap.label)


def _code_snapshot(project: Project, spec: JobSpec) -> CodeSnapshot:
    if spec.code is None:
        return CodeSnapshot(None, (), "no code")
    where = spec.where(spec.field_line("code"))
    code = spec.code.strip()
    if is_remote_code(code):
        raise UserError(
            f"{where}: code: {code!r} is remote; a local run needs a local folder"
            " (make job still sends it unchanged)"
        )
    local = code[len("file:") :] if code.startswith("file:") else code
    source = (spec.folder / local).resolve()
    if not source.exists():
        raise UserError(f"{where}: code: {code!r} does not exist ({project.relative(source)})")
    src, common = project.src.resolve(), project.common.resolve()
    experiment_dir = spec.folder.resolve()
    if source == src and experiment_dir.parent == src:
        parts = [(experiment_dir.name, experiment_dir)]
        if common.is_dir() and experiment_dir != common:
            parts.append(("common", common))
        label = " + ".join(f"src/{name}" for name, _ in parts)
        return CodeSnapshot(source, tuple(parts), label)
    parts = [("", source)]
    label = project.relative(source)
    if _inside(source, src) and common.is_dir() and source != common:
        own = own_common(source)
        if own:
            label += f" (its own {own}: src/common not staged over it)"
        else:
            parts.append(("common", common))
            label += " + src/common"
    return CodeSnapshot(source, tuple(parts), label)


def _walk(source: Path, rules: IgnoreRules, prefix: str) -> Iterator[Tuple[str, Path]]:
    """(snapshot path, source path) for every kept file; folders end with `/`.

    Follows folder links once (a link back up the tree is an error, not a loop)."""
    if source.is_file():
        yield prefix or source.name, source
        return
    seen: Set[Path] = set()
    for folder, dirs, files in os.walk(source, followlinks=True):
        real = Path(folder).resolve()
        if real in seen:
            raise UserError(f"{folder}: a folder link loops back to {real}; remove the link")
        seen.add(real)
        rel_folder = Path(folder).relative_to(source).as_posix()
        if rel_folder == ".":
            base = prefix
        else:
            base = f"{prefix}/{rel_folder}" if prefix else rel_folder
        dirs[:] = sorted(d for d in dirs if not rules.ignored(_join(base, d), True))
        if base:
            yield f"{base}/", Path(folder)
        for name in sorted(files):
            rel = _join(base, name)
            if rules.ignored(rel, False):
                continue
            path = Path(folder) / name
            if path.is_symlink() and not path.exists():
                raise UserError(
                    f"{path}: broken symlink (-> {os.readlink(path)}); fix or remove it"
                    " (Azure ML uploads a link's target)"
                )
            yield rel, path
        for name in dirs:
            path = Path(folder) / name
            if path.is_symlink() and not path.exists():
                raise UserError(
                    f"{path}: broken symlink (-> {os.readlink(path)}); fix or remove it"
                )


def _join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


def snapshot_files(project: Project, snap: CodeSnapshot) -> Iterator[Tuple[str, Path]]:
    """Every entry of a snapshot: (path in the snapshot, source); folders end with `/`."""
    rules = IgnoreRules.for_snapshot(project.root / ".amlignore", snap.root)
    for name, source in snap.parts:
        yield from _walk(source, rules, name)
    rules.save()


def stage(project: Project, snap: CodeSnapshot, dest: Path, link: bool = False) -> List[str]:
    """Copy the snapshot into `dest` (links resolved to their targets); returns the files.
    `link`: each file a symbolic link to its source instead (see link_or_copy).

    Raises UserError for a broken link or a name clash (a file and a folder)."""
    dest.mkdir(parents=True, exist_ok=True)
    staged: List[str] = []
    place = link_or_copy if link else shutil.copy2
    made = {dest}  # folders made (a folder's entry comes before its files)
    for rel, source in snapshot_files(project, snap):
        target = dest / rel
        if rel.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            made.add(target)
            continue
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        if target.exists():
            raise UserError(f"code snapshot: {rel} comes from two places; rename one of them")
        place(source, target)
        staged.append(rel)
    return staged


def link_or_copy(source: Any, target: Any) -> None:
    """A symbolic link at `target` to `source` (its absolute path), or a copy where
    links cannot be made. For folders only read back (make validate's scratch: the
    SDK checks that paths exist and reads conda files, never writes): the user's files
    are neither copied nor touched (a hard link would change their ctime, which git's
    index and other tools read). A link already at `target` is replaced, as a copy would
    be, never written through."""
    if os.path.islink(target):
        os.unlink(target)
    try:
        os.symlink(os.path.abspath(source), target)
    except OSError:  # Windows without the privilege, a file system without links
        shutil.copy2(source, target)


def stage_code(project: Project, spec: JobSpec, dest: Path) -> List[str]:
    """Stage `spec`'s code snapshot into `dest`; returns the staged files."""
    return stage(project, code_snapshot(project, spec), dest)


def snapshot_size(dest: Path, files: List[str]) -> int:
    """Total size in bytes of the staged files."""
    return sum((dest / rel).stat().st_size for rel in files)
