"""The `python` a test's make calls when the test opts into the fork server
(tests/support/forkserver.py): `-m amlops ...` goes to the server, which runs it in a
forked child on this process's stdin/stdout/stderr; anything else runs the real Python.
Signals this process gets are passed to the child; it exits as the child did.

Usage (written by tests/helpers.py into a wrapper script):
    python -S forkserver_client.py <real python> <socket> <python arguments...>"""

import array
import json
import os
import signal
import socket
import sys


def main() -> None:
    real, path, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    if argv[:2] != ["-m", "amlops"] or not os.path.exists(path):
        os.execv(real, [real, *argv])
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    body = json.dumps({"argv": argv[2:], "cwd": os.getcwd(), "env": dict(os.environ)})
    message = f"{len(body.encode()):08d}".encode() + body.encode()
    conn.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
    reply = conn.makefile("r")
    child = int(reply.readline())

    def forward(number: int, _frame: object) -> None:
        try:
            os.kill(child, number)
        except ProcessLookupError:
            pass

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, forward)
    line = reply.readline()
    code = int(line) if line.strip() else 1
    if code < 0:  # the child was killed by a signal: so is this process
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main()
