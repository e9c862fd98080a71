"""`${{...}}` expressions and `$[[...]]` optional segments of a job's command.

Azure ML's rule for optional arguments (command components and jobs,
https://learn.microsoft.com/azure/machine-learning/reference-yaml-component-command):
the text inside `$[[ ... ]]` is kept, brackets removed, when every input it
refers to has a value; otherwise the whole segment is dropped."""

import re
from typing import Callable, List, Optional

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
OPTIONAL = re.compile(r"\$\[\[(.*?)\]\]", re.DOTALL)
REFERENCE = re.compile(r"(inputs|outputs|search_space)\.([A-Za-z_][A-Za-z0-9_]*)")


def expressions(text: str) -> List[str]:
    """The inside of every `${{...}}` in `text`, in order."""
    return EXPRESSION.findall(text)


def required_part(command: str) -> str:
    """The command with every `$[[...]]` segment removed."""
    return OPTIONAL.sub(" ", command)


def optional_parts(command: str) -> List[str]:
    """The inside of every `$[[...]]` segment."""
    return OPTIONAL.findall(command)


def drop_unset_optionals(command: str, has_value: Callable[[str], bool]) -> str:
    """Apply Azure ML's `$[[...]]` rule: keep a segment's inside when `has_value(expr)`
    is true for every `${{expr}}` in it, else drop the segment."""

    def keep_or_drop(match: "re.Match[str]") -> str:
        inside = match.group(1)
        return inside if all(has_value(e) for e in expressions(inside)) else ""

    return OPTIONAL.sub(keep_or_drop, command)


def substitute(command: str, value_of: Callable[[str], Optional[str]]) -> str:
    """Replace each `${{expr}}` by `value_of(expr)` (left as is when it returns None)."""

    def replace(match: "re.Match[str]") -> str:
        value = value_of(match.group(1))
        return match.group(0) if value is None else value

    return EXPRESSION.sub(replace, command)
