"""Venvs shared by content: built by uv, keyed by what decides what is in them.

The key is the normalised requirement set (comments, blank lines, order, spacing
and the case / `-` `_` `.` spelling of names do not count; `-r` includes are
expanded) plus the interpreter's Python version (major.minor, not its path). So
experiments with the same requirements share one venv, and so do two interpreters
of the same version.

uv installs by hard-linking from its cache, which lives in the venv cache folder
(`<VENV_DIR>/.uv-cache`, same file system) unless UV_CACHE_DIR says otherwise: ten
venvs holding scikit-learn hold one copy of it. Without uv (UV names the binary;
by default the one installed beside amlops, else `uv` on PATH) venvs are built by
`python -m venv` and pip, with a one-line notice. A lock file per venv makes a
second process that needs the same unbuilt venv wait for the first and reuse it."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Callable,
    ContextManager,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Tuple,
)

from amlops.console import say
from amlops.errors import UserError
from amlops.local.procs import telling_line
from amlops.project import Project

if TYPE_CHECKING:
    from filelock import FileLock
    from packaging.requirements import Requirement

READY = ".amlops-ready"
SIGNATURE = ".amlops-signature"  # the files as built: a venv a tool edited is rebuilt
STAMP_SUFFIX = ".checked"  # beside the venv: when its files were last found as built
STAMP_MAGIC = b"amlops-venv-checked-1"
_checked: dict = {}  # venv path -> whether its files still match (asked once per process)
INSTALLED = "amlops-requirements.txt"
UV_CACHE = ".uv-cache"
INCLUDE = ("-r", "--requirement")
CONSTRAINT = ("-c", "--constraint")
EDITABLE = ("-e", "--editable")
PIP_NOTICE = (
    "{why}: building venvs with python -m venv and pip instead (slower;"
    " `pip install uv` or `make setup` brings uv)"
)
_noticed: List[str] = []


# --- the key: a normalised requirement set --------------------------------------------


def requirement_lines(text: str) -> Iterable[str]:
    """Lines as pip reads them: `\\` continuations joined, `#` comments dropped."""
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line, pending = pending + raw, ""
        if line.lstrip().startswith("#"):
            continue
        hash_at = line.find(" #")
        tab_at = line.find("\t#")
        cut = min(i for i in (hash_at, tab_at, len(line)) if i >= 0)
        line = " ".join(line[:cut].split())
        if line:
            yield line
    if pending.strip() and not pending.lstrip().startswith("#"):
        yield " ".join(pending.split())


def _option(line: str, names: Tuple[str, ...]) -> Optional[str]:
    """The argument of `-r x`, `-rx`, `--requirement x`, `--requirement=x`; None when
    the line is not that option."""
    for name in names:
        if line == name:
            return ""
        if line.startswith(name + " ") or line.startswith(name + "="):
            return line[len(name) + 1 :].strip()
        if len(name) == 2 and line.startswith(name) and not line.startswith("--"):
            return line[2:].strip()
    return None


def _local_path(text: str, base_dir: Path) -> Optional[str]:
    """`text` as an absolute path when it names a local file or folder, else None."""
    if text.startswith(("./", "../", "/", "~", ".\\", "..\\")) or text in (".", ".."):
        return str((base_dir / os.path.expanduser(text)).resolve())
    return None


def canonical_requirement(req: "Requirement") -> str:
    """One spelling per requirement: canonical name and extras, sorted specifiers."""
    from packaging.utils import canonicalize_name

    text = canonicalize_name(req.name)
    if req.extras:
        text += "[" + ",".join(sorted(canonicalize_name(e) for e in req.extras)) + "]"
    text += f" @ {req.url}" if req.url else str(req.specifier)
    if req.marker:
        text += f" ; {req.marker}"
    return text


# The common requirement lines (`numpy`, `scikit-learn>=1.3`, `pandas>=2.0,<3`), read
# without packaging, whose import is ~70 ms of every local run: a name, then plain
# release versions (digits and dots) after distinct operators. What packaging would say
# for them exactly (tests/test_venvs.py compares the two); anything else goes to it.
_SIMPLE_NAME = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*")
_SIMPLE_SPEC = re.compile(r"\s*(==|!=|<=|>=|~=|<|>)\s*([0-9]+(?:\.[0-9]+)*)\s*")


def simple_requirement(line: str) -> Optional[str]:
    """canonical_requirement() of a simple line (see above) without packaging; None when
    the line is not that simple."""
    name = _SIMPLE_NAME.match(line)
    if not name:
        return None
    rest = line[name.end() :]
    specs, operators = [], set()
    for part in rest.split(",") if rest else []:
        spec = _SIMPLE_SPEC.fullmatch(part)
        if not spec or spec.group(1) in operators:
            return None  # a repeated operator: packaging's set may merge the two
        if spec.group(1) == "~=" and "." not in spec.group(2):
            return None  # ~=1 is no valid specifier
        operators.add(spec.group(1))
        specs.append(spec.group(1) + spec.group(2))
    return re.sub(r"[-_.]+", "-", name.group(1)).lower() + ",".join(sorted(specs))


class Requirements:
    """Requirement lines read relative to `base_dir`, in a canonical form.

    `install_lines` is what is installed (sorted, unique, `-r` expanded, local
    paths absolute); `key_lines` adds the content of constraint files."""

    def __init__(self, lines: Iterable[str], base_dir: Path, source: str = "") -> None:
        self.base_dir = base_dir
        self.source = source or "requirements"
        install, key = set(), set()
        self._read("\n".join(lines), base_dir, install, key, (), self.source)
        self.install_lines = sorted(install)
        self.key_lines = sorted(key)

    @classmethod
    def from_file(cls, path: Path, source: str = "") -> "Requirements":
        """The lines of a requirements file (none when it does not exist)."""
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        return cls(text.splitlines(), path.parent, source or str(path))

    def _read(
        self, text: str, folder: Path, install: set, key: set, seen: tuple, shown: str
    ) -> None:
        for line in requirement_lines(text):
            include = _option(line, INCLUDE)
            constraint = _option(line, CONSTRAINT)
            if include is not None or constraint is not None:
                path = (folder / os.path.expanduser(include or constraint or "")).resolve()
                if not (include or constraint) or not path.is_file():
                    raise UserError(
                        f"{shown}: {line!r} names no file (looked for {path}); fix the path"
                    )
                if path in seen:
                    raise UserError(f"{shown}: {line!r} includes itself (via {path})")
                if include is not None:
                    nested = path.read_text(encoding="utf-8")
                    self._read(nested, path.parent, install, key, seen + (path,), str(path))
                    continue
                install.add(f"-c {path}")
                inner: set = set()
                self._read(path.read_text(encoding="utf-8"), path.parent, inner, set(), (), shown)
                key.add("-c " + " | ".join(sorted(inner)))
                continue
            canonical = self._canonical(line, folder)
            install.add(canonical)
            key.add(canonical)

    @staticmethod
    def _canonical(line: str, folder: Path) -> str:
        editable = _option(line, EDITABLE)
        if editable is not None:
            return f"-e {_local_path(editable, folder) or editable}"
        if line.startswith("-"):
            return line  # an option (--index-url x, --pre, ...): spelling as written
        local = _local_path(line, folder)
        if local:
            return local
        simple = simple_requirement(line)
        if simple is not None:
            return simple
        from packaging.requirements import InvalidRequirement, Requirement

        try:
            return canonical_requirement(Requirement(line))
        except InvalidRequirement:
            return line  # a URL or something pip reads its own way: as written

    def digest(self, python_version: str) -> str:
        blob = "\n".join([f"python {python_version}", *self.key_lines]).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


# --- the interpreter ------------------------------------------------------------------


@lru_cache(maxsize=None)
def python_version(python: str) -> str:
    """`major.minor` of an interpreter ('' when it cannot run); asked once per process."""
    if python == sys.executable:
        return "%d.%d" % sys.version_info[:2]
    probe = [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


@lru_cache(maxsize=None)
def _runs(binary: str) -> str:
    """Empty when `binary --version` works, else why not (asked once per process)."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        return f"{binary} cannot run ({getattr(err, 'strerror', None) or err})"
    return "" if done.returncode == 0 else f"{binary} --version failed"


def find_uv(setting: str = "") -> Tuple[Optional[str], str]:
    """(the uv binary, '') or (None, why not). `setting` is the UV setting: a path or
    command name; by default the uv installed beside amlops, else `uv` on PATH."""
    if setting:
        found = shutil.which(setting)
        if not found:
            return None, f"UV={setting} is not a program that runs"
    else:
        try:
            from uv import find_uv_bin

            found = find_uv_bin()
        except (ImportError, FileNotFoundError):
            found = shutil.which("uv")
        if not found:
            return None, "uv is not installed"
    why = _runs(found)
    return (None, why) if why else (found, "")


def uv_install_env(env: Dict[str, str]) -> Dict[str, str]:
    """`env` with what every `uv pip install` of amlops sets unless already set: the
    system's certificate store, as pip uses (older uv reads UV_NATIVE_TLS), and, where
    PYTHONDONTWRITEBYTECODE is set, bytecode compiled at install - nothing would ever
    compile the imports later (scikit-learn: ~5 s of CPU per import instead of ~2.5),
    while pip and the Dockerfile always compile."""
    env.setdefault("UV_SYSTEM_CERTS", "1")
    env.setdefault("UV_NATIVE_TLS", "1")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        env.setdefault("UV_COMPILE_BYTECODE", "1")
    return env


# --- one venv -------------------------------------------------------------------------


class Venv:
    """A venv in `cache` for a requirement set and an interpreter's Python version.

    `shown` turns paths into what messages show (e.g. project-relative); `uv` is the
    UV setting (see find_uv)."""

    def __init__(
        self,
        cache: Path,
        requirements: Requirements,
        python: str,
        uv: str = "",
        shown: Callable[[Path], str] = str,
    ) -> None:
        self.cache = cache
        self.requirements = requirements
        self.python = python
        self.version = python_version(python)
        self.uv_setting = uv
        self.shown = shown
        # An interpreter that cannot run gets a key of its own (unavailable() says why).
        version = self.version or "?" + hashlib.sha256(python.encode()).hexdigest()[:8]
        # py311-<key>: no dot in the name, so with_suffix() cannot cut it.
        self.path = cache / f"py{version.replace('.', '')}-{requirements.digest(version)}"

    @property
    def bin_dir(self) -> Path:
        return self.path / ("Scripts" if os.name == "nt" else "bin")

    @property
    def log(self) -> Path:
        return self.cache / f"{self.path.name}.log"

    @property
    def lock_file(self) -> Path:
        return self.cache / f"{self.path.name}.lock"

    def identity(self) -> str:
        return f"venv:{self.path.name}"

    def describe(self) -> str:
        return f"venv {self.shown(self.path)}"

    @property
    def stamp(self) -> Path:
        """Beside the venv (not in it: writing it would change the venv's own folder):
        when its files were last found as built, and the list of them."""
        return self.cache / f"{self.path.name}{STAMP_SUFFIX}"

    def ready(self) -> bool:
        """Built completely (the marker is written once installing ended), its interpreter
        still runs (a venv links to the interpreter that made it), and its files are as
        built: one a tool edited (a formatter that walked into it) is rebuilt, with a
        notice.

        Whether the files are as built is asked once per process, in two steps: a
        cheap one (`unchanged_since_checked`: no file or folder of the venv changed its
        inode since the last full check) and, only when that cannot tell, the full
        signature of every file."""
        exe = self.bin_dir / ("python.exe" if os.name == "nt" else "python")
        if not ((self.path / READY).is_file() and exe.exists()):
            return False
        if self.path not in _checked:
            _checked[self.path] = self.unchanged_since_checked() or self._verify()
        return _checked[self.path]

    def unchanged_since_checked(self) -> bool:
        """True when no file or folder of the venv changed since its last full check:
        each one listed in the stamp still exists and its status-change time (ctime,
        which every write, chmod, rename or link count change moves forward and no tool
        can set back) is older than the check. One lstat per file, no hashing: the
        signature costs about twice as much. False (so the full check runs) when the
        stamp is missing or garbled, a file is gone, or anything is newer - also for
        harmless changes (bytecode caches' folders appearing, another venv hard-linking
        the same uv cache files); and always on Windows, where ctime is the creation
        time."""
        if os.name == "nt":
            return False
        try:
            head, _, listed = self.stamp.read_bytes().partition(b"\n")
            magic, since = head.split()
            if magic != STAMP_MAGIC:
                return False
            since_ns = int(since)
            root = os.fsencode(self.path) + b"/"
            lstat = os.lstat
            for rel in listed.split(b"\n"):
                if rel and lstat(root + rel).st_ctime_ns >= since_ns:
                    return False
        except (OSError, ValueError):
            return False
        return True

    def _verify(self) -> bool:
        """The full check: the files' signature against the one recorded at build time
        (a venv without one, built by an older amlops or stopped before signing, is
        signed now). A match is stamped, so the next process asks only the cheap check."""
        recorded = self.path / SIGNATURE
        if not recorded.is_file():
            self._sign()
            return True
        # bytes: a garbled (even non-UTF-8) signature reads as changed, and rebuilds
        expected = recorded.read_bytes()
        since = self._stamp_clock()
        digest, listed = self._scan()
        if expected != digest.encode():
            say(
                f"{self.describe()} changed since it was built (a tool edited its files?):"
                " rebuilding"
            )
            self._forget_cached_packages()
            return False
        self._write_stamp(since, listed)
        return True

    def _stamp_clock(self) -> int:
        """The file system's own clock (ns), once it has moved past this call: the
        modification time of a file written now. The kernel stamps files from a coarse
        clock that lags time.time(), and some file systems keep whole seconds, so the
        clock is read from the file system itself, and a change made after this call is
        stamped at this time or later (`>=` in the cheap check never misses one). Waiting
        for the clock to tick (a few ms; at most 50) keeps what was written just before
        (the build's last files) from looking newer than the check."""
        probe = self.stamp.with_name(f"{self.stamp.name}.{os.getpid()}.tmp")
        probe.write_bytes(b"")
        start = now = probe.stat().st_mtime_ns
        for _ in range(10):
            if now > start:
                break
            time.sleep(0.005)
            probe.write_bytes(b"")
            now = probe.stat().st_mtime_ns
        return now

    def _write_stamp(self, since: int, listed: List[str]) -> None:
        """Record that the venv's files (`listed`, relative) were as built at `since`
        (from _stamp_clock, whose probe file becomes the stamp)."""
        probe = self.stamp.with_name(f"{self.stamp.name}.{os.getpid()}.tmp")
        # the signature too: one garbled or edited must not pass as the venv unchanged
        body = b"\n".join(os.fsencode(rel) for rel in [SIGNATURE, *listed])
        probe.write_bytes(STAMP_MAGIC + b" %d\n" % since + body + b"\n")
        os.replace(probe, self.stamp)

    def _scan(self) -> Tuple[str, List[str]]:
        """(signature, every folder and file path relative to the venv) in one walk: the
        signature is a digest of every file's path, size and modification time;
        bytecode caches (which Python writes as it runs) and amlops' own markers are left
        out of both."""
        digest = hashlib.sha256()
        listed = ["."]
        folders = [self.path]
        skip = len(str(self.path)) + 1
        while folders:
            with os.scandir(folders.pop()) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    if entry.name == "__pycache__" or entry.name.startswith(".amlops-"):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(entry.path)
                        listed.append(entry.path[skip:])
                    elif not entry.name.endswith(".pyc"):
                        stat = entry.stat(follow_symlinks=False)
                        line = f"{entry.path}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
                        digest.update(line.encode())
                        listed.append(entry.path[skip:])
        return digest.hexdigest(), listed

    def signature(self) -> str:
        """A digest of every file's path, size and modification time (bytecode caches,
        which Python writes as it runs, and amlops' own markers left out)."""
        return self._scan()[0]

    def _forget_cached_packages(self) -> None:
        """uv hard-links a venv's files from its cache, so an edit in the venv is an edit
        of the cache too: drop this venv's packages from uv's cache, so the rebuild
        downloads them afresh (and other venvs stop sharing the edited files)."""
        uv = find_uv(self.uv_setting)[0]
        names = sorted(
            {info.name.split("-")[0] for info in self.path.glob("lib/*/site-packages/*.dist-info")}
        )
        if uv and names:
            argv = [uv, "cache", "clean", *names]
            subprocess.run(argv, capture_output=True, env=self._env(), cwd=self.cache)

    def _sign(self) -> None:
        """Record the files as built: their signature, and the stamp of the cheap check."""
        digest = self._scan()[0]
        (self.path / SIGNATURE).write_text(digest, encoding="utf-8")
        # Stamped from a second walk that starts after the signature file changed the
        # venv's folder, and only when nothing changed in between (else the next run
        # checks fully): the stamp's time must come before what it vouches for.
        since = self._stamp_clock()
        again, listed = self._scan()
        if again == digest:
            self._write_stamp(since, listed)
        else:
            self.stamp.with_name(f"{self.stamp.name}.{os.getpid()}.tmp").unlink(missing_ok=True)
        _checked[self.path] = True

    def unavailable(self) -> str:
        """Empty when venvs can be built with this interpreter, else why not."""
        if not self.version:
            return f"cannot run VENV_PYTHON={self.python}"
        if find_uv(self.uv_setting)[0]:
            return ""
        probe = [self.python, "-c", "import venv, ensurepip"]
        if subprocess.run(probe, capture_output=True).returncode != 0:
            return f"{self.python} lacks the venv/ensurepip modules (apt install python3-venv)"
        return ""

    @property
    def users_file(self) -> Path:
        """Locked shared by each run using the venv, exclusively by a rebuild."""
        return self.cache / f"{self.path.name}.inuse"

    def in_use(self) -> ContextManager[None]:
        """Held while a run uses the venv (a shared flock on `users_file`): a rebuild
        (after a tool edited the venv) waits for the runs using it to end instead of
        deleting it under them, and a run starting meanwhile waits for the rebuild."""
        return self._users_lock(exclusive=False)

    @contextmanager
    def _users_lock(self, exclusive: bool) -> Iterator[None]:
        """`users_file` flocked shared (a run) or exclusive (a rebuild, which says in one
        line when runs hold it). No-op where there is no fcntl (Windows)."""
        try:
            import fcntl
        except ImportError:
            yield
            return
        self.cache.mkdir(parents=True, exist_ok=True)
        with open(self.users_file, "a") as handle:
            if not exclusive:
                fcntl.flock(handle, fcntl.LOCK_SH)
            else:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    say(f"waiting for the runs using {self.describe()} to end before rebuilding it")
                    fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _locked(self) -> "FileLock":
        """The build lock, acquired; says so when another process holds it."""
        from filelock import FileLock, Timeout  # only to build: ~20 ms of every run else

        self.cache.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_file))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            say(f"waiting for another process to finish building {self.describe()}")
            lock.acquire()
        return lock

    def prepare(self, echo: bool = True) -> bool:
        """Build the venv unless a complete one exists; True when this call built it."""
        if self.ready():
            return False
        lock = self._locked()
        try:
            _checked.pop(self.path, None)  # what this process saw before it waited is old
            if self.ready():  # another process built it while we waited
                return False
            self._build(echo)
            return True
        finally:
            lock.release()

    def _steps(self, uv: Optional[str]) -> List[Tuple[str, List[str]]]:
        python = str(self.bin_dir / "python")
        listed = str(self.path / INSTALLED)
        source = self.requirements.source
        if uv:
            create = [uv, "venv", "--quiet", "--seed", "--no-project", "--python", self.python]
            install = [uv, "pip", "install", "--python", python, "-r", listed]
            return [
                (f"uv venv --python {self.python}", create + [str(self.path)]),
                (f"uv pip install -r {source}", install),
            ]
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
        return [
            (f"{self.python} -m venv", [self.python, "-m", "venv", str(self.path)]),
            ("pip install --upgrade pip", pip + ["--upgrade", "pip"]),
            (f"pip install -r {source}", pip + ["-r", listed]),
        ]

    def _uv(self) -> Optional[str]:
        """The uv binary, or None after a one-line notice (once per process)."""
        uv, why = find_uv(self.uv_setting)
        if not uv and why not in _noticed:
            _noticed.append(why)
            say(PIP_NOTICE.format(why=why))
        return uv

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
        env.setdefault("UV_CACHE_DIR", str(self.cache / UV_CACHE))
        env.setdefault("UV_PYTHON_DOWNLOADS", "never")  # the interpreter given, nothing else
        return uv_install_env(env)

    def _build(self, echo: bool) -> None:
        with self._users_lock(exclusive=True):  # never delete a venv under a running job
            self._build_anew(echo)

    def _build_anew(self, echo: bool) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        uv = self._uv()
        if echo:
            say(f"building {self.describe()} with {'uv' if uv else 'pip'} (log: {self.log})")
        cwd = self.requirements.base_dir
        cwd = cwd if cwd.is_dir() else self.cache
        env = self._env()
        with open(self.log, "w", encoding="utf-8") as handle:
            for number, (shown, argv) in enumerate(self._steps(uv)):
                if number == 1:  # the venv exists: keep what it installs beside it
                    listed = "\n".join(self.requirements.install_lines)
                    (self.path / INSTALLED).write_text(listed + "\n", encoding="utf-8")
                handle.write(f"$ {' '.join(argv)}\n")
                handle.flush()
                code = subprocess.run(
                    argv, stdout=handle, stderr=subprocess.STDOUT, cwd=cwd, env=env
                ).returncode
                if code:
                    self._failed(shown, code)
        (self.path / READY).write_text("ok\n", encoding="utf-8")
        self._sign()  # after the marker: its creation changes the venv's folder

    def _failed(self, shown: str, code: int) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        text = self.log.read_text(encoding="utf-8", errors="replace")
        line = telling_line(text)
        raise UserError(
            f"venv runtime: {shown} failed (exit {code}): {line}; log: {self.shown(self.log)}"
        )

    def install(self, packages: List[str], marker_name: str) -> bool:
        """Add `packages` to this (built) venv once; a marker file remembers them.
        True when it installed."""
        marker = self.path / f".amlops-{marker_name}"
        wanted = " ".join(packages)
        if marker.is_file() and marker.read_bytes() == wanted.encode():
            return False
        lock = self._locked()
        try:
            if marker.is_file() and marker.read_bytes() == wanted.encode():
                return False
            say(f"installing {wanted} into {self.describe()}")
            uv = self._uv()
            python = str(self.bin_dir / "python")
            if uv:
                argv = [uv, "pip", "install", "--quiet", "--python", python, *packages]
            else:
                argv = [python, "-m", "pip", "install", "--quiet", *packages]
            done = subprocess.run(argv, capture_output=True, text=True, env=self._env())
            if done.returncode:
                why = telling_line(done.stderr)
                raise UserError(f"venv runtime: installing {wanted} failed: {why}")
            marker.write_text(wanted, encoding="utf-8")
            self._sign()
            return True
        finally:
            lock.release()


def venv_cache(project: Project) -> Path:
    """The folder of a project's venvs: VENV_DIR, else .runs/.venvs."""
    folder = Path(project.settings.get("VENV_DIR", str(project.runs / ".venvs")))
    return (project.root / folder).resolve()


def venv_for(
    project: Project,
    requirement_lines: List[str],
    base_dir: Path,
    python: str = "",
    source: str = "",
) -> Venv:
    """The venv of `requirement_lines` (read relative to `base_dir`, e.g. the folder of
    the file they came from; `source` names that file in messages) for the interpreter
    `python` (default VENV_PYTHON, else the one running amlops). Nothing is built yet:
    call prepare()."""
    requirements = Requirements(requirement_lines, base_dir, source)
    return Venv(
        venv_cache(project),
        requirements,
        python or project.settings.get("VENV_PYTHON", sys.executable),
        uv=project.settings.get("UV"),
        shown=project.relative,
    )
