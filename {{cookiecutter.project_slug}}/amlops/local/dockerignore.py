""".dockerignore read with Docker's own rules, so the image tag (a hash of the build
context) covers exactly the files `docker build` sends.

Docker's rules are not .gitignore's (pathspec's gitwildmatch): a pattern is matched
against the whole path from the context root (`*.csv` is only the root's CSV files;
`**/*.csv` is every folder's), with Go's filepath.Match syntax (`*` and `?` stop at
`/`, `[a-z]`, `\\` escapes) plus `**` for any number of folders; a pattern that
matches a folder excludes everything in it; `!pattern` re-includes, the last match
wins. This is a port of moby/patternmatcher (MatchesOrParentMatches) and of the line
clean-up in moby/buildkit's dockerignore.ReadAll (comments, spaces, a leading `/`,
path.Clean). Using gitignore rules instead would hash files Docker does not send
(needless rebuilds) and, worse, skip files it does send (stale images)."""

import os
import posixpath
import re
from pathlib import Path
from typing import List, Tuple

SPECIAL = set(".+()|{}$^")  # regexp characters with no meaning in filepath.Match


def read_patterns(text: str) -> List[str]:
    """The patterns of a .dockerignore file's text, cleaned as Docker cleans them."""
    patterns = []
    for raw in text.lstrip("\ufeff").splitlines():
        if raw.startswith("#"):
            continue
        line = raw.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = re.sub("^/+", "/", posixpath.normpath(line))  # Go's path.Clean
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append(("!" if invert else "") + line)
    return patterns


def _regex(pattern: str) -> "re.Pattern[str]":
    """Docker's translation of one pattern into an anchored regular expression."""
    out = "^"
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            if pattern[i + 1 : i + 2] == "*":
                i += 1
                if pattern[i + 1 : i + 2] == "/":
                    i += 1  # `**/` is `**`
                out += ".*" if i + 1 >= len(pattern) else "(.*/)?"
            else:
                out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char in SPECIAL:
            out += "\\" + char
        elif char == "\\":
            if i + 1 < len(pattern):
                i += 1
                out += re.escape(pattern[i])
            else:
                out += "\\\\"
        else:
            out += char  # `[`, `]` and letters keep their meaning
        i += 1
    try:
        return re.compile(out + "$")
    except re.error:  # a malformed class: Docker fails the build; match it literally
        return re.compile("^" + re.escape(pattern) + "$")


class DockerIgnore:
    """The rules of one .dockerignore (none when the file is missing)."""

    def __init__(self, patterns: List[str]) -> None:
        self.rules: List[Tuple[bool, "re.Pattern[str]"]] = []
        for pattern in patterns:
            exclusion = pattern.startswith("!")
            self.rules.append((exclusion, _regex(pattern[1:] if exclusion else pattern)))

    @classmethod
    def of(cls, context: Path) -> "DockerIgnore":
        """The rules of `context/.dockerignore` (undecodable bytes are replaced)."""
        path = context / ".dockerignore"
        if not path.is_file():
            return cls([])
        return cls(read_patterns(path.read_text(encoding="utf-8", errors="replace")))

    def excluded(self, rel: str) -> bool:
        """Whether Docker leaves `rel` (a `/`-separated path in the context) out."""
        parents = rel.split("/")[:-1]
        matched = False
        for exclusion, regex in self.rules:
            if exclusion != matched:
                continue  # only a later exclusion can undo a match, and vice versa
            hit = bool(regex.match(rel))
            if not hit:
                hit = any(regex.match("/".join(parents[: n + 1])) for n in range(len(parents)))
            if hit:
                matched = not exclusion
        return matched


def context_files(context: Path) -> List[Path]:
    """The files of a build context that `docker build` sends, sorted; the Dockerfile
    and .dockerignore always (the daemon reads them even when they are excluded).

    Excluded folders are not walked unless a `!` rule could re-include something."""
    rules = DockerIgnore.of(context)
    can_reinclude = any(exclusion for exclusion, _ in rules.rules)
    always = {"Dockerfile", ".dockerignore"}
    found = []
    for folder, dirs, files in os.walk(context):
        base = Path(folder).relative_to(context).as_posix()
        prefix = "" if base == "." else base + "/"
        if not can_reinclude:
            dirs[:] = [d for d in dirs if not rules.excluded(prefix + d)]
        for name in files:
            rel = prefix + name
            if rel in always or not rules.excluded(rel):
                found.append(Path(folder) / name)
    return sorted(found)
