"""Print `make help` from the `target: ## description` comments of Makefiles."""

import re
import signal
import sys
from pathlib import Path
from typing import List, Tuple

TARGET = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)\s*:[^=#]*?##\s*(.+)$")


def targets(paths: List[str]) -> List[Tuple[str, str]]:
    """(target, description) pairs in file order."""
    found = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            match = TARGET.match(line)
            if match:
                found.append((match.group(1), match.group(2).strip()))
    return found


def main(argv: List[str]) -> int:
    rows = targets(argv or ["Makefile"])
    width = max((len(name) for name, _ in rows), default=0)
    print("Usage: make <target> [VAR=value ...]\n")
    for name, text in rows:
        print(f"  {name.ljust(width)}  {text}")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `make help | head` ends quietly
    sys.exit(main(sys.argv[1:]))
