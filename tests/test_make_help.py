"""`make` / `make help` list every target with its description."""

import json
import re
import subprocess
import sys

from tests.helpers import REPO


def makefile_targets(text: str) -> set:
    return {m.group(1) for m in re.finditer(r"^([a-z][a-z0-9_-]*):", text, flags=re.MULTILINE)}


def test_make_and_make_help_list_every_target(baked):
    targets = makefile_targets((baked.path / "Makefile").read_text())
    assert {
        "help",
        "new-exp",
        "build-exp",
        "local",
        "terminal",
        "jupyter",
        "lint",
        "test",
    } <= targets
    plain = baked.make()
    helped = baked.make("help")
    assert plain.returncode == 0 and helped.returncode == 0
    assert plain.stdout == helped.stdout
    listed = {}
    for line in helped.stdout.splitlines()[1:]:
        if line.strip():
            name, _, text = line.strip().partition(" ")
            listed[name] = text.strip()
    assert set(listed) == targets
    assert all(listed.values()), "every target needs a one-line description"


def test_baked_readme_names_every_target(baked):
    readme = (baked.path / "README.md").read_text()
    for target in makefile_targets((baked.path / "Makefile").read_text()):
        assert f"make {target}" in readme, f"README does not document make {target}"


def test_template_repo_help_lists_its_targets():
    result = subprocess.run(["make", "-C", str(REPO), "help"], capture_output=True, text=True)
    assert result.returncode == 0
    for target in ("demo", "test", "lint", "format", "bench"):
        assert f"  {target} " in result.stdout
    # make demo's variables (a new user did not find RUNTIME=venv), and the README's word
    # for forcing the venv where Docker works
    demo = next(line for line in result.stdout.splitlines() if line.startswith("  demo "))
    for variable in ("DEMO_DIR=", "DEMO_BASE_IMAGE=", "DEMO_DOCKER_BUILD_ARGS=", "RUNTIME="):
        assert variable in demo, f"make help's demo line omits {variable}"
    assert "make demo RUNTIME=venv" in (REPO / "README.md").read_text()


def _make_help_options(makefile: str) -> dict:
    """target -> the VAR= its make help line names (an example command in the text, such
    as register-model's `make serve MODEL=...`, names no option of the target)."""
    helped = {}
    for m in re.finditer(r"^([a-z][\w-]*):.*?## (.*)$", makefile, flags=re.MULTILINE):
        text = re.sub(r"make [a-z-]+ [A-Z][A-Z0-9_]*=\S+", "", m.group(2))
        helped[m.group(1)] = set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", text))
    return helped


def test_make_help_names_every_option_the_readme_gives_a_target(baked):
    """A target's options in make help (what a user reads first) include each one the
    README's command table names for it (LOCAL_IMAGE was missing from pipeline-local's,
    COMPUTE from job's, ENDPOINT from publish's, PIPELINE and INPUTS from step's), and
    the table names (`X=...`, or `X` alone) each one make help lists."""
    helped = _make_help_options((baked.path / "Makefile").read_text())
    readme = (baked.path / "README.md").read_text()
    rows = re.findall(r"^\| `make ([a-z][\w-]*)([^`]*)` \| (.*)\|\s*$", readme, re.MULTILINE)
    assert len(rows) > 20
    given: dict = {}  # target -> the X=... its rows give
    named: dict = {}  # target -> those and the bare `X` its rows name
    for target, head, text in rows:
        spans = [head] + [s for s in re.findall(r"`([^`]*)`", text) if not s.startswith("make ")]
        for span in spans:
            given.setdefault(target, set()).update(re.findall(r"\b([A-Z][A-Z0-9_]+)=", span))
            named.setdefault(target, set()).update(re.findall(r"^([A-Z][A-Z0-9_]+)$", span))
    missing = {
        target: sorted(options - helped[target])
        for target, options in given.items()
        if target in helped and options - helped[target]
    }
    assert not missing, f"make help omits options the README names: {missing}"
    untold = {
        target: sorted(options - given.get(target, set()) - named.get(target, set()))
        for target, options in helped.items()
        if options - given.get(target, set()) - named.get(target, set())
    }
    assert not untold, f"the README's command table omits options make help names: {untold}"
    assert "LOCAL_IMAGE" in helped["pipeline-local"] and "LOCAL_IMAGE" in helped["local"]
    assert {"INPUTS", "PIPELINE"} <= helped["step"] and "INPUTS" in helped["notebook-job"]


# What `python -m amlops <command> --help` names: an option's setting as "(KEY" in its
# help, and the settings it reads without an option in the epilog, as "KEY=".
AMLOPS_HELP = """
import json, re, sys
from amlops.cli import build_parser
from amlops.project import Project

project = Project.find()
named = {}
for command in sys.argv[1:]:
    parser = build_parser(project, [command])
    sub = parser._subparsers._group_actions[0].choices[command]
    keys = set(re.findall(r"\\b([A-Z][A-Z0-9_]+)=", sub.epilog or ""))
    for action in sub._actions:
        keys.update(re.findall(r"\\(([A-Z][A-Z0-9_]+)\\b", action.help or ""))
    named[command] = sorted(keys)
print(json.dumps(named))
"""


def test_make_help_and_amlops_help_name_the_same_settings(baked):
    """Each target's make help names the settings its `python -m amlops <command>`
    takes (step's PIPELINE and INPUTS, notebook-job's INPUTS were missing), and that
    command's --help names each one make help lists (local's LOCAL_IMAGE and TRACKING
    were missing): without make (Windows) --help is the reference."""
    makefile = (baked.path / "Makefile").read_text()
    helped = _make_help_options(makefile)
    commands = dict(
        re.findall(r"^([a-z][\w-]*):.*##.*\n\t@\$\(AMLOPS\) ([\w-]+)$", makefile, re.MULTILINE)
    )
    assert {"local", "step", "notebook-job", "pipeline-local"} <= set(commands)
    result = subprocess.run(
        [sys.executable, "-c", AMLOPS_HELP, *commands.values()],
        cwd=baked.path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    in_cli = {name: set(keys) for name, keys in json.loads(result.stdout).items()}
    assert {"LOCAL_IMAGE", "TRACKING"} <= in_cli["local"]
    differ = {
        target: {
            "make help only": sorted(helped[target] - in_cli[command]),
            "--help only": sorted(in_cli[command] - helped[target]),
        }
        for target, command in commands.items()
        if helped[target] != in_cli[command]
    }
    assert not differ, f"make help and python -m amlops <command> --help differ: {differ}"
