"""`make new-endpoint NAME=x [EXP=train]`: copy templates/endpoint/ to endpoints/x/.

`__ENDPOINT__` in the template's files becomes the endpoint's name and `__EXP__` the
experiment whose model output the deployment serves. Plain text replacement, no Jinja:
the files are Azure ML's own YAML and Python. The name must be one Azure ML accepts for
an online endpoint (3-32 characters: a letter, then letters, digits or '-')."""

import shutil
import tempfile
from pathlib import Path

from amlops.console import say
from amlops.errors import UserError
from amlops.spec.endpoints import NAME, NAME_RULE

TEMPLATE = Path("templates") / "endpoint"
SKIPPED = {"README.md"}


def create_endpoint(root: Path, name: str, experiment: str, quiet: bool = False) -> Path:
    """Render the endpoint template as endpoints/<name>/; refuse a bad or taken name.

    Raises UserError (one line) for a name Azure ML refuses, an existing folder, or a
    missing template."""
    if not name:
        raise UserError("NAME is required, e.g. make new-endpoint NAME=wine-online")
    if not (3 <= len(name) <= 32 and NAME.fullmatch(name)):
        raise UserError(f"invalid NAME {name!r}: an endpoint name is {NAME_RULE}")
    template = root / TEMPLATE
    if not template.is_dir():
        raise UserError(f"{TEMPLATE}/ is missing: it holds the endpoint template")
    target = root / "endpoints" / name
    if target.exists():
        raise UserError(f"endpoints/{name} already exists; pick another NAME or remove it first")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".new-{name}-", dir=target.parent))
    try:
        for source in sorted(template.rglob("*")):
            relative = source.relative_to(template)
            if relative.as_posix() in SKIPPED or "__pycache__" in relative.parts:
                continue
            out = scratch / relative
            if source.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            text = source.read_text(encoding="utf-8")
            text = text.replace("__ENDPOINT__", name).replace("__EXP__", experiment)
            out.write_text(text, encoding="utf-8")
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not quiet:
        print(f"amlops: created endpoints/{name}/ (endpoint.yml, blue.yml, score.py, requests/)")
        say(f"train with make local EXP={experiment}, then: make serve ENDPOINT={name}")
    return target
