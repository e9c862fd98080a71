"""Run a command with some folders read-only, in a private mount namespace (Linux).

    python -I rosandbox.py '{"ro": [...], "rw": [...]}' -- command args...

Every `ro` path is bind-mounted onto itself read-only, every `rw` path (inside an
`ro` one) stays writable; only this process and its children see it (root through
a mount namespace, other users through a user namespace that maps their own uid,
so files keep their owner). Then the command replaces this process (same pid and
process group). The files themselves are untouched: nothing to restore afterwards.

Self-contained (standard library only) because it runs from the job's working
directory, where amlops is not importable. When the namespace cannot be set up
(amlops probes that once and uses another way), it says so in one line and runs
the command anyway: the inputs are still checked after the run."""

import ctypes
import json
import os
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
# statvfs flags -> mount flags a remount must keep (the kernel locks them in a user namespace)
KEPT = {2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: 1024, 2048: 2048, 4096: 1 << 21}


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def enter_namespace(libc) -> None:
    """A private mount namespace (and a user namespace mapping our ids, unless root)."""
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(CLONE_NEWNS | (0 if uid == 0 else CLONE_NEWUSER)), "unshare")
    if uid != 0:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")


def bind(libc, path: str, read_only: bool) -> None:
    """Bind `path` (and what is mounted below it) onto itself; read-only if asked."""
    target = path.encode()
    _check(libc.mount(target, target, None, MS_BIND | MS_REC, None), f"bind {path}")
    if read_only:
        kept = 0
        for statvfs_flag, mount_flag in KEPT.items():
            if os.statvfs(path).f_flag & statvfs_flag:
                kept |= mount_flag
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | kept
        _check(libc.mount(None, target, None, flags, None), f"read-only {path}")


def main(argv) -> int:
    spec, command = json.loads(argv[1]), argv[3:]
    if argv[2] != "--" or not command:
        print("usage: rosandbox.py SPEC -- command...", file=sys.stderr)
        return 2
    try:
        libc = _libc()
        enter_namespace(libc)
        for path in spec.get("rw", []):  # own mount points first, so they stay writable
            bind(libc, path, read_only=False)
        for path in spec.get("ro", []):
            bind(libc, path, read_only=True)
    except OSError as err:
        print(
            f"amlops: cannot make inputs read-only ({err.strerror});"
            " they are checked after the run instead",
            file=sys.stderr,
        )
    try:
        os.execvp(command[0], command)
    except OSError as err:
        print(f"amlops: cannot run {command[0]}: {err.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
