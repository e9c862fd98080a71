"""Prune the options not chosen, bake the first experiment, and record where the
project came from (.cruft.json) so `make update-template` can pull later changes."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")
# Where the template was baked from, absolute (local_extensions.TemplateDirExtension).
TEMPLATE_DIR = json.loads(r""" {{ template_dir() | tojson }} """)  # spaces: a JSON "string"
PROJECT = Path.cwd()

# Never touched by template updates: the project's own code, data and runs.
UPDATE_SKIPS = [".cruft.json", ".runs", "data", "notebooks", "pipelines", "src"]
# Context keys that describe this one bake, not the answers.
BAKE_ONLY = {"_output_dir", "_repo_dir", "_checkout"}

CI_FILES = {
    "github": [".github"],
    "azure-devops": ["azure-pipelines.yml"],
}


def prune_ci(provider: str) -> None:
    """Keep only the chosen CI provider's files."""
    for name, paths in CI_FILES.items():
        if name == provider:
            continue
        for rel in paths:
            target = PROJECT / rel
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()


def drop_local_state() -> None:
    """Remove __pycache__ folders and .runs/ copied from the template folder (a template
    checkout where tests or tools imported amlops, or ran it, has them; both are
    git-ignored): a fresh project holds source only."""
    for folder in sorted(PROJECT.rglob("__pycache__"), reverse=True):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(PROJECT / ".runs", ignore_errors=True)


def bake_sample_experiments(first: str) -> None:
    """Render the experiment sub-template, exactly as `make new-exp` does: the
    first experiment, and `prepare`, the data step of pipelines/training.yaml."""
    sys.path.insert(0, str(PROJECT))
    from amlops.newexp import create_experiment

    # The answers, not config.env: reading that needs python-dotenv, which the Python
    # running cookiecutter may not have.
    values = {"project_slug": ANSWERS["project_slug"], "compute": ANSWERS["default_compute"]}
    create_experiment(PROJECT, "prepare", quiet=True, kind="prepare", values=values)
    create_experiment(PROJECT, first, quiet=True, values=values)


def sample_endpoint_name(first: str) -> str:
    """The baked sample endpoint: `<first experiment>-online`, as Azure ML names endpoints
    (letters, digits and '-', 3-32 characters)."""
    return first.replace("_", "-")[:25].rstrip("-") + "-online"


def bake_sample_endpoint(first: str) -> None:
    """endpoints/<first>-online/, made as `make new-endpoint` makes one: serves the first
    experiment's model output."""
    from amlops.newendpoint import create_endpoint

    create_endpoint(PROJECT, sample_endpoint_name(first), first, quiet=True)


def template_source() -> tuple:
    """(where the template came from, its git commit or None): its git URL when baked from
    one, else its absolute folder, however it was named (`cookiecutter .`, a relative
    path: cookiecutter's _repo_dir is then relative to a folder the hook does not know)."""
    template = str(ANSWERS.get("_template", ""))
    repo_dir = TEMPLATE_DIR or str(ANSWERS.get("_repo_dir", ""))
    remote = "://" in template or template.startswith(("gh:", "gl:", "bb:", "git@"))
    source = template if remote or not repo_dir else str(Path(repo_dir).resolve())
    done = subprocess.run(
        ["git", "-C", repo_dir or ".", "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return source, (done.stdout.strip() or None) if done.returncode == 0 else None


def record_template(path: Path) -> None:
    """Write .cruft.json: the template source, its commit and the answers (cruft's format)."""
    source, commit = template_source()
    answers = {k: v for k, v in ANSWERS.items() if k not in BAKE_ONLY}
    state = {
        "template": source,
        "commit": commit,
        "checkout": None,
        "context": {"cookiecutter": answers},
        "directory": None,
        "skip": UPDATE_SKIPS,
    }
    path.write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    prune_ci(ANSWERS["ci_provider"])
    bake_sample_experiments(ANSWERS["first_experiment"])
    bake_sample_endpoint(ANSWERS["first_experiment"])
    record_template(PROJECT / ".cruft.json")
    drop_local_state()
