"""Stage an experiment and src/common under one import root.

The staged folder is both the Docker mount for local runs and the job's
`code:` in Azure ML, so `import common` and `python -m <exp>.main` behave the
same in both places. src/ itself is never written to."""

import os
import shutil
from pathlib import Path
from typing import List

from amlops.amlignore import IgnoreRules
from amlops.project import Project


def _copy_tree(source: Path, dest: Path, rules: IgnoreRules, prefix: str) -> List[str]:
    copied: List[str] = []
    for folder, dirs, files in os.walk(source):
        rel_folder = Path(folder).relative_to(source).as_posix()
        base = prefix if rel_folder == "." else f"{prefix}/{rel_folder}"
        dirs[:] = sorted(d for d in dirs if not rules.ignored(f"{base}/{d}", True))
        (dest / base).mkdir(parents=True, exist_ok=True)
        for name in sorted(files):
            rel = f"{base}/{name}"
            if not rules.ignored(rel, False):
                shutil.copy2(Path(folder) / name, dest / rel)
                copied.append(rel)
    return copied


def stage_code(project: Project, experiment: str, dest: Path) -> List[str]:
    """Copy src/<experiment> and src/common into `dest`; return the staged files."""
    rules = IgnoreRules.from_file(project.root / ".amlignore")
    dest.mkdir(parents=True, exist_ok=True)
    staged = _copy_tree(project.src / experiment, dest, rules, experiment)
    if project.common.is_dir():
        staged += _copy_tree(project.common, dest, rules, "common")
    return staged
