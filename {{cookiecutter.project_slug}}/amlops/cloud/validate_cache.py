"""The offline results of `make validate`, kept per checked unit (one job file, one
pipeline, one endpoint folder, one folder's component/environment/... files) in
.runs/.cache/validate/results.json (each unit's problems, workspace references and
printed lines), so a rerun with nothing changed neither loads azure-ai-ml nor checks
anything again.

A result is reused only when its key is the same, and the key covers everything the
check reads (a file is never hidden by a stale result; at worst a unit is checked again):
- the amlops code (the content of every amlops/*.py), the Python version, and the
  installed azure-ai-ml and marshmallow versions (importlib.metadata, which does not
  import them);
- every setting (config.env, .env and the environment, as amlops reads them) except
  the shell's and make's own bookkeeping variables (MAKEFLAGS, SHLVL, PWD, ...);
- the unit's own files (content), and the folders it reads, recursively: an
  experiment's folder, src/common, the job's code folder (src/<exp> and src/common
  only for `code: ..`, as staging reads; src/'s own top-level entries too); a
  pipeline: pipelines/ and src/ whole; an endpoint: its folder and src/common;
- every local path any of its YAML files names (each string value, relative to the
  file's folder and to the project root): whether it exists, a file's content, a
  folder's entries recursively; a named YAML file is followed the same way (the
  components a pipeline names, their conda and environment files);
- the project's .amlignore.

The path-like strings of each YAML file are read with amlops' own bounded loader and
kept by the file's content digest, so a rerun parses no YAML.

A file is keyed by its content (SHA-256) up to 1 MB and by size and modification time
above; a big file changed within the last two seconds makes the unit uncacheable this
time. Never cached: pipelines written in Python (pipelines/<name>.py runs user code),
and a unit that names more than MAX_ENTRIES files. Online (workspace) checks are never
cached: each run that does them still loads the SDK. No function here imports the SDK."""

import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISLNK
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from amlops.jsonfile import write_json
from amlops.project import Project

FORMAT = 1
MAX_ENTRIES = 20000  # files and folders one unit may name before it is not cached
SMALL_FILE = 1 << 20  # bytes: files up to this size are keyed by content
RACY_SECONDS = 2.0  # a big file keyed by mtime must be older than this to be trusted
# Variables the shell and make set that never change what validate finds.
VOLATILE = {
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
    "MAKE_TERMOUT",
    "MAKE_TERMERR",
    "SHLVL",
    "PWD",
    "OLDPWD",
    "_",
    "TERM",
    "COLUMNS",
    "LINES",
    "FORCE",
    "OFFLINE",
    "PYTHON",  # the Makefile's interpreter; what matters of it (versions) is keyed
}
PACKAGES = ("azure-ai-ml", "marshmallow")


class Uncacheable(Exception):
    """A unit whose inputs cannot be keyed cheaply and safely; it is checked every run."""


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def amlops_digest() -> str:
    """SHA-256 (hex) of the relative path and content of every amlops/*.py file."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                digest.update(os.path.relpath(path, root).encode() + b"\0")
                with open(path, "rb") as handle:
                    digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def global_key(project: Project, sdk: bool) -> str:
    """SHA-256 (hex) of what every unit's result depends on: amlops, Python, the SDK
    and marshmallow versions, the settings, and whether the SDK's checks run (`sdk`)."""
    settings = {
        key: value
        for key, value in project.settings._values.items()  # noqa: SLF001 (all of them)
        if key not in VOLATILE
    }
    material = {
        "format": FORMAT,
        "amlops": amlops_digest(),
        "python": [sys.version, platform.machine()],
        "packages": {name: _version(name) for name in PACKAGES} if sdk else {},
        "sdk": sdk,
        "settings": sorted(settings.items()),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


@dataclass
class Key:
    """What one unit read, gathered as it is keyed; `digest()` is the unit's key."""

    project: Project
    parts: List[Any] = field(default_factory=list)
    entries: int = 0
    seen: Set[Tuple[str, str]] = field(default_factory=set)
    now: float = field(default_factory=time.time)
    memo: Dict[Tuple[str, str], Tuple[Any, int]] = field(default_factory=dict)
    strings: Dict[str, List[Any]] = field(default_factory=dict)
    used_strings: Dict[str, List[Any]] = field(default_factory=dict)
    resolved: Dict[Tuple[str, str], Tuple[Path, Optional[Path]]] = field(default_factory=dict)
    real_bases: Dict[str, str] = field(default_factory=dict)

    def _count(self, number: int = 1) -> None:
        self.entries += number
        if self.entries > MAX_ENTRIES:
            raise Uncacheable(f"names more than {MAX_ENTRIES} files")

    def _file(self, path: str, stat: os.stat_result) -> Any:
        if stat.st_size <= SMALL_FILE:
            with open(path, "rb") as handle:
                return ["file", hashlib.sha256(handle.read()).hexdigest()]
        if self.now - stat.st_mtime < RACY_SECONDS:
            raise Uncacheable(f"{path} changed just now")
        return ["big", stat.st_size, stat.st_mtime_ns]

    def path(self, path: Path, recursive: bool = True) -> None:
        """Key `path`: missing, a file's content, or a folder's entries (recursively
        unless `recursive` is False: then names and kinds only). Raises Uncacheable
        past MAX_ENTRIES names, or for a big file changed just now."""
        marker = (str(path), "tree" if recursive else "top")
        if marker in self.seen:
            return
        self.seen.add(marker)
        known = self.memo.get(marker)  # read once per run, shared by the units naming it
        if known is None:
            known = self.memo[marker] = self._stamp(str(path), recursive)
        part, count = known
        self._count(count)
        self.parts.append(part)

    def _stamp(self, path: str, recursive: bool) -> Tuple[Any, int]:
        try:
            stat = os.stat(path)  # follows links, as staging and the SDK do
        except OSError:
            return [path, "broken" if os.path.islink(path) else "missing"], 1
        if not os.path.isdir(path):
            return [path, self._file(path, stat)], 1
        if not recursive:
            names = sorted((e.name, e.is_dir()) for e in os.scandir(path))
            return [path, "top", names], 1 + len(names)
        listing: List[Any] = []
        skipped = str(self.project.runs / ".cache")
        count, cut = 1, len(path) + 1
        for folder, dirs, files in os.walk(path, followlinks=True):
            # amlops' own caches (this one included) and git's store are never checked
            dirs[:] = sorted(d for d in dirs if d != ".git" and f"{folder}/{d}" != skipped)
            count += len(dirs) + len(files)
            if count > MAX_ENTRIES:
                raise Uncacheable(f"names more than {MAX_ENTRIES} files")
            where = folder[cut:]
            for name in sorted(files):
                child = f"{folder}/{name}"
                try:
                    listing.append([where, name, self._file(child, os.stat(child))])
                except OSError:
                    listing.append([where, name, "broken"])
            listing.append([where, "dir", dirs])
        return [path, "tree", listing], count

    def yaml_references(self, path: Path, code_root: Optional[Path] = None) -> None:
        """Key `path` and every local path a string of it names, following YAML files:
        a folder named by `code:` or as an environment's build context recursively,
        any other folder by its top-level entries (a data folder: what is checked is
        that it is there, and its MLTable file). `code_root`: a top-level `code:` of `path`
        naming this folder is not walked (the caller keyed what staging reads of it)."""
        marker = (str(path), "refs")
        if marker in self.seen:
            return
        self.seen.add(marker)
        self.path(path)
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            return
        for keys, text in self._strings_of(path, self._content_digest(path)):
            if keys == ["code"] and code_root is not None:
                if self._resolved(path.parent, text)[0] == code_root:
                    continue
            whole = keys[-1:] == ["code"] or keys[-2:-1] == ["build"]
            for base in (path.parent, self.project.root):
                if base == self.project.root and text.strip("./") == "":
                    continue  # `.` or `..` means the file's own folder, not the root
                target, table = self._resolved(base, text)
                if target.suffix in (".yaml", ".yml"):
                    self.yaml_references(target)
                elif target.name == "MLTable" or whole:
                    self.path(target)
                else:
                    self.path(target, recursive=False)
                    if table is not None:
                        self.path(table)

    def _resolved(self, base: Path, text: str) -> Tuple[Path, Optional[Path]]:
        """(`text` resolved from `base`, its MLTable file when it is a folder holding
        one), found once per run: most strings (`command`, `uri_folder`, `ro_mount`)
        recur in every job file, and each file is keyed by two units."""
        known = self.resolved.get((str(base), text))
        if known is None:
            target = self._realpath(base, text)
            table = target / "MLTable"
            known = self.resolved[(str(base), text)] = (target, table if table.is_file() else None)
        return known

    def _realpath(self, base: Path, text: str) -> Path:
        """(base / text).resolve(), cheaper where it is sure to give the same path: on
        POSIX, for a relative `text`, from `base` resolved once per run, one lstat per
        component of `text` (os.path.realpath lstats every component of the whole path;
        like it, `..` drops the last component of what is resolved so far); any link
        among them goes to resolve() itself."""
        if os.name != "posix" or text.startswith("/"):
            return (base / text).resolve()
        path = self.real_bases.get(str(base))
        if path is None:
            path = self.real_bases[str(base)] = os.path.realpath(base)
        for name in text.split("/"):
            if name in ("", "."):
                continue
            if name == "..":
                path = os.path.dirname(path)
                continue
            path = f"{path.rstrip('/')}/{name}"
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue  # not there: realpath keeps the name as it is
            if S_ISLNK(mode):
                return (base / text).resolve()
        return Path(path)

    def _content_digest(self, path: Path) -> Optional[str]:
        """The SHA-256 `path(path)` found for a file (no second read), else None."""
        known = self.memo.get((str(path), "tree"))
        part = known[0][1] if known else None
        return part[1] if isinstance(part, list) and part[0] == "file" else None

    def _strings_of(self, path: Path, content: Optional[str] = None) -> List[Any]:
        """[keys, string] of each string of a YAML file that could name a path, read
        with amlops' own bounded loader (no alias bomb or deep nesting costs more than
        it does to check) and remembered by content across runs. `content`: the file's
        SHA-256 when known."""
        from amlops.errors import UserError
        from amlops.yamlfile import load_yaml

        if content is None:
            try:
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                return []
        found = self.strings.get(content)
        if found is None:
            try:
                document = load_yaml(path, str(path))
            except UserError:
                document = None  # its content is keyed; the check says what is wrong
            found = [[list(keys), text] for keys, text in _strings(document)]
            self.strings[content] = found
        self.used_strings[content] = found
        return found

    def digest(self, global_digest: str) -> str:
        text = json.dumps([global_digest, self.parts], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def _strings(node: Any, keys: Tuple[str, ...] = ()) -> Iterable[Tuple[Tuple[str, ...], str]]:
    """(keys leading to it, value) of each string of a YAML document that could name a
    local path."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, keys + (str(k),))
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, keys)
    elif isinstance(node, str):
        text = node[len("file:") :] if node.startswith("file:") else node
        if (
            text
            and len(text) < 500
            and "\n" not in text
            and "\0" not in text
            and "${{" not in text
            and "://" not in text
            and not text.startswith("azureml:")
        ):
            yield keys, text


class ValidateCache:
    """Results by unit, kept in one file, .runs/.cache/validate/results.json: read once,
    written once by `save()` with the result of every unit of this run (a unit no
    longer in the project drops out). `enabled` False (FORCE=1): none is reused, every
    result is still written."""

    def __init__(self, project: Project, sdk: bool, enabled: bool = True) -> None:
        self.project = project
        self.file = project.runs / ".cache" / "validate" / "results.json"
        self.enabled = enabled
        self.global_digest = global_key(project, sdk)
        self.reused = 0
        self.checked = 0
        self.memo: Dict[Tuple[str, str], Tuple[Any, int]] = {}
        self.resolved: Dict[Tuple[str, str], Tuple[Path, Optional[Path]]] = {}
        self.real_bases: Dict[str, str] = {}
        self.stored: Dict[str, Any] = {}
        self.fresh: Dict[str, Any] = {}
        # the path-like strings of each YAML file read, by its content's SHA-256
        self.strings: Dict[str, List[Any]] = {}
        self.used: Dict[str, List[Any]] = {}
        if enabled:
            try:
                stored = json.loads(self.file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                stored = {}
            if isinstance(stored, dict) and stored.get("format") == FORMAT:
                units, strings = stored.get("units"), stored.get("strings")
                self.stored = units if isinstance(units, dict) else {}
                self.strings = strings if isinstance(strings, dict) else {}

    def key(self, unit: str, build: "Any") -> Optional[str]:
        """The key of `unit` (`build(key)` adds what it reads), or None: not cacheable."""
        key = Key(
            self.project,
            memo=self.memo,
            strings=self.strings,
            used_strings=self.used,
            resolved=self.resolved,
            real_bases=self.real_bases,
        )
        try:
            build(key)
        except Uncacheable:
            return None
        return key.digest(self.global_digest + "\0" + unit)

    def get(self, unit: str, digest: Optional[str]) -> Optional[Dict[str, Any]]:
        """The stored result of `unit` under `digest`, or None."""
        if not self.enabled or digest is None:
            return None
        stored = self.stored.get(unit)
        if not isinstance(stored, dict) or stored.get("key") != digest:
            return None
        self.fresh[unit] = stored
        return stored

    def put(self, unit: str, digest: Optional[str], result: Dict[str, Any]) -> None:
        """Keep `result` (JSON-able) for `unit` under `digest` (written by save())."""
        if digest is not None:
            self.fresh[unit] = {"key": digest, **result}

    def save(self) -> None:
        """Write this run's results; an unwritable cache is not an error (the next run
        checks again)."""
        try:
            kept = {"format": FORMAT, "units": self.fresh, "strings": self.used}
            write_json(self.file, kept, indent=None)
        except OSError:
            pass
