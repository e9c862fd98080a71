"""Rebuild an experiment image over its previous build when the only change to its
build context is requirement lines added (one more package in requirements.txt).

Azure ML builds the Dockerfile whole, on ACR Tasks or an image-build compute that
offers no BuildKit cache mounts (Azure/acr#721), so the Dockerfile the template bakes
has none and a whole local build reinstalls every package. When the previous image of
the same Dockerfile is present, and the context differs from what built it only in
lines added to the requirement files the Dockerfile installs, amlops builds

    FROM <previous image>
    ARG ...                 (the Dockerfile's ARGs above the tail, so the tail sees them)
    <the Dockerfile from the first COPY/ADD of a changed file to the end>

so the install step reruns over the installed packages and adds only the new ones. The
run says so in one line. It builds whole instead (as Azure ML does) when lines were
removed or changed, any other file or the Dockerfile or a build argument changed, the
Dockerfile has several stages, a heredoc or an escape directive, the tail holds a
USER, WORKDIR or an ENV that reads a variable (rerun over the previous image they
would not mean the same), after MAX_DEPTH layered builds in a row, with
LAYERED_BUILDS=0, or when the layered build fails."""

import hashlib
import re
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from amlops.jsonfile import write_json
from amlops.local.dockerignore import context_files
from amlops.local.environments import requirement_files
from amlops.local.venvs import requirement_lines
from amlops.runs import load_record

MAX_DEPTH = 5  # layered builds in a row before a whole one
RECORDS = "layered"  # folder under .runs/.builds/
TAIL_REFUSED = ("USER", "WORKDIR", "ONBUILD")


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    text: str  # the instruction as written, continuation lines included


@dataclass(frozen=True)
class LayeredBuild:
    """A build over the previous image: the Dockerfile to build and what it says."""

    dockerfile: str
    build_args: List[str]
    previous: str
    notice: str
    depth: int


def parse_dockerfile(text: str) -> Tuple[List[str], List[Instruction]]:
    """(parser directives, instructions) of a Dockerfile; comment and blank lines between
    instructions are dropped, an instruction keeps its continuation lines as written."""
    directives: List[str] = []
    instructions: List[Instruction] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines) and re.match(r"#\s*\w+\s*=", lines[index]):
        directives.append(lines[index])  # directives come first, before any comment
        index += 1
    pending: List[str] = []
    for line in lines[index:]:
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        pending.append(line)
        if stripped.startswith("#") or line.rstrip().endswith("\\"):
            continue  # a comment inside a continuation, or the instruction goes on
        keyword = pending[0].split(None, 1)[0].upper()
        instructions.append(Instruction(keyword, "\n".join(pending)))
        pending = []
    if pending:
        instructions.append(Instruction(pending[0].split(None, 1)[0].upper(), "\n".join(pending)))
    return directives, instructions


def _copies(instruction: Instruction, relative: str) -> bool:
    """Whether a COPY/ADD from the context brings in the file `relative` (posix)."""
    if instruction.keyword not in ("COPY", "ADD"):
        return False
    words = re.sub(r"\\\n", " ", instruction.text).split()[1:]
    if any(w.startswith("--from") for w in words):
        return False
    args = [w.strip("\"'[],") for w in words if not w.startswith("--")]
    for source in args[:-1]:
        source = source[2:] if source.startswith("./") else source
        source = source.rstrip("/")
        if source in ("", ".") or source == relative or relative.startswith(source + "/"):
            return True
        if fnmatch(relative, source):
            return True
    return False


def file_digests(context: Path) -> Dict[str, str]:
    """sha256 of every file `docker build` sends from `context`, by posix path."""
    return {
        path.relative_to(context).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in context_files(context)
        if path.is_file() and "__pycache__" not in path.parts
    }


def _record_path(builds: Path, repo: str, context: Path, dockerfile: str) -> Path:
    key = hashlib.sha256(f"{context.resolve()}\0{dockerfile}".encode()).hexdigest()[:12]
    return builds / RECORDS / f"{repo}-{key}.json"


def _record_problem(record: Any) -> str:
    """Why a build record (.runs/.builds/<repo>.json) is damaged; empty when whole."""
    if not isinstance(record, dict):
        return "not a JSON object"
    kinds = {"tag": str, "depth": int, "dockerfile": str, "build_args": list}
    kinds.update(files=dict, requirements=dict)
    for key, kind in kinds.items():
        if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool):
            return f"{key!r} is missing or not a {kind.__name__}"
    if not all(isinstance(v, list) for v in record["requirements"].values()):
        return "'requirements' holds a value that is not a list"
    return ""


class LayeredBuilds:
    """What the last build of one context and Dockerfile was, and whether the next one
    can be layered over it (see the module docstring)."""

    def __init__(self, builds: Path, repo: str, context: Path, dockerfile: str) -> None:
        self.context = context
        self.dockerfile = dockerfile
        self.record_path = _record_path(builds, repo, context, dockerfile)
        self.generated_path = self.record_path.with_suffix(".Dockerfile")

    def _now(self, build_args: List[str]) -> Dict[str, object]:
        requirements = [
            p.relative_to(self.context).as_posix()
            for p in requirement_files(self.context, self.dockerfile)
            if p.is_file() and self.context in p.parents
        ]
        return {
            "dockerfile": (self.context / self.dockerfile).read_text(encoding="utf-8"),
            "build_args": build_args,
            "files": file_digests(self.context),
            "requirements": {
                rel: list(requirement_lines((self.context / rel).read_text(encoding="utf-8")))
                for rel in requirements
            },
        }

    def _last(self) -> Optional[Dict[str, Any]]:
        """The record of the last build; None when there is none, or it is damaged (said
        in one line: the next build is then whole)."""
        return load_record(self.record_path, _record_problem)

    def last_tag(self) -> str:
        """The tag of the last build recorded ('' when none)."""
        return str((self._last() or {}).get("tag", ""))

    def remember(self, tag: str, build_args: List[str], depth: int) -> None:
        """Record the build of `tag` that just succeeded (depth 0: a whole build); a
        context that cannot be read as text is not recorded (its next build is whole)."""
        try:
            write_json(self.record_path, {"tag": tag, "depth": depth, **self._now(build_args)})
        except (OSError, ValueError):
            self.record_path.unlink(missing_ok=True)

    def plan(self, build_args: List[str], image_exists) -> Optional[LayeredBuild]:
        """The layered build for the context as it is now, or None (build whole)."""
        last = self._last()
        if last is None:
            return None
        try:
            now = self._now(build_args)
        except (OSError, ValueError):  # a context file that is not UTF-8
            return None
        if last.get("depth", MAX_DEPTH) >= MAX_DEPTH or not image_exists(last.get("tag", "")):
            return None
        if now["dockerfile"] != last["dockerfile"] or now["build_args"] != last["build_args"]:
            return None
        files, before = now["files"], last["files"]
        assert isinstance(files, dict)
        if set(files) != set(before):
            return None
        changed = sorted(rel for rel in files if files[rel] != before[rel])
        added: List[str] = []
        for rel in changed:
            old, new = last["requirements"].get(rel), now["requirements"].get(rel)  # type: ignore
            if old is None or new is None or not set(old) <= set(new):
                return None  # not a requirement file, or a line removed or changed
            added += [line for line in new if line not in old]
        if not changed:
            return None
        gained = f"gained {', '.join(added)}" if added else "changed in comments only"
        dockerfile = self._dockerfile(changed, str(last["tag"]))
        if dockerfile is None:
            return None
        used = set(re.findall(r"^\s*ARG\s+([A-Za-z_]\w*)", dockerfile, re.M))
        return LayeredBuild(
            dockerfile=dockerfile,
            build_args=[a for a in build_args if a.split("=", 1)[0] in used],
            previous=str(last["tag"]),
            notice=(
                f"built over the previous image {last['tag']}: {', '.join(changed)} {gained};"
                " Azure ML builds the Dockerfile whole"
                " (LAYERED_BUILDS=0 does so here)"
            ),
            depth=int(last["depth"]) + 1,
        )

    def _dockerfile(self, changed: List[str], previous: str) -> Optional[str]:
        """FROM previous + the ARGs above the tail + the tail, or None when the tail
        cannot be rerun over the previous image safely."""
        text = (self.context / self.dockerfile).read_text(encoding="utf-8")
        directives, instructions = parse_dockerfile(text)
        if any("escape" in d.lower() for d in directives) or "<<" in text:
            return None
        froms = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
        if len(froms) != 1:
            return None
        start = next(
            (
                i
                for i, ins in enumerate(instructions)
                if i > froms[0] and any(_copies(ins, rel) for rel in changed)
            ),
            None,
        )
        if start is None:
            return None
        tail = instructions[start:]
        for ins in tail:
            if ins.keyword in TAIL_REFUSED:
                return None
            if ins.keyword == "ENV" and "$" in ins.text:
                return None  # e.g. PATH=/x:$PATH would grow on every layered build
        args = [ins.text for ins in instructions[froms[0] + 1 : start] if ins.keyword == "ARG"]
        lines = [*directives, f"FROM {previous}", *args, *(ins.text for ins in tail)]
        return "\n".join(lines) + "\n"
