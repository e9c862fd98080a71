"""`python -m amlops ...` entry point."""

import sys


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
sys.exit(code)
