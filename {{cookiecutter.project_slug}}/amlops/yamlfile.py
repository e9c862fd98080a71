"""Load YAML with errors that name the file and line, and keep key line numbers.

A key given twice in one mapping is refused (PyYAML, like most parsers, would keep
the last silently: a second `train:` step or input replacing the first)."""

from pathlib import Path
from typing import Any, Dict

import yaml

from amlops.errors import UserError
from amlops.textfile import read_text


class LineMap(dict):
    """A dict that remembers the 1-based line of each key (`.lines[key]`)."""

    lines: Dict[Any, int]


MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKey(yaml.YAMLError):
    """A mapping names `key` twice: on 1-based lines `first` and `again`."""

    def __init__(self, key: Any, first: int, again: int) -> None:
        super().__init__(key, first, again)
        self.key, self.first, self.again = key, first, again


class _LineLoader(yaml.SafeLoader):
    def check_unique_keys(self, node: yaml.MappingNode) -> None:
        """Raise DuplicateKey for a key written twice in this mapping (merged `<<`
        keys may be overridden, as YAML allows)."""
        seen: Dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise DuplicateKey(key, seen[key], line)
                seen[key] = line
            except TypeError:  # an unhashable key: the constructor reports it
                continue

    def construct_mapping(self, node, deep=False):  # noqa: D401 - yaml API
        if isinstance(node, yaml.MappingNode):
            self.check_unique_keys(node)
        mapping = LineMap(super().construct_mapping(node, deep=deep))
        mapping.lines = {
            self.construct_object(key, deep=deep): key.start_mark.line + 1 for key, _ in node.value
        }
        return mapping


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping
)


def load_yaml(path: Path, shown_as: str = "") -> Any:
    """Parse `path` (shown as `shown_as` in errors, default the path).

    Raises UserError `file:line: ...` for a syntax error, a key given twice in one
    mapping (both lines named), and a file that cannot be read or is not UTF-8."""
    name = shown_as or str(path)
    text = read_text(path, name)
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except DuplicateKey as err:
        raise UserError(
            f"{name}:{err.again}: duplicate key {err.key!r} (first on line {err.first});"
            " a mapping names each key once - remove or rename one"
        ) from None
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
