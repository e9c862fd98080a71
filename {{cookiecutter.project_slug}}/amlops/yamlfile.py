"""Load YAML with errors that name the file and line, and keep key line numbers.

A key given twice in one mapping is refused (PyYAML, like most parsers, would keep
the last silently: a second `train:` step or input replacing the first). So are
documents that would cost unbounded time or memory to use: nesting deeper than
MAX_DEPTH (PyYAML's composer recurses per level and ends in RecursionError) and
aliases that expand to more than MAX_NODES nodes (a "billion laughs" alias bomb:
small to parse, but every reader that walks the data - json, a tag check - walks
each expansion) or that refer to themselves.

PyYAML is imported on first parse, not with this module (~30 ms of every command), and
what a file parsed to is kept by its exact text (amlops.parsecache): a `make local` whose
job file has not changed since the last run does not import PyYAML at all."""

import re
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

from amlops import parsecache
from amlops.errors import UserError
from amlops.textfile import read_text

if TYPE_CHECKING:
    import yaml


class LineMap(dict):
    """A dict that remembers the 1-based line of each key (`.lines[key]`)."""

    lines: Dict[Any, int]


MERGE_TAG = "tag:yaml.org,2002:merge"
# No Azure ML file nests more than a dozen levels; deeper is a mistake or an attack.
MAX_DEPTH = 100
# Nodes a document may expand to with its aliases followed (a 10,000-line file has
# some 30,000); an alias bomb expands to billions.
MAX_NODES = 1_000_000


def _children(node: "yaml.Node") -> List["yaml.Node"]:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_expansion(root: "yaml.Node") -> None:
    """Raise TooBig when `root`, aliases followed, is deeper than MAX_DEPTH, holds more
    than MAX_NODES nodes or contains itself. Each node is visited once (sizes and depths
    are memoised, without recursion), so the check costs the size of the text."""
    TooBig = _yaml().TooBig
    size: Dict[int, int] = {}
    depth: Dict[int, int] = {}
    open_nodes = set()
    stack: List[Tuple["yaml.Node", bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            line = node.start_mark.line + 1
            if size[key] > MAX_NODES:
                raise TooBig(
                    f"its aliases expand to more than {MAX_NODES:,} values (an alias bomb?);"
                    " write the data out or use fewer nested aliases",
                    line,
                )
            if depth[key] > MAX_DEPTH:
                raise TooBig(f"nested more than {MAX_DEPTH} levels deep", line)
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise TooBig(
                "an alias refers to the node that holds it (a recursive alias)", line_of_node(node)
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _children(node) if id(kid) not in size)


def line_of_node(node: "yaml.Node") -> int:
    return node.start_mark.line + 1


BRACKET = re.compile(r"[\[\]{}]")


def check_flow_depth(text: str) -> None:
    """Raise TooBig when brackets open more than MAX_DEPTH deep. PyYAML's scanner looks
    ahead up to 1024 characters of unclosed flow collections at a quadratic cost (seconds
    for `[[[[...`), before its composer reaches the depth limit; this pass costs one scan
    of the brackets. Brackets inside scalars count too: a file would need a hundred more
    `[` than `]` in its text to be refused wrongly."""
    depth = 0
    for match in BRACKET.finditer(text):
        depth = depth + 1 if match.group() in "[{" else max(depth - 1, 0)
        if depth > MAX_DEPTH:
            line = text.count("\n", 0, match.start()) + 1
            raise _yaml().TooBig(f"nested more than {MAX_DEPTH} levels deep", line)


@lru_cache(maxsize=None)
def _yaml() -> SimpleNamespace:
    """PyYAML and the loader built on it (module docstring), made on first use."""
    import yaml

    class TooBig(yaml.YAMLError):
        """The document is too deep or expands to too much: `problem`, at 1-based `line`."""

        def __init__(self, problem: str, line: int) -> None:
            super().__init__(problem, line)
            self.problem, self.line = problem, line

    class DuplicateKey(yaml.YAMLError):
        """A mapping names `key` twice: on 1-based lines `first` and `again`."""

        def __init__(self, key: Any, first: int, again: int) -> None:
            super().__init__(key, first, again)
            self.key, self.first, self.again = key, first, again

    class _LineLoader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent, index):  # noqa: D401 - yaml API
            """PyYAML's compose_node, refusing nesting deeper than MAX_DEPTH before its
            recursion runs out of stack."""
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise TooBig(
                        f"nested more than {MAX_DEPTH} levels deep",
                        self.peek_event().start_mark.line + 1,
                    )
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def compose_document(self):  # noqa: D401 - yaml API
            node = super().compose_document()
            check_expansion(node)
            return node

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
                self.construct_object(key, deep=deep): key.start_mark.line + 1
                for key, _ in node.value
            }
            return mapping

    _LineLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping
    )
    return SimpleNamespace(
        yaml=yaml, TooBig=TooBig, DuplicateKey=DuplicateKey, LineLoader=_LineLoader
    )


def load_yaml(path: Path, shown_as: str = "") -> Any:
    """Parse `path` (shown as `shown_as` in errors, default the path).

    Raises UserError `file:line: ...` for a syntax error, a key given twice in one
    mapping (both lines named), and a file that cannot be read or is not UTF-8."""
    name = shown_as or str(path)
    text = read_text(path, name)
    return parsecache.cached(
        "yaml",
        str(path.absolute()),
        text,
        lambda: _parse(text, name),
        version=_VERSION,
        encode=_encode,
        decode=_decode,
    )


# The parse cache's reader version: this file's own source (amlops.parsecache).
_VERSION = parsecache.source_version(__file__)
_SCALARS = (str, int, float, bool, type(None))


def _encode(value: Any, seen: Any = None) -> Any:
    """A parsed document as marshal-able values, LineMaps (with their key lines) as
    ("m", items, lines). Raises parsecache.Uncacheable for anything a round trip would
    not give back exactly: a date, bytes, a set, pairs, a non-scalar key, and one
    collection reached twice (an alias: the parsed document shares it)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    seen = set() if seen is None else seen
    if id(value) in seen:
        raise parsecache.Uncacheable("shared")
    seen.add(id(value))
    if kind is list:
        return [_encode(item, seen) for item in value]
    if kind is LineMap:
        if any(type(key) not in _SCALARS for key in value):
            raise parsecache.Uncacheable("key")
        items = {key: _encode(item, seen) for key, item in value.items()}
        return ("m", items, dict(getattr(value, "lines", {})))
    raise parsecache.Uncacheable(kind.__name__)


def _decode(kept: Any) -> Any:
    """A parsed document back from _encode's values (fresh objects every call)."""
    if type(kept) is list:
        return [_decode(item) for item in kept]
    if type(kept) is tuple:
        mapping = LineMap((key, _decode(item)) for key, item in kept[1].items())
        mapping.lines = dict(kept[2])
        return mapping
    return kept


def _parse(text: str, name: str) -> Any:
    """`text` parsed (load_yaml, uncached), errors naming `name`."""
    parts = _yaml()
    yaml = parts.yaml
    try:
        check_flow_depth(text)
        return yaml.load(text, Loader=parts.LineLoader)  # noqa: S506 - SafeLoader subclass
    except parts.DuplicateKey as err:
        raise UserError(
            f"{name}:{err.again}: duplicate key {err.key!r} (first on line {err.first});"
            " a mapping names each key once - remove or rename one"
        ) from None
    except parts.TooBig as err:
        raise UserError(f"{name}:{err.line}: YAML refused: {err.problem}") from None
    except RecursionError:  # a reader's own recursion, should a document still get here
        raise UserError(f"{name}: YAML refused: nested too deeply") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        # PyYAML finds an unclosed bracket or a bad indent where it stops, often a line
        # below the mistake; its context says where the construct it was reading began.
        began = err.context_mark
        where = (
            f" ({err.context}, line {began.line + 1})"
            if err.context and began and mark and began.line != mark.line
            else ""
        )
        hint = next((h for problem, h in SYNTAX_HINTS if problem in str(err.problem)), "")
        raise UserError(f"{name}{line}: YAML syntax error: {err.problem}{where}{hint}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{name}: YAML error: {err}") from None


# The fix for PyYAML's commonest problems, in the words of a YAML beginner's mistake.
SYNTAX_HINTS = (
    ("found character '\\t'", "; indent with spaces: YAML does not allow tabs"),
    ("expected <block end>", "; this line is indented differently from the lines above it"),
    ("mapping values are not allowed here", "; quote a value that holds ': ', or indent less"),
    ("found unexpected end of stream", "; a quote or a bracket is not closed"),
)


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
    import yaml

    text = yaml.safe_dump(plain(data), sort_keys=False, default_flow_style=False, width=1000)
    path.write_text(text, encoding="utf-8")


def literal_value(text: str) -> Any:
    """A command-line literal typed like YAML would (5 -> int, true -> bool), else text.

    Parsed by the same bounded loader as files (an INPUTS value often comes from CI, so
    from untrusted text): `[[[[...` thousands deep or an alias bomb is just text here,
    not a RecursionError or seconds of PyYAML's quadratic look-ahead."""
    parts = _yaml()
    try:
        check_flow_depth(text)
        value = parts.yaml.load(text, Loader=parts.LineLoader)  # noqa: S506 - SafeLoader
    except (parts.yaml.YAMLError, RecursionError):
        return text
    return value if isinstance(value, (str, int, float, bool)) else text
