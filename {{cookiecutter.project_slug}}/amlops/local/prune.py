"""`make prune`: free the disk space held by old run folders, venvs and images.

Keeps the newest KEEP runs of every experiment, pipeline, notebook set and Azure
submission, every run whose outputs a kept pipeline run reuses, and anything
still running. Also offers venvs under .runs/.venvs that no experiment's
requirements match and images this project built that are no longer current.
Lists what it would remove; removes only with YES=1."""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from amlops.console import say
from amlops.errors import UserError
from amlops.local.images import DockerUnavailable, check_engine, image_exists, image_name
from amlops.local.runtimes.docker import DockerRuntime
from amlops.local.runtimes.venv import VenvRuntime
from amlops.local.venvs import STAMP_SUFFIX
from amlops.project import Project
from amlops.runs import (
    PIPELINE_FILE,
    RUN_ID,
    current_status,
    load_record,
    read_pipeline_record,
    read_record,
    reuse_problem,
)
from amlops.spec.job import JobSpec, load_experiment


@dataclass
class Removable:
    """One thing prune would remove: shown as `what`, `size` bytes (at most)."""

    what: str
    size: int
    remove: Callable[[], None]
    run: Optional[Path] = None  # a run folder: its reuse records go with it


# What endpoint deployments use: (their job views, the names of their venvs).
InUse = Optional[Tuple[List[JobSpec], Set[str]]]


def parse_keep(text: str) -> int:
    if not text.isdigit():
        raise UserError(f"KEEP={text!r}: use a whole number (runs kept per experiment)")
    return int(text)


def _size(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def _human(size: float) -> str:
    unit = "B"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            break
        size /= 1024
    return f"{size:.0f} B" if unit == "B" else f"{size:.1f} {unit}"


def run_collections(folder: Path) -> Iterator[List[Path]]:
    """Folders of run folders (`.runs/train/`, `.runs/pipelines/x/`, ...), oldest first."""
    children = sorted(
        p
        for p in folder.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")  # not `latest`
    )
    runs = [p for p in children if RUN_ID.match(p.name)]
    if runs:
        # Names resolve seconds only; the record's start time orders runs within one.
        yield sorted(runs, key=lambda p: (p.name[:15], _record(p).get("started") or 0))
    for child in children:
        if not RUN_ID.match(child.name):
            yield from run_collections(child)


def _record(run: Path) -> Dict[str, Any]:
    """pipeline.json of a pipeline run, else its run.json; {} when neither is readable."""
    if (run / PIPELINE_FILE).is_file():
        return read_pipeline_record(run) or {}  # a damaged one is said, and read as {}
    return read_record(run)


def _reused_runs(project: Project, kept: List[Path]) -> Set[Path]:
    """Run folders whose outputs the kept pipeline runs use in place of a step."""
    used = set()
    for run in kept:
        for step in (_record(run).get("steps") or {}).values():
            if step.get("reused_from"):
                used.add((project.root / step["reused_from"]).parent.resolve())
    return used


def stale_runs(project: Project, keep: int) -> List[Path]:
    """Run folders beyond the newest `keep` of their kind, neither reused nor running."""
    if not project.runs.is_dir():
        return []
    collections = list(run_collections(project.runs))
    kept = [run for runs in collections for run in (runs[-keep:] if keep else [])]
    protected = _reused_runs(project, kept)
    stale = []
    for runs in collections:
        for run in runs[: max(len(runs) - keep, 0)]:
            if run.resolve() in protected or current_status(_record(run)) == "running":
                continue
            stale.append(run)
    return stale


def _forget_reuse(project: Project, removed: List[Path]) -> None:
    """Drop reuse records that point into removed run folders."""
    gone = {run.resolve() for run in removed}
    for entry in (project.runs / ".reuse").glob("*.json"):
        record = load_record(entry, reuse_problem)
        step_dir = (record or {}).get("step_dir")
        if step_dir and (project.root / step_dir).resolve().parent in gone:
            entry.unlink()


def _jobs(project: Project) -> List[JobSpec]:
    """Every job whose environment is in use: each experiment's job files (job.yaml and
    the ones JOB= picks, e.g. sweep.yaml) and each pipeline's steps. A file that does not
    load keeps nothing from pruning but its own environments."""
    from amlops.spec.job import other_job_files
    from amlops.spec.pipeline_loader import load_pipeline

    jobs: List[JobSpec] = []
    for experiment in project.experiments():
        for job_file in ["", *other_job_files(project, experiment)]:
            try:
                jobs.append(load_experiment(project, experiment, job_file))
            except UserError:
                continue
    try:
        pipelines = project.pipelines()
    except UserError:  # one name as .yaml and .yml: validate says so
        pipelines = []
    for name in pipelines:
        try:
            spec = load_pipeline(project, name)
        except UserError:
            continue
        jobs += [step.job for step in spec.steps.values() if step.job is not None]
    return jobs


def _safely(make: Callable[[], Any]) -> Optional[Any]:
    """`make()`, or None when the job's environment cannot be worked out (UserError)."""
    try:
        return make()
    except UserError:
        return None


def stale_venvs(project: Project, serving: Optional[Set[str]] = None) -> List[Path]:
    """Venvs in .runs/.venvs that no current experiment's requirements key to (their
    names are py<major><minor>-<requirements key>; older amlops named them by a bare hash).
    uv's cache there (.uv-cache) is kept: current venvs are hard links into it.

    `serving`: names of the venvs endpoint deployments use (serving.servers
    .environments_in_use, which the CLI hands in: local/ does not import serving/).
    A shared VENV_DIR is left alone: other projects may use its venvs."""
    if project.settings.get("VENV_DIR"):
        return []
    root = project.runs / ".venvs"
    if not root.is_dir():
        return []
    venvs = [_safely(lambda spec=spec: VenvRuntime(project, spec)) for spec in _jobs(project)]
    current = {venv.path.name for venv in venvs if venv is not None} | (serving or set())
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in current
    )


def stale_images(
    project: Project, serving: Optional[List[JobSpec]] = None
) -> List[Tuple[str, Path]]:
    """(tag, build log) of images this project built (it keeps a log per build in
    .runs/.builds/) that are not an experiment's current tag or derived from it.

    Images of another clone with the same project slug are not this project's to
    remove, hence the build logs rather than the repository names."""
    builds = project.runs / ".builds"
    if not builds.is_dir():
        return []
    try:
        check_engine()
    except DockerUnavailable:
        return []
    stale = []
    current: Dict[str, Set[str]] = {}  # image repository -> digests in use
    for spec in _jobs(project) + (serving or []):
        docker = _safely(lambda spec=spec: DockerRuntime(project, spec))
        if docker is not None:
            repo = image_name(project.slug, spec.experiment)
            current.setdefault(repo, set()).add(docker.local_digest)
    for repo, digests in current.items():
        built = re.compile(rf"^{re.escape(repo)}-([0-9a-f]{{12}}(?:-[a-z0-9_.-]+)?)\.log$")
        for log in sorted(builds.glob(f"{repo}-*.log")):
            match = built.match(log.name)
            if not match or match.group(1).split("-")[0] in digests:
                continue
            tag = f"{repo}:{match.group(1)}"
            if image_exists(tag):
                stale.append((tag, log))
    return stale


def _image_size(tag: str) -> int:
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", tag], capture_output=True, text=True
    )
    return int(done.stdout.strip() or 0) if done.returncode == 0 else 0


def _remove_image(tag: str, log: Path) -> None:
    done = subprocess.run(["docker", "image", "rm", tag], capture_output=True, text=True)
    if done.returncode:
        say(f"kept image {tag}: {done.stderr.strip().splitlines()[-1]}")
    else:
        log.unlink(missing_ok=True)


def _remove_venv(venv: Path) -> None:
    shutil.rmtree(venv)
    for beside in (".log", ".lock", STAMP_SUFFIX):
        venv.with_name(venv.name + beside).unlink(missing_ok=True)


def removables(project: Project, keep: int, serving: InUse = None) -> List[Removable]:
    """Everything prune would remove, in the order it is shown; `serving`: what endpoint
    deployments use (their job views, their venv names), kept."""
    serving_jobs, serving_venvs = serving or ([], set())
    found = [
        Removable(project.relative(run), _size(run), partial(shutil.rmtree, run), run)
        for run in stale_runs(project, keep)
    ]
    found += [
        Removable(project.relative(venv), _size(venv), partial(_remove_venv, venv))
        for venv in stale_venvs(project, serving_venvs)
    ]
    found += [
        Removable(f"image {tag}", _image_size(tag), partial(_remove_image, tag, log))
        for tag, log in stale_images(project, serving_jobs)
    ]
    return found


def prune(project: Project, keep: int, yes: bool, serving: InUse = None) -> int:
    """List (or, with `yes`, remove) what old runs, venvs and images hold; what endpoint
    deployments use (`serving`) is kept."""
    found = removables(project, keep, serving)
    say(
        f"prune: keeping the newest {keep} runs of each experiment, pipeline and submission,"
        " the runs those reuse, running runs, and the venvs and images experiments and"
        " endpoints use now"
    )
    if not found:
        say("prune: nothing to remove")
        return 0
    width = max(len(item.what) for item in found)
    failed = []
    for item in found:
        action = "remove" if yes else "would remove"
        print(f"  {action}  {item.what.ljust(width)}  {_human(item.size)}", flush=True)
        if yes:
            try:
                item.remove()
            except OSError as err:  # e.g. files a container wrote as another user
                failed.append(f"{item.what} ({err.strerror}: {err.filename})")
    total = _human(sum(item.size for item in found))
    if not yes:
        say(f"prune: {len(found)} items, up to {total}; `make prune YES=1` removes them")
        return 0
    _forget_reuse(project, [item.run for item in found if item.run])
    if failed:
        raise UserError(f"prune could not remove {len(failed)} item(s): {'; '.join(failed)}")
    say(f"prune: removed {len(found)} items, up to {total}")
    return 0
