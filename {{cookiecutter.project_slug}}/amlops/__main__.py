"""`python -m amlops ...` entry point."""

import sys

from amlops import startup

startup.pause()  # until the command's long work starts (amlops/startup.py)


def _missing(err: ModuleNotFoundError) -> str:
    return (
        f"error: amlops needs {err.name!r}, which {sys.executable} lacks: run make setup"
        " (it creates .venv with the project's dependencies), or pip install -e ."
    )


try:  # a Python without the project's dependencies (make falls back to python3)
    from amlops.cli import main

    code = main()
except ModuleNotFoundError as err:
    sys.exit(_missing(err))
startup.at_exit()
sys.exit(code)
