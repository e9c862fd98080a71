"""`make update-template`: check that .cruft.json can be followed, then run `cruft update`.

.cruft.json (written at bake time by the template's post_gen hook) names the template
(a git URL, or a local folder as an absolute path) and the commit the project was
baked from. cruft turns a record it cannot follow (a relative or wrong folder, no
commit) into a long traceback; here each such record is one line saying how to fix it.
Run as `python -m amlops.templateupdate`; exit 2 for a record that cannot be followed,
else cruft's own exit code."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

CRUFT_FILE = ".cruft.json"
REMOTE_PREFIXES = ("gh:", "gl:", "bb:", "git@", "git+")
FIX = (
    f'set "template" in {CRUFT_FILE} to the template\'s git URL or absolute path and "commit"'
    " to the template commit this project was baked from, then make update-template"
)


def _is_remote(template: str) -> bool:
    return "://" in template or template.startswith(REMOTE_PREFIXES)


def _git_has_commit(folder: Path, commit: str) -> bool:
    done = subprocess.run(
        ["git", "-C", str(folder), "cat-file", "-e", f"{commit}^{{commit}}"],
        capture_output=True,
    )
    return done.returncode == 0


def record_problem(root: Path) -> Optional[str]:
    """Why the .cruft.json of project `root` cannot be followed (one line), or None."""
    path = root / CRUFT_FILE
    if not path.is_file():
        return f"no {CRUFT_FILE} here: this project does not record its template; {FIX}"
    try:
        record: Dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return f"{CRUFT_FILE} is not readable JSON ({err}); {FIX}"
    if not isinstance(record, dict):
        return f"{CRUFT_FILE} is not a JSON object; {FIX}"
    template = record.get("template")
    commit = record.get("commit")
    if not isinstance(template, str) or not template:
        return f'{CRUFT_FILE}: "template" is empty; {FIX}'
    if not _is_remote(template):
        folder = Path(template)
        if not folder.is_absolute():
            return f'{CRUFT_FILE}: "template" is a relative path ({template}); {FIX}'
        if not (folder / "cookiecutter.json").is_file():
            return f'{CRUFT_FILE}: "template" {template} is not a cookiecutter template; {FIX}'
    if not isinstance(commit, str) or not commit:
        return (
            f'{CRUFT_FILE}: "commit" is empty (the template was not a git repository when this'
            f" project was baked); {FIX}"
        )
    if not _is_remote(template) and not _git_has_commit(Path(template), commit):
        return f'{CRUFT_FILE}: "commit" {commit} is not in the git history of {template}; {FIX}'
    return None


def main(argv: List[str]) -> int:
    root = Path.cwd()
    problem = record_problem(root)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    done = subprocess.run(
        [sys.executable, "-m", "cruft", "update", "--skip-apply-ask", *argv],
        stderr=subprocess.PIPE,
        text=True,
    )
    err = done.stderr or ""
    if done.returncode and "Traceback (most recent call last)" in err:
        last = err.strip().splitlines()[-1]  # the exception, without cruft's stack
        print(f"error: cruft update failed: {last}", file=sys.stderr)
    else:
        sys.stderr.write(err)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
