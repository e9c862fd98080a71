"""`make new-exp EXP=x`: render templates/experiment/ into src/x/ and nothing else.

The bake-time hook calls the same function for the first experiment."""

from pathlib import Path

from amlops.console import say
from amlops.errors import UserError
from amlops.names import check_experiment_name
from amlops.settings import Settings

TEMPLATE = Path("templates") / "experiment"


def create_experiment(root: Path, name: str, quiet: bool = False) -> Path:
    """Render the experiment sub-template as src/<name>; refuse an existing name."""
    check_experiment_name(name)
    target = root / "src" / name
    if target.exists():
        raise UserError(f"src/{name} already exists; pick another EXP or remove it first")
    template = root / TEMPLATE
    if not (template / "cookiecutter.json").is_file():
        raise UserError(f"{TEMPLATE}/cookiecutter.json is missing")
    from cookiecutter.generate import generate_context, generate_files

    settings = Settings(root)
    context = generate_context(
        context_file=str(template / "cookiecutter.json"),
        extra_context={
            "exp_name": name,
            "project_slug": settings.get("PROJECT_SLUG", root.name),
            "compute": settings.get("AML_COMPUTE", "cpu-cluster"),
        },
    )
    generate_files(repo_dir=str(template), context=context, output_dir=str(root / "src"))
    if not quiet:
        print(f"amlops: created src/{name}/ (edit main.py, job.yaml, docker/requirements.txt)")
        say(f"run it with: make local EXP={name}")
    return target
