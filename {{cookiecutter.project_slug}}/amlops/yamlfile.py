"""Load YAML with errors that name the file and line, and keep key line numbers."""

from pathlib import Path
from typing import Any, Dict

import yaml

from amlops.errors import UserError


class LineMap(dict):
    """A dict that remembers the 1-based line of each key (`.lines[key]`)."""

    lines: Dict[Any, int]


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):  # noqa: D401 - yaml API
        mapping = LineMap(super().construct_mapping(node, deep=deep))
        mapping.lines = {
            self.construct_object(key, deep=deep): key.start_mark.line + 1 for key, _ in node.value
        }
        return mapping


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping
)


def load_yaml(path: Path, shown_as: str = "") -> Any:
    """Parse `path`; a syntax error becomes `file:line: message`."""
    name = shown_as or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise UserError(f"{name}: cannot read ({err.strerror})") from None
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{name}{line}: YAML syntax error: {err.problem}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{name}: YAML error: {err}") from None


def line_of(mapping: Any, key: Any) -> int:
    """The line of `key` in a mapping loaded by load_yaml, or 0 if unknown."""
    return getattr(mapping, "lines", {}).get(key, 0)


def plain(value: Any) -> Any:
    """`value` with every LineMap turned into a plain dict (so it can be dumped)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def dump_yaml(path: Path, data: Any) -> None:
    """Write `data` as block-style YAML in the given key order."""
    text = yaml.safe_dump(plain(data), sort_keys=False, default_flow_style=False, width=1000)
    path.write_text(text, encoding="utf-8")


def literal_value(text: str) -> Any:
    """A command-line literal typed like YAML would (5 -> int, true -> bool), else text."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (str, int, float, bool)) else text
