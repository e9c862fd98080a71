"""Read-only inputs for runs outside Docker (the venv runtime), and the names of the
files an input gained, lost or changed during a run.

How inputs are made read-only, best first:
- "namespace" (Linux): the command runs in a private mount namespace where each input
  is a read-only bind mount of itself (rosandbox.py). Only the run sees it; the files
  and their permissions are never touched. Works for root, and for other users
  where unprivileged user namespaces are allowed.
- "chmod" (macOS, or Linux without user namespaces; not for root, who ignores
  permissions): the write bits of the input's files and folders are removed for the
  run and restored after it. The original modes are kept in .runs/.readonly/<digest>.json
  first, and runs sharing an input count themselves in that file (under a file lock),
  so the last one restores them; a run killed before restoring is repaired by the
  next run that uses the input. Only permission bits are touched, never content.
- "none" (Windows): the after-run check alone.
AMLOPS_READONLY_INPUTS=namespace|chmod|none in the environment picks one (tests; or
to step around a machine where the first choice misbehaves).

Parts of an input that the run itself writes - its own run folder, .runs, the venv -
stay writable and are left out of the check, so an input folder that contains the
run's output folder is no false "input changed"."""

import hashlib
import json
import os
import stat
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from amlops.fingerprint import FileHashes
from amlops.jsonfile import write_json

SANDBOX = Path(__file__).with_name("rosandbox.py")
WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
_probed: Dict[str, bool] = {}


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or below it (both resolved)."""
    return path == folder or folder in path.parents


def writable_parts(inputs: Iterable[Path], keep: Iterable[Path]) -> List[Path]:
    """Those of `keep` (resolved) that lie strictly inside one of `inputs`."""
    roots = [p.resolve() for p in inputs]
    found = []
    for path in (p.resolve() for p in keep):
        if any(path != root and _inside(path, root) for root in roots) and path not in found:
            found.append(path)
    return found


def sandbox_argv(read_only: List[Path], writable: List[Path], argv: List[str]) -> List[str]:
    """`argv` run through rosandbox.py with `read_only` paths read-only."""
    spec = {"ro": [str(p) for p in read_only], "rw": [str(p) for p in writable]}
    return [sys.executable, "-I", str(SANDBOX), json.dumps(spec), "--", *argv]


PROBE_CACHE = "namespace-probe.answer"  # not *.json: those are ChmodGuard states


def _probe_key() -> str:
    """What the probe's answer depends on: this boot (sysctls such as
    kernel.unprivileged_userns_clone reset with it), the kernel, the user and the
    interpreter that runs rosandbox.py; '' when the boot cannot be told (no caching)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
    except OSError:
        return ""
    return f"{boot} {os.uname().release} uid {os.getuid()} {sys.executable}"


def _probe() -> bool:
    """Run rosandbox.py once on a temporary folder: True when it was read-only."""
    import tempfile  # the probe runs once per boot: not imported by every run

    with tempfile.TemporaryDirectory(prefix="amlops-probe-") as folder:
        probe = Path(folder) / "probe"
        script = f"touch '{probe}' 2>/dev/null; test -e '{probe}' || echo read-only"
        argv = sandbox_argv([Path(folder)], [], ["sh", "-c", script])
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            return done.stdout.strip() == "read-only" and not probe.exists()
        except (OSError, subprocess.SubprocessError):
            return False


def namespace_works(cache_dir: Optional[Path] = None) -> bool:
    """Whether rosandbox.py can make a folder read-only here. Probed (a subprocess,
    ~0.2 s of CPU) once per process, and once per boot, user and interpreter when
    `cache_dir` is given: the answer is kept in `cache_dir/namespace-probe.answer`.
    A stale answer costs no protection: if the namespace fails after all, rosandbox.py
    says so and the inputs are still checked after the run."""
    if "namespace" in _probed:
        return _probed["namespace"]
    if not sys.platform.startswith("linux"):
        _probed["namespace"] = False
        return False
    key = _probe_key() if cache_dir else ""
    cached = Path(cache_dir or ".") / PROBE_CACHE
    if key:
        try:
            known = json.loads(cached.read_text(encoding="utf-8"))
            if isinstance(known, dict) and isinstance(known.get(key), bool):
                _probed["namespace"] = known[key]
                return known[key]
        except (OSError, ValueError):
            pass
    ok = _probe()
    _probed["namespace"] = ok
    if key:
        try:
            write_json(cached, {key: ok})
        except OSError:
            pass  # not cached: probed again next time
    return ok


MECHANISMS = ("namespace", "chmod", "none")


def mechanism(cache_dir: Optional[Path] = None) -> str:
    """How inputs are made read-only on this machine: namespace, chmod or none
    (AMLOPS_READONLY_INPUTS, when set to one of them, decides). `cache_dir` keeps the
    namespace probe's answer (see namespace_works)."""
    chosen = os.environ.get("AMLOPS_READONLY_INPUTS", "")
    if chosen in MECHANISMS:
        return chosen
    if namespace_works(cache_dir):
        return "namespace"
    if os.name == "posix" and os.geteuid() != 0:
        return "chmod"
    return "none"


def _walk(root: Path, skip: List[Path]) -> Iterator[Tuple[str, Path, bool]]:
    """(relative name, path, is folder) of `root` and everything below it, except
    the `skip` subtrees; symbolic links are listed, not followed."""
    if root.is_file() or root.is_symlink():
        yield root.name, root, False
        return
    yield ".", root, True
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() not in skip)
        prefix = here.relative_to(root).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        for name in dirs:
            yield prefix + name + "/", here / name, not (here / name).is_symlink()
        for name in sorted(files):
            yield prefix + name, here / name, False


def snapshot(root: Path, skip: List[Path], hashes: FileHashes) -> Dict[str, str]:
    """relative name -> content digest ("" for a folder) of an input, `skip` left out."""
    found: Dict[str, str] = {}
    for rel, path, is_dir in _walk(root, skip):
        if is_dir or rel.endswith("/"):
            found[rel] = ""
        elif path.is_symlink():
            found[rel] = "link:" + os.readlink(path)
        else:
            try:
                found[rel] = hashes.digest(path)
            except OSError:
                found[rel] = "unreadable"
    return found


def changes(before: Dict[str, str], after: Dict[str, str]) -> List[str]:
    """'added x', 'removed y', 'modified z' for what differs, sorted by name."""
    names = sorted(set(before) | set(after))
    found = []
    for name in names:
        if name not in before:
            found.append(f"added {name}")
        elif name not in after:
            found.append(f"removed {name}")
        elif before[name] != after[name]:
            found.append(f"modified {name}")
    return found


class ChmodGuard:
    """Remove the write bits of one input for a run; restore them when the last run
    using it ends. State (original modes, holders) in `<state_dir>/<digest>.json`."""

    def __init__(self, root: Path, skip: List[Path], state_dir: Path) -> None:
        self.root = root.resolve()
        self.skip = skip
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        self.state = state_dir / f"{digest}.json"
        # One per run: pipeline steps of one process may share an input.
        self.holder = f"{os.getpid()}:{os.urandom(4).hex()}"

    def _lock(self):
        from filelock import FileLock

        self.state.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.state.with_suffix(".lock")))

    def _load(self) -> Dict:
        try:
            data = json.loads(self.state.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _alive(holder: str) -> bool:
        """Whether the process of a holder (`<pid>:<token>`) still runs (a damaged entry:
        no; 0 or a negative number would name a process group, not a process)."""
        try:
            pid = int(str(holder).split(":")[0])
            if pid <= 0:
                return False
            os.kill(pid, 0)
        except (ProcessLookupError, ValueError, OverflowError):
            return False
        except PermissionError:
            pass
        return True

    def _restore(self, modes: Dict[str, int]) -> None:
        # Deepest first does not matter for chmod, but folders need their write bit
        # back before anything inside them could be changed again: all at once here.
        for rel, mode in modes.items():
            path = self.root if rel == "." else self.root / rel.rstrip("/")
            try:
                os.chmod(path, mode, follow_symlinks=False)
            except (OSError, NotImplementedError):
                pass

    def _protect(self) -> Dict[str, int]:
        modes: Dict[str, int] = {}
        for rel, path, _ in _walk(self.root, self.skip):
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                continue
            mode = stat.S_IMODE(info.st_mode)
            if mode & WRITE_BITS:
                modes[rel] = mode
        for rel, mode in modes.items():
            path = self.root if rel == "." else self.root / rel.rstrip("/")
            try:
                os.chmod(path, mode & ~WRITE_BITS)
            except OSError:
                pass  # not ours (shared data): it stays as it is
        return modes

    def __enter__(self) -> "ChmodGuard":
        with self._lock():
            data = self._load()
            holders = [p for p in data.get("holders", []) if self._alive(p)]
            if data and not holders:
                self._restore(data.get("modes", {}))  # a run died before restoring
                data = {}
            if not data:
                data = {"path": str(self.root), "modes": self._protect()}
            data["holders"] = holders + [self.holder]
            write_json(self.state, data)
        return self

    def __exit__(self, *exc) -> None:
        with self._lock():
            data = self._load()
            holders = [h for h in data.get("holders", []) if h != self.holder and self._alive(h)]
            if holders:
                data["holders"] = holders
                write_json(self.state, data)
                return
            self._restore(data.get("modes", {}))
            self.state.unlink(missing_ok=True)


class ReadOnlyInputs:
    """Inputs of one venv run: protected (see the module docstring) and checked.

    `inputs`: name -> host path; `keep_writable`: paths the run writes (its run
    folder, .runs, the venv) that stay writable and unchecked where an input holds
    them; `state_dir`: where the chmod mechanism keeps original modes."""

    def __init__(
        self,
        inputs: Dict[str, Path],
        keep_writable: List[Path],
        state_dir: Path,
        how: Optional[str] = None,
    ) -> None:
        self.inputs = {name: Path(path).resolve() for name, path in inputs.items()}
        self.skip = writable_parts(self.inputs.values(), keep_writable)
        self.state_dir = state_dir
        self.how = how or (mechanism(state_dir) if self.inputs else "none")
        self.hashes = FileHashes()
        self.before: Dict[str, Dict[str, str]] = {}

    def wrap(self, argv: List[str]) -> List[str]:
        """The command line that runs `argv` with the inputs read-only (namespace)."""
        if self.how != "namespace":
            return argv
        existing = [p for p in self.inputs.values() if p.exists()]
        return sandbox_argv(existing, self.skip, argv) if existing else argv

    @contextmanager
    def protected(self) -> Iterator["ReadOnlyInputs"]:
        """Snapshot the inputs, make them read-only (chmod) for the block, restore."""
        self.before = {n: snapshot(p, self.skip, self.hashes) for n, p in self.inputs.items()}
        guards = []
        try:
            if self.how == "chmod":
                for path in dict.fromkeys(self.inputs.values()):
                    if path.exists():
                        guards.append(ChmodGuard(path, self.skip, self.state_dir).__enter__())
            yield self
        finally:
            for guard in reversed(guards):
                guard.__exit__(None, None, None)

    def changed(self) -> Dict[str, List[str]]:
        """input name -> what changed in it since protected() began (empty: nothing)."""
        found = {}
        for name, path in self.inputs.items():
            diff = changes(self.before.get(name, {}), snapshot(path, self.skip, self.hashes))
            if diff:
                found[name] = diff
        return found


def describe_changes(changed: Dict[str, List[str]], shown: int = 5) -> str:
    """One line: `data (modified wine.csv, added x.txt, +3 more)` per changed input."""
    parts = []
    for name, diff in changed.items():
        more = f", +{len(diff) - shown} more" if len(diff) > shown else ""
        parts.append(f"{name} ({', '.join(diff[:shown])}{more})")
    return "; ".join(parts)
