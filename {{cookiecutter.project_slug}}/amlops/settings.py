"""Settings: config.env (committed), then .env (git-ignored secrets), then the
environment, later ones winning. Command-line flags win over all of them."""

import os
from pathlib import Path
from typing import Dict, Mapping, Optional

from amlops.errors import UserError


def read_env_file(path: Path) -> Dict[str, str]:
    """Parse KEY=VALUE lines; `#` comments and blank lines are skipped."""
    values: Dict[str, str] = {}
    if not path.is_file():
        return values
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UserError(f"{path.name}:{number}: expected KEY=VALUE, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


class Settings:
    """Layered key/value settings for one project."""

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
