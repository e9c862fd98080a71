"""A test-only fork server for `python -m amlops <command>` (the idea of Mercurial's chg
and of Python's own multiprocessing forkserver): one process per pytest worker imports
the heavy libraries amlops imports lazily - the Azure ML SDK (~2.5 s of CPU) and MLflow's
tracking store (~1.5 s) - once, then forks a child per command that runs amlops exactly
as `python -m amlops` would, with the caller's argv, working directory, environment and
stdin/stdout/stderr (passed over a Unix socket). The suite runs some hundreds of amlops
commands; without this each paid those imports again.

What a child does not share with a fresh interpreter: those libraries are already
imported (their import-time state comes from the server's environment, the worker's),
and the child is in the server's process group, not make's. So it is used through
`Baked.make` of projects with `preload` set (tests/helpers.py; on by default for the
`baked` fixture and the module projects that set it, off with AMLOPS_TEST_FORKSERVER=0),
never by the import probes (they start sys.executable directly) nor by
`Baked.start_make`, which the signal tests use.

The client (forkserver_client.py) forwards SIGINT/SIGTERM/SIGHUP to the child and exits
with its status, so make sees an ordinary command."""

import array
import json
import os
import signal
import socket
import sys

FAKE_AZURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_azure")


def _preload() -> None:
    """What the children would otherwise each import (amlops imports them lazily)."""
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    import azure.ai.ml  # noqa: F401
    import azure.identity  # noqa: F401
    import mlflow.entities  # noqa: F401
    import mlflow.store.tracking.file_store  # noqa: F401
    import yaml  # noqa: F401


def _receive(conn: socket.socket) -> tuple:
    """(request dict, [stdin, stdout, stderr] fds) from one client message."""
    fds = array.array("i")
    data = b""
    size = None
    while size is None or len(data) < size + 8:
        chunk, ancillary, _, _ = conn.recvmsg(1 << 20, socket.CMSG_LEN(3 * fds.itemsize))
        if not chunk:
            raise EOFError
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        data += chunk
        if size is None and len(data) >= 8:
            size = int(data[:8])
    return json.loads(data[8 : 8 + size]), list(fds)


def _run_amlops(request: dict) -> None:
    """In the child: become `python -m amlops <argv>` and exit with its status."""
    import io
    import runpy

    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(
        io.FileIO(1, "w", closefd=False),
        line_buffering=os.isatty(1),
        write_through=unbuffered,
    )
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False),
        errors="backslashreplace",
        line_buffering=True,
        write_through=unbuffered,
    )
    # as `python -m` builds it: the working directory, then PYTHONPATH, then the rest
    extra = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    sys.path[:] = [request["cwd"], *extra, *SERVER_PATH]
    if os.environ.get("AMLOPS_FAKE_AZURE") and FAKE_AZURE in extra:
        # its sitecustomize installs the fake on the SDK's first import: done here instead
        import fake_azure

        fake_azure.install()
    sys.argv = ["-m", *request["argv"]]
    code = 0
    try:
        runpy.run_module("amlops", run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        if stop.code is None:
            code = 0
        elif isinstance(stop.code, int):
            code = stop.code
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code & 0xFF)


def _handle(conn: socket.socket) -> None:
    """In a handler process: fork the amlops child, tell the client its pid, wait for it,
    send its exit status."""
    request, fds = _receive(conn)
    child = os.fork()
    if child == 0:
        conn.close()
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        _run_amlops(request)
    for fd in fds:
        os.close(fd)
    conn.sendall(f"{child}\n".encode())
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    conn.sendall(f"{code}\n".encode())
    conn.close()


SERVER_PATH: list = []


def serve(path: str) -> None:
    python_path = set(os.environ.get("PYTHONPATH", "").split(os.pathsep))
    SERVER_PATH.extend(entry for entry in sys.path[1:] if entry not in python_path)
    _preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:
                _handle(conn)
            finally:
                os._exit(0)
        conn.close()


if __name__ == "__main__":
    serve(sys.argv[1])
