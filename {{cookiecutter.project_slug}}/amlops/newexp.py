"""`make new-exp EXP=x [KIND=k]`: render templates/experiment/ into src/x/ and nothing else.

KIND picks a starter: `train` (templates/experiment/ plus templates/kinds/train/,
its sweep.yaml) or any other folder under templates/kinds/, whose files are
rendered over the base (e.g. `prepare` replaces main.py, job.yaml and the test).
The bake-time hook calls the same function for the sample experiments."""

import shutil
import tempfile
from pathlib import Path
from typing import List

from amlops.console import say
from amlops.errors import UserError
from amlops.names import check_package_name
from amlops.settings import Settings

TEMPLATE = Path("templates") / "experiment"
KINDS = Path("templates") / "kinds"
BASE_KIND = "train"


def kinds(root: Path) -> List[str]:
    """The starters new-exp offers."""
    folder = root / KINDS
    extra = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    return [BASE_KIND] + [k for k in extra if k != BASE_KIND]


def create_experiment(root: Path, name: str, quiet: bool = False, kind: str = BASE_KIND) -> Path:
    """Render the experiment sub-template as src/<name>; refuse an existing name."""
    check_package_name(name)
    target = root / "src" / name
    if target.exists():
        raise UserError(f"src/{name} already exists; pick another EXP or remove it first")
    template = root / TEMPLATE
    if not (template / "cookiecutter.json").is_file():
        raise UserError(f"{TEMPLATE}/cookiecutter.json is missing")
    if kind not in kinds(root):
        raise UserError(f"unknown KIND {kind!r}: use one of {', '.join(kinds(root))}")
    from cookiecutter.generate import generate_context, generate_files

    settings = Settings(root)
    context = generate_context(
        context_file=str(template / "cookiecutter.json"),
        extra_context={
            "exp_name": name,
            "project_slug": settings.get("PROJECT_SLUG", root.name),
            "compute": settings.get("EXPERIMENT_COMPUTE"),
        },
    )
    # Render into a scratch folder beside src/<name>, then move it in one step:
    # a failure leaves src/ untouched.
    scratch = Path(tempfile.mkdtemp(prefix=f".new-{name}-", dir=root / "src"))
    try:
        generate_files(repo_dir=str(template), context=context, output_dir=str(scratch))
        if (root / KINDS / kind).is_dir():  # kinds/train adds the sweep to the base
            generate_files(
                repo_dir=str(root / KINDS / kind),
                context=context,
                output_dir=str(scratch),
                overwrite_if_exists=True,
            )
        (scratch / name).rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not quiet:
        print(f"amlops: created src/{name}/ (edit main.py, job.yaml, docker/requirements.txt)")
        say(f"run it with: make local EXP={name}")
    return target
