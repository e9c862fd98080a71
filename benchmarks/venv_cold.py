"""A cold venv for the sample experiment: ours (amlops.local.venvs, built by uv) against
`python -m venv` + `pip install -r` of the same requirements file.

Cold means empty caches on both sides: ours builds into a fresh venv folder with a fresh
uv cache inside it; pip runs with PIP_NO_CACHE_DIR. A second figure gives ours with uv's
cache already warm (a second project, or an experiment whose requirements differ): the
packages are hard-linked from the cache. Rounds alternate so noise hits all alike.
pip compiles bytecode while it installs; uv leaves that to the first import (the venv
is the user's, so it happens once).

Baseline: python -m venv + pip install -r. Goal: cold ratio <= 0.2."""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    REPO,
    disk_usage,
    interleaved,
    machine_note,
    report,
    rounds,
    run,
    scratch,
    sized,
)

ROUNDS = rounds(2)
# Our side runs in a fresh interpreter of its own, started as pip's side is (run()).
OURS = """import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from amlops.local.venvs import Requirements, Venv
venv = Venv(Path(sys.argv[2]), Requirements.from_file(Path(sys.argv[3])), sys.executable)
assert venv.prepare(echo=False), "built"
print(venv.path)
"""
TEMPLATE_REQUIREMENTS = (
    REPO
    / "{{cookiecutter.project_slug}}/templates/experiment/{{cookiecutter.exp_name}}/docker"
    / "requirements.txt"
)


def main() -> None:
    print(machine_note())
    work = scratch()
    requirements = work / "requirements.txt"
    full = TEMPLATE_REQUIREMENTS.read_text().replace("{{ cookiecutter.exp_name }}", "train")
    requirements.write_text(sized(full, "six\n"))  # quick mode: one tiny package
    counter = iter(range(1000))
    sizes = {}

    def pip_cold() -> None:
        venv = work / f"pip-{next(counter)}"
        run([sys.executable, "-m", "venv", str(venv)], work)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)]
        run(pip, work, {"PIP_NO_CACHE_DIR": "1"})
        sizes["pip"] = disk_usage(venv)
        shutil.rmtree(venv)

    def ours(cache: Path) -> Path:
        template = REPO / "{{cookiecutter.project_slug}}"
        argv = [sys.executable, "-c", OURS, str(template), str(cache), str(requirements)]
        return Path(run(argv, work).strip().splitlines()[-1])

    def ours_cold() -> None:
        cache = work / f"ours-{next(counter)}"
        sizes["ours"] = disk_usage(ours(cache))
        shutil.rmtree(cache)

    warm_cache = work / "warm"
    warm_venv = ours(warm_cache)  # fills uv's cache once, not timed

    def ours_warm() -> None:
        shutil.rmtree(warm_venv)  # the venv goes, uv's cache beside it stays
        ours(warm_cache)

    figures = interleaved(
        {
            "python -m venv + pip install -r (baseline)": pip_cold,
            "amlops venv (uv), empty uv cache": ours_cold,
            "amlops venv (uv), warm uv cache": ours_warm,
        },
        ROUNDS,
    )
    baseline = "python -m venv + pip install -r (baseline)"
    report(
        f"cold venv for the sample experiment's requirements, {ROUNDS} rounds", figures, baseline
    )
    warm_disk = disk_usage(warm_cache) - disk_usage(warm_cache / ".uv-cache")
    print(
        f"  venv size: pip {sizes['pip'] / 2**20:.0f} MiB, ours {sizes['ours'] / 2**20:.0f} MiB;"
        f" a further venv from the warm cache adds {warm_disk / 2**20:.1f} MiB on disk"
        " (its files are hard links into uv's cache)"
    )
    ratio = figures["amlops venv (uv), empty uv cache"] / figures[baseline]
    print(f"summary: cold ratio {ratio:.2f} (goal <= 0.2)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
