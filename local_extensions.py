"""Jinja filters used by the template to quote free-text answers safely, and the
template's own absolute location for the post_gen hook's .cruft.json."""

from pathlib import Path

from jinja2.ext import Extension

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _needs_unicode_escape(code: int) -> bool:
    """Control characters and the few code points TOML or YAML refuse raw."""
    return code < 0x20 or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029, 0xFEFF)


def escaped(value: object) -> str:
    """Text to place between double quotes in TOML or YAML; non-ASCII kept as is."""
    out = []
    for char in str(value):
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif _needs_unicode_escape(ord(char)):
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def one_line(value: object) -> str:
    """Free text flattened to one line, for Markdown headings and comments."""
    return " ".join(str(value).split())


class QuotingExtension(Extension):
    """Registers the `escaped` and `one_line` filters."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["escaped"] = escaped
        environment.filters["one_line"] = one_line


def template_dir() -> str:
    """The absolute folder of the template being baked, "" where unknown.

    `cookiecutter tpl` or `cookiecutter .` give cookiecutter a relative template path
    (its `_repo_dir`), which the hooks, run inside the new project, cannot resolve.
    cookiecutter renders the hooks in the template's folder (cookiecutter/hooks.py,
    run_hook_from_repo_dir: `with work_in(repo_dir)`), so there it is the working
    directory. Not this module's own path: cookiecutter imports it once per process,
    and later bakes of another template in that process would reuse it."""
    here = Path.cwd()
    return str(here) if (here / "cookiecutter.json").is_file() else ""


class TemplateDirExtension(Extension):
    """Registers `template_dir()` (for the post_gen hook's .cruft.json)."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["template_dir"] = template_dir
