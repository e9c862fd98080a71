"""Stage an experiment and src/common under one import root.

The staged folder is both the Docker mount for local runs and the job's
`code:` in Azure ML, so `import common` and `python -m <exp>.main` behave the
same in both places. src/ itself is never written to."""

import os
import shutil
from pathlib import Path
from typing import Iterator, List, Tuple

from amlops.amlignore import IgnoreRules
from amlops.project import Project


def _walk(source: Path, rules: IgnoreRules, prefix: str) -> Iterator[Tuple[str, Path]]:
    """(staged relative path, source file) for every file the rules keep; folders too."""
    for folder, dirs, files in os.walk(source):
        rel_folder = Path(folder).relative_to(source).as_posix()
        base = prefix if rel_folder == "." else f"{prefix}/{rel_folder}"
        dirs[:] = sorted(d for d in dirs if not rules.ignored(f"{base}/{d}", True))
        yield f"{base}/", Path(folder)
        for name in sorted(files):
            rel = f"{base}/{name}"
            if not rules.ignored(rel, False):
                yield rel, Path(folder) / name


def snapshot(project: Project, experiment: str) -> Iterator[Tuple[str, Path]]:
    """What a code snapshot of `experiment` holds: folders end with `/`."""
    rules = IgnoreRules.from_file(project.root / ".amlignore")
    yield from _walk(project.src / experiment, rules, experiment)
    if project.common.is_dir():
        yield from _walk(project.common, rules, "common")


def stage_code(project: Project, experiment: str, dest: Path) -> List[str]:
    """Copy src/<experiment> and src/common into `dest`; return the staged files."""
    dest.mkdir(parents=True, exist_ok=True)
    staged: List[str] = []
    for rel, source in snapshot(project, experiment):
        if rel.endswith("/"):
            (dest / rel).mkdir(parents=True, exist_ok=True)
        else:
            shutil.copy2(source, dest / rel)
            staged.append(rel)
    return staged
