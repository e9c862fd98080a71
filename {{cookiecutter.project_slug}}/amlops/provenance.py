"""Tags every submission and tracked local run carries: which commit, whether the tree was
dirty, who sent it (stdlib only: git and getpass)."""

import getpass
import subprocess
from pathlib import Path
from typing import Dict


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def submission_tags(root: Path) -> Dict[str, str]:
    """git_commit (or `none` outside git), git_dirty (true/false, `unknown` outside git:
    nothing says whether the code is committed) and user."""
    commit = _git(root, "rev-parse", "HEAD")
    dirty = bool(_git(root, "status", "--porcelain")) if commit else None
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {
        "git_commit": commit or "none",
        "git_dirty": "unknown" if dirty is None else str(dirty).lower(),
        "user": user,
    }
