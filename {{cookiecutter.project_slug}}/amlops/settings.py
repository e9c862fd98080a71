"""Settings: config.env (committed), then .env (git-ignored secrets), then the
environment, later ones winning. Command-line flags win over all of them.

Both files are read by python-dotenv, as docker compose reads an env file:
`KEY=value  # comment` drops the comment, quotes and escapes (`"a\\nb"`) work,
`export KEY=...` is accepted, `${OTHER}` expands (not inside single quotes), and a
line with no `=` is ignored as unset."""

import io
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional

from amlops.errors import UserError
from amlops.textfile import read_text


class _Collect(logging.Handler):
    """Keeps python-dotenv's warnings instead of printing them."""

    def __init__(self) -> None:
        super().__init__()
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _dotenv_warnings() -> Iterator[_Collect]:
    """Capture what python-dotenv logs while parsing (it names only the line)."""
    logger = logging.getLogger("dotenv.main")
    handler = _Collect()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def read_env_file(path: Path) -> Dict[str, str]:
    """KEY -> value of an env file (config.env or .env); {} when it does not exist.

    Raises UserError `<file>:<line>: expected KEY=VALUE` for a line python-dotenv
    cannot parse - without the line itself, which may hold a secret - and for a file
    that cannot be read or is not UTF-8."""
    if not path.is_file():
        return {}
    text = read_text(path, path.name)
    try:
        from dotenv import dotenv_values
    except ImportError:
        raise UserError(
            "python-dotenv is missing (it reads config.env and .env):"
            " run make setup, or pip install python-dotenv"
        ) from None
    with _dotenv_warnings() as warnings:
        values = dotenv_values(stream=io.StringIO(text), interpolate=True)
    for record in warnings.records:
        line = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        raise UserError(f"{path.name}:{line}: expected KEY=VALUE")
    return {key: value for key, value in values.items() if value is not None}


class Settings:
    """Layered key/value settings for one project.

    Raises UserError (one line naming the file) when config.env or .env is unreadable."""

    def __init__(self, root: Path, environ: Optional[Mapping[str, str]] = None) -> None:
        self.root = root
        merged = read_env_file(root / "config.env")
        merged.update(read_env_file(root / ".env"))
        env = os.environ if environ is None else environ
        merged.update({k: v for k, v in env.items() if k in merged or k.isupper()})
        self._values = merged

    def get(self, key: str, default: str = "") -> str:
        """The value of `key`, or `default` when unset or empty."""
        value = self._values.get(key, "")
        return value if value != "" else default

    def prefixed(self, prefix: str) -> Dict[str, str]:
        """Every setting whose name starts with `prefix` (e.g. all MLFLOW_* variables)."""
        return {k: v for k, v in self._values.items() if k.startswith(prefix)}

    def flag(self, key: str) -> bool:
        """True for 1/true/yes/on (any case)."""
        return self.get(key).lower() in ("1", "true", "yes", "on")
