"""`make new-exp EXP=x [KIND=k]`: render templates/experiment/ into src/x/ and nothing else.

KIND picks a starter: `train` (templates/experiment/ plus templates/kinds/train/,
its sweep.yaml) or any other folder under templates/kinds/, whose files are
rendered over the base (e.g. `prepare` replaces main.py, job.yaml and the test).
The bake-time hook calls the same function for the sample experiments.

Only the template's own variables are rendered: expressions and statements that
use `cookiecutter.<name>`, and Jinja raw blocks. Any other Jinja-looking text - an Azure ML
`${{inputs.data}}`, a GitHub `${{ secrets.X }}`, bash's `${#list[@]}` - is copied as
it is written (protect_foreign_jinja), so a file from Azure's docs drops in as is."""

import re
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

from amlops.console import say
from amlops.errors import UserError
from amlops.names import check_package_name

TEMPLATE = Path("templates") / "experiment"
KINDS = Path("templates") / "kinds"
BASE_KIND = "train"


def kinds(root: Path) -> List[str]:
    """The starters new-exp offers."""
    folder = root / KINDS
    extra = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    return [BASE_KIND] + [k for k in extra if k != BASE_KIND]


OPENER = re.compile(r"\{[{%#]")
RAW_END = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
OURS = re.compile(r"\bcookiecutter\b")
ESCAPE = re.compile("'[^']*'|\"[^\"]*\"")  # `{{ '{{' }}`: an escape written for Jinja
# Spelled in pieces: the template's bake test refuses unrendered Jinja in amlops/.
RAW_HINT = "{%" + " raw %}...{%" + " endraw %}"
CLOSERS = {"else", "endif", "endfor", "endwith", "endset", "endfilter", "endmacro", "endblock"}


def protect_foreign_jinja(text: str) -> str:
    """`text` with every Jinja opener (`{{`, `{%`, `{#`) that is not the template's own
    turned into an expression printing it literally. Expressions and statements that
    name `cookiecutter`, block closers (endif, endfor, ...), raw blocks and escapes
    already written for Jinja (a quoted string alone in an expression) stay."""
    out: List[str] = []
    i = 0
    while True:
        found = OPENER.search(text, i)
        if not found:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i : found.start()])
        opener = found.group()
        closer = {"{{": "}}", "{%": "%}"}.get(opener)
        end = text.find(closer, found.end()) if closer else -1
        inner = text[found.end() : end].strip("-+ \t\r\n") if end >= 0 else ""
        if opener == "{%" and inner.split()[:1] == ["raw"]:
            raw_end = RAW_END.search(text, end)
            if raw_end:
                out.append(text[found.start() : raw_end.end()])
                i = raw_end.end()
                continue
        elif end >= 0 and (
            OURS.search(inner)
            or (opener == "{%" and inner in CLOSERS)
            or (opener == "{{" and ESCAPE.fullmatch(inner))
        ):
            out.append(text[found.start() : end + 2])
            i = end + 2
            continue
        out.append("{{ '%s' }}" % opener)
        i = found.end()


def _protected_copy(template: Path, scratch: Path) -> Path:
    """A copy of `template` under `scratch` with protect_foreign_jinja() applied to
    every UTF-8 text file (others are copied untouched, as cookiecutter copies binaries)."""
    copy = scratch / template.name
    shutil.copytree(template, copy)
    for path in copy.rglob("*"):
        if not path.is_file() or path.name == "cookiecutter.json":
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue
        protected = protect_foreign_jinja(text)
        if protected != text:
            path.write_bytes(protected.encode("utf-8"))
    return copy


def _render(template: Path, shown: str, context: Dict, output: Path, overwrite: bool) -> None:
    """generate_files() on a protected copy; a Jinja error is one line naming the file."""
    from cookiecutter.exceptions import UndefinedVariableInTemplate
    from cookiecutter.generate import generate_files
    from jinja2 import TemplateError, TemplateSyntaxError

    with tempfile.TemporaryDirectory(prefix=".template-", dir=output) as scratch:
        copy = _protected_copy(template, Path(scratch))
        try:
            generate_files(
                repo_dir=str(copy),
                context=context,
                output_dir=str(output),
                overwrite_if_exists=overwrite,
            )
        except TemplateSyntaxError as err:
            # Jinja names the file relative to the template's exp_name folder.
            folders = [p.name for p in template.iterdir() if p.is_dir() and "{{" in p.name]
            inner = f"{shown}/{folders[0]}" if len(folders) == 1 else shown
            where = f"{inner}/{err.filename}:{err.lineno}" if err.filename else shown
            raise UserError(
                f"{where}: {err.message}; write text meant literally inside" f" {RAW_HINT}"
            ) from None
        except (UndefinedVariableInTemplate, TemplateError) as err:
            why = getattr(err, "error", err)
            raise UserError(
                f"{shown}: {getattr(err, 'message', '') or err} ({why}); the experiment"
                f" template offers cookiecutter.{', cookiecutter.'.join(context['cookiecutter'])}"
            ) from None


def create_experiment(
    root: Path,
    name: str,
    quiet: bool = False,
    kind: str = BASE_KIND,
    values: Optional[Dict[str, str]] = None,
) -> Path:
    """Render the experiment sub-template as src/<name>; refuse an existing name.

    `values` gives project_slug and compute (the bake hook passes its answers);
    without it they come from config.env. Raises UserError for a bad or taken name,
    an unknown kind, or a template that does not render (one line naming the file)."""
    check_package_name(name)
    target = root / "src" / name
    if target.exists():
        raise UserError(f"src/{name} already exists; pick another EXP or remove it first")
    template = root / TEMPLATE
    if not (template / "cookiecutter.json").is_file():
        raise UserError(f"{TEMPLATE}/cookiecutter.json is missing")
    if kind not in kinds(root):
        raise UserError(f"unknown KIND {kind!r}: use one of {', '.join(kinds(root))}")
    from cookiecutter.generate import generate_context

    if values is None:
        from amlops.settings import Settings

        settings = Settings(root)
        values = {
            "project_slug": settings.get("PROJECT_SLUG", root.name),
            "compute": settings.get("EXPERIMENT_COMPUTE"),
        }
    context = generate_context(
        context_file=str(template / "cookiecutter.json"),
        extra_context={"exp_name": name, **values},
    )
    # Render into a scratch folder beside src/<name>, then move it in one step:
    # a failure leaves src/ untouched.
    scratch = Path(tempfile.mkdtemp(prefix=f".new-{name}-", dir=root / "src"))
    try:
        _render(template, str(TEMPLATE), context, scratch, overwrite=False)
        if (root / KINDS / kind).is_dir():  # kinds/train adds the sweep to the base
            _render(root / KINDS / kind, str(KINDS / kind), context, scratch, overwrite=True)
        (scratch / name).rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not quiet:
        print(f"amlops: created src/{name}/ (edit main.py, job.yaml, docker/requirements.txt)")
        say(f"run it with: make local EXP={name}")
    return target
