"""Time to bake a project and to create an experiment.

Baselines: copying the template folder with shutil.copytree (bake), and
copying an existing experiment folder (new-exp): the cost of the files alone."""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    REPO,
    bake_default,
    interleaved,
    machine_note,
    report,
    rounds,
    run,
    scratch,
)

ROUNDS = rounds(7)


def main() -> None:
    print(machine_note())
    work = scratch()
    counter = iter(range(10_000))
    template = REPO / "{{cookiecutter.project_slug}}"
    figures = interleaved(
        {
            "copytree of the template (baseline)": lambda: shutil.copytree(
                template, work / f"copy{next(counter)}"
            ),
            "cookiecutter bake (defaults)": lambda: bake_default(work / f"bake{next(counter)}"),
        },
        ROUNDS,
    )
    report(f"bake, {ROUNDS} rounds", figures, "copytree of the template (baseline)")

    project = bake_default(work / "project")
    make = ["make", "-s", "new-exp", f"PYTHON={sys.executable}"]
    figures = interleaved(
        {
            "cp -r src/train (baseline)": lambda: shutil.copytree(
                project / "src/train", project / "src" / f"copy{next(counter)}"
            ),
            "make new-exp": lambda: run(make + [f"EXP=exp{next(counter)}"], project),
        },
        ROUNDS,
    )
    report(f"new experiment, {ROUNDS} rounds", figures, "cp -r src/train (baseline)")


if __name__ == "__main__":
    main()
