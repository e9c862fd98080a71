"""`make` / `make help` list every target with its description."""

import re

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
    import subprocess

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


def test_make_help_names_every_option_the_readme_gives_a_target(baked):
    """A target's options in make help (what a user reads first) include each one the
    README's command table names for it (LOCAL_IMAGE was missing from pipeline-local's,
    COMPUTE from job's, ENDPOINT from publish's)."""
    makefile = (baked.path / "Makefile").read_text()
    helped = {
        m.group(1): set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", m.group(2)))
        for m in re.finditer(r"^([a-z][\w-]*):.*?## (.*)$", makefile, flags=re.MULTILINE)
    }
    readme = (baked.path / "README.md").read_text()
    rows = re.findall(r"^\| `make ([a-z][\w-]*)[^`]*` \| (.*)\|\s*$", readme, re.MULTILINE)
    assert len(rows) > 20
    missing = {}
    for target, text in rows:
        told = set(re.findall(r"`([A-Z][A-Z0-9_]+)=", text))
        if target in helped and told - helped[target]:
            missing[target] = sorted(told - helped[target])
    assert not missing, f"make help omits options the README names: {missing}"
    assert "LOCAL_IMAGE" in helped["pipeline-local"] and "LOCAL_IMAGE" in helped["local"]
