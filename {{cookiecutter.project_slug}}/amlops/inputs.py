"""Job inputs on this machine, for local runs and submissions alike: INPUTS overrides
(checked against the declared type), and where a path input's data lives.

Input paths resolve in this order: an override (INPUTS="name=path"); a local
`path:` in the file (relative to the file's folder); `data/<asset name>/` for
an `azureml:<asset>` path; `data/<input name>/`."""

import re
import shlex
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from amlops.errors import UserError
from amlops.project import Project
from amlops.spec.job import LITERAL_CHECKS, InputSpec, JobSpec
from amlops.spec.references import asset_name
from amlops.yamlfile import literal_value

# An override's value is data: the characters a shell reads as nothing but text (shlex's
# own safe set, letters of any script included). Azure ML substitutes a literal input's
# value into the command unquoted and runs it with a shell (the `${{inputs.x}}` rule of
# https://learn.microsoft.com/azure/machine-learning/reference-yaml-job-command), so
# anything else would be code there as here.
SHELL_SAFE = re.compile(r"[\w@%+=:,./-]*")
REMOTE_PREFIXES = ("azureml:", "http://", "https://", "wasbs://", "abfss://", "adl://")


SHOWN_MAX = 300  # characters of a value an error line quotes (a long path fits)


def clipped(text: str) -> str:
    """`text` as an error line quotes it: whole up to SHOWN_MAX characters, else its
    start and its length (an override may be any size: one line stays one line)."""
    if len(text) <= SHOWN_MAX:
        return text
    return f"{text[:100]}... ({len(text)} characters)"


def literal_problem(item: InputSpec, value: Any) -> str:
    """Why `value` cannot be `item`'s literal value (empty when it can)."""
    check = LITERAL_CHECKS.get(item.type)
    if check is None or check(value):
        return ""
    shown = repr(value) if not isinstance(value, str) else repr(clipped(value))
    return f"input {item.name!r} is {item.type}, got {shown}"


def check_override(item: InputSpec, text: str, where: str) -> None:
    """An INPUTS value for a literal input must parse as its type (YAML typing:
    5 is an integer, 0.5 a number, true a boolean) and be plain text to a shell
    (check_shell_safe)."""
    if item.is_path:
        return
    problem = literal_problem(item, literal_value(text))
    if problem:
        raise UserError(f"INPUTS {item.name}={clipped(text)}: {problem} ({where})")
    check_shell_safe(item.name, text, where)


def check_shell_safe(name: str, text: str, where: str) -> None:
    """Refuse an override of literal input `name` whose value a shell would read as more
    than one plain word (spaces, quotes, `$(...)`, `;`, `|`, globs, ...).

    Azure ML puts `${{inputs.<name>}}` into the command as raw text and runs the command
    with a shell, so a value given at submit time is code there; an override often comes
    from CI (a branch name, a commit message), so it is refused before anything runs or is
    sent - in both local runtimes, sweeps, pipelines and DRY_RUN alike. A value written in
    the job file stays as written (it is reviewed with the code, and Azure ML runs it so).
    Raises UserError naming the input, the characters and the fix."""
    if SHELL_SAFE.fullmatch(text):
        return
    bad = "".join(sorted({c for c in text if not SHELL_SAFE.fullmatch(c)}))
    raise UserError(
        f"INPUTS {name}={clipped(text)!r}: the shell that runs the command would read"
        f" {clipped(bad)!r} as code, not data: Azure ML puts ${{{{inputs.{name}}}}} into it"
        f" unquoted ({where}); an override may hold only letters, digits and @%+=:,./-_ -"
        " put any other value in the job file's inputs (value:), where it is reviewed with"
        " the code"
    )


def parse_overrides(items: Iterable[str], spec: JobSpec) -> Dict[str, str]:
    """`name=value` pairs, each naming a declared input of `spec`, type-checked."""
    overrides: Dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UserError(f"input override {item!r}: expected name=value")
        if name not in spec.inputs:
            declared = ", ".join(sorted(spec.inputs)) or "none"
            raise UserError(
                f"input override {item!r}: {spec.shown_as} declares no input"
                f" {name!r} (declared: {declared})"
            )
        declared_item = spec.inputs[name]
        check_override(declared_item, value, spec.where(declared_item.line))
        overrides[name] = value
    return overrides


def split_overrides(text: str) -> List[str]:
    """The INPUTS setting: space-separated name=value pairs, shell quoting allowed."""
    try:
        return shlex.split(text)
    except ValueError as err:
        raise UserError(f"INPUTS={text!r}: {err}") from None


def locate_input(
    item: InputSpec,
    base: Path,
    where: str,
    project: Project,
    override: Optional[str],
    fix: str = "",
) -> Path:
    """Where a path input's data lives; a local `path:` is relative to `base`.

    `where` starts with the file that declares the input (`src/x/job.yml:12`), which
    the default advice names; `fix` replaces that advice when the data is missing
    (UserError)."""
    if override:
        candidate, how = Path(override).expanduser(), "from INPUTS"
    elif item.path and not item.path.startswith(REMOTE_PREFIXES):
        local = item.path[len("file:") :] if item.path.startswith("file:") else item.path
        candidate, how = base / local, "its local path:"
    else:
        asset = asset_name(item.path or "") or item.name
        candidate, how = project.data / asset, f"data/{asset}/ by convention"
        if item.path and not item.path.startswith("azureml:"):
            how += f"; its path {item.path} is not on this machine"
    candidate = candidate.resolve()
    if item.type == "uri_file" and candidate.is_dir():
        files = [p for p in candidate.iterdir() if p.is_file()]
        if len(files) != 1:
            raise UserError(
                f"{where}: uri_file input {item.name!r}: folder"
                f" {project.relative(candidate)} must hold exactly one file,"
                f" found {len(files)}"
            )
        candidate = files[0]
    if not candidate.exists():
        declared_in = where.split(":", 1)[0]
        raise UserError(
            f"{where}: input {item.name!r}: no local data at"
            f" {project.relative(candidate)} ({how}); "
            + (
                fix
                or f"create it, set a local path: in {declared_in}, or pass"
                f' INPUTS="{item.name}=<path>"'
            )
        )
    return candidate


def literal_text(item: InputSpec, override: Optional[str], where: str) -> Optional[str]:
    """A literal input's value as the command sees it; None for an unset optional
    input; UserError for a required input without a value."""
    value = item.value if override is None else override
    if value is None:
        if item.optional:
            return None
        raise UserError(
            f"{where}: input {item.name!r} has no value;"
            f' set value: or pass INPUTS="{item.name}=<value>"'
        )
    return str(value)
