"""Settings: config.env (committed), then .env (git-ignored secrets), then the
environment, later ones winning. Command-line flags win over all of them.

Both files are read by python-dotenv, as docker compose reads an env file:
`KEY=value  # comment` drops the comment, quotes and escapes (`"a\\nb"`) work,
`export KEY=...` is accepted, `${OTHER}` expands (not inside single quotes), and a
line with no `=` is ignored as unset.

config.env's values are kept by its exact text (amlops.parsecache) when they depend on
the text alone - python-dotenv reads the same values with and without expanding
`${...}`, so no value takes anything from the environment - and a command whose
config.env has not changed does not import python-dotenv (~10 ms, with logging). A
config.env with a value that expands `${...}` (the environment may change it), and .env
(secrets: never copied into a cache), are read by python-dotenv every time. (Not
detected: a variable whose value is its own `${NAME}` text.)"""

import io
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from amlops import parsecache
from amlops.errors import UserError
from amlops.textfile import read_text

# The parse cache's reader version: this file's own source (amlops.parsecache).
_VERSION = parsecache.source_version(__file__)


@contextmanager
def _dotenv_warnings() -> Iterator[Any]:
    """Capture what python-dotenv logs while parsing (it names only the line): the
    handler's `records`."""
    import logging

    class _Collect(logging.Handler):
        """Keeps python-dotenv's warnings instead of printing them."""

        def __init__(self) -> None:
            super().__init__()
            self.records: List[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

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


def read_env_file(path: Path, cache: bool = False) -> Dict[str, str]:
    """KEY -> value of an env file (config.env or .env); {} when it does not exist.
    With `cache`, a file without `${` is kept by its text (module docstring): never
    for .env.

    Raises UserError `<file>:<line>: expected KEY=VALUE` for a line python-dotenv
    cannot parse - without the line itself, which may hold a secret - and for a file
    that cannot be read or is not UTF-8."""
    if not path.is_file():
        return {}
    text = read_text(path, path.name)
    if not cache:
        return _parse(path, text)[0]
    slot = str(path.absolute())
    kept = parsecache.lookup("env", slot, text, _VERSION)
    if type(kept) is dict:
        return kept
    values, from_text_alone = _parse(path, text, expansions=True)
    if from_text_alone:
        parsecache.keep("env", slot, text, _VERSION, values)
    return values


def _parse(path: Path, text: str, expansions: bool = False) -> Tuple[Dict[str, str], bool]:
    """read_env_file's work: (`text` (of `path`) read by python-dotenv, and - asked with
    `expansions` - whether it reads the same without expanding `${...}`, i.e. whether
    the values come from the text alone)."""
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
    alone = expansions and values == dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {key: value for key, value in values.items() if value is not None}, alone


class Settings:
    """Layered key/value settings for one project.

    Raises UserError (one line naming the file) when config.env or .env is unreadable."""

    def __init__(self, root: Path, environ: Optional[Mapping[str, str]] = None) -> None:
        self.root = root
        merged = read_env_file(root / "config.env", cache=True)
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
