"""`make validate`: every job file (job.yaml, and other job files of an experiment
such as a sweep.yaml), pipeline file and endpoint folder (endpoints/<name>/), checked
offline, then (when a workspace and a login are available) against the workspace.

Offline: our own checks (undeclared `${{inputs.x}}`, bindings, names, missing
local data), the SDK's load_job and validation of each job.yaml, and of each
pipeline as the native pipeline job `make pipeline` would submit; each endpoint folder
read by amlops/spec/endpoints.py, then its files as `make deploy` writes them loaded with
load_online_endpoint / load_online_deployment (or the batch loaders). Online: the
computes, data assets and environments the jobs name exist. Every problem is
listed (file:line: message); the exit code is 2 when there is any.

A job file whose written fields all reach the sent job unchanged (only the paths amlops
rewrites, the command's line breaks and added tags differ) is loaded by the SDK once,
as sent; the file as written is loaded too when it differs otherwise, and to name the
user's own lines when the SDK rejects what would be sent. The sent job is handed to the
SDK as the data `make job DRY_RUN=1` writes (its code and environment staged beside it,
as there), so it is not written and parsed again; only when the SDK does not pass it is
the file written and loaded, so every message is the one the written file gets.

The offline result of each unit (a job file, a pipeline, an endpoint folder, a folder's
other Azure ML files) is kept in .runs/.cache/validate/ and reused while nothing it
reads has changed (amlops/cloud/validate_cache.py says what its key covers); azure-ai-ml
is loaded only when a unit has to be checked again or the workspace is checked.
`force` (FORCE=1) checks every unit again."""

import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from amlops.cloud import pipeline_jobs
from amlops.cloud.packages import backend
from amlops.cloud.sdk import load_native, passes_as_job, require_sdk
from amlops.cloud.submission import Submission
from amlops.cloud.sweep import native_job, source_raw
from amlops.cloud.validate_cache import Key, Uncacheable, ValidateCache
from amlops.cloud.workspace import connect, find_workspace
from amlops.console import lines_through, say
from amlops.errors import UserError, problems_of
from amlops.filekinds import kind_of, kind_of_document, yaml_files
from amlops.project import Project, job_file_in
from amlops.spec.endpoints import endpoint_names
from amlops.spec.job import load_experiment, other_job_files
from amlops.spec.pipeline_loader import load_pipeline
from amlops.spec.references import workspace_asset
from amlops.yamlfile import dump_yaml, load_yaml, plain

NO_TAGS: Dict[str, str] = {}
PREFIX = "amlops: "  # what say() puts before each line


@dataclass
class Report:
    """Problems found, and the workspace references to check (kind, name, version) -> users."""

    problems: List[str] = field(default_factory=list)
    references: Dict[Tuple[str, str, str], Set[str]] = field(default_factory=dict)
    messages: List[str] = field(default_factory=list)

    def say(self, message: str) -> None:
        """Print one progress line now (_Units keeps every line a unit prints)."""
        say(message)

    def add(self, other: "Report") -> None:
        """Take in the problems and references of `other` (its lines were printed)."""
        self.problems += other.problems
        for key, users in other.references.items():
            self.references.setdefault(key, set()).update(users)

    def note_references(self, native_job: Dict[str, Any], shown: str) -> None:
        for kind, ref in _references(native_job):
            match = workspace_asset(ref)
            if match:
                key = (kind, match.name, match.version_or_label)
                self.references.setdefault(key, set()).add(shown)


def _references(node: Any, key: str = "") -> Iterator[Tuple[str, str]]:
    """(compute|environment|data, azureml:... reference) anywhere in a native job."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _references(v, str(k))
        if isinstance(node.get("path"), str) and "type" in node:
            yield "data", node["path"]
    elif isinstance(node, str):
        if key in ("compute", "default_compute"):
            yield "compute", node
        elif key == "environment":
            yield "environment", node


def _check(report: Report, check: Callable[[], Any]) -> Any:
    """check(), or None with its problems recorded."""
    try:
        return check()
    except UserError as err:
        report.problems.extend(problems_of(err))
        return None


def _sdk_check(report: Report, sdk: bool, check: Callable[[], Any]) -> bool:
    """The SDK's own validation (when azure-ai-ml is the backend; loaded on first use,
    UserError when it is not installed); False on problems."""
    if not sdk:
        return True
    if "azure.ai.ml" not in sys.modules:  # the first check that needs it
        require_sdk("validate", identity=False)
    return _check(report, check) is not None


# Keys whose string values amlops rewrites in what it sends (staged code, environment
# build contexts, local data paths relative to the sent file); `command`'s line breaks
# are folded; `tags` gets amlops' own tags added.
REWRITTEN = {"code", "path", "conda_file"}


def _covered(written: Any, sent: Any, key: str = "") -> bool:
    """Whether every field of the job file as written reaches the sent job with the same
    value, but for REWRITTEN paths (still strings) and the command's whitespace: then
    the SDK's load of the sent job checks every field the written one would."""
    if isinstance(written, dict):
        return isinstance(sent, dict) and all(
            k in sent and _covered(v, sent[k], str(k)) for k, v in written.items()
        )
    if isinstance(written, list):
        return (
            isinstance(sent, list)
            and len(written) == len(sent)
            and all(_covered(w, s, key) for w, s in zip(written, sent))
        )
    if key in REWRITTEN:
        return isinstance(written, str) and isinstance(sent, str)
    if key == "command" and isinstance(written, str) and isinstance(sent, str):
        return written.split() == sent.split()
    return type(written) is type(sent) and written == sent


def _validate_job(
    project: Project,
    report: Report,
    scratch: Path,
    experiment: str,
    sdk: bool,
    job_file: str = "",
    kinds: Optional[Dict[str, str]] = None,
) -> None:
    """The job file (our checks, the SDK's with its line numbers), then exactly the job
    `make job DRY_RUN=1` writes, loaded back with the SDK. `job_file`: another job file
    of the experiment than job.yaml (a sweep.yaml). `kinds` gets the file's kind
    (amlops.filekinds) by resolved path, so the folder's asset pass need not read it again."""
    spec = _check(report, lambda: load_experiment(project, experiment, job_file))
    if spec is None:
        return
    shown = spec.shown_as
    _note_unknown_curated(project, report, spec.environment)
    raw = source_raw(spec)
    if kinds is not None:
        kinds[str(spec.file.resolve())] = kind_of_document(raw)

    def as_written() -> Any:
        return load_native(spec.file, shown, raw)

    if spec.parallel is not None:  # submitted only as a pipeline node (make job refuses it)
        if _sdk_check(report, sdk, as_written):
            report.say(f"ok {shown} (a parallel job: runs locally, in Azure ML as a pipeline node)")
        return
    folder = scratch / "jobs" / experiment / (job_file or "job")
    # only read back by the SDK, which follows links as it follows copies (it checks that
    # paths exist, reads conda files); a job sends no additional_includes, the one SDK
    # check that tells a link from a copy
    sub = Submission(project, "jobs", experiment, folder=folder, link=True)
    ours = Report()
    # staged, not yet written: as_sent writes it only when the SDK does not pass it
    built = _check(
        ours, lambda: sub.build(lambda: native_job(project, spec, sub, {}, NO_TAGS), write=False)
    )
    if built is None:  # ours, then the SDK's on the lines ours did not name
        theirs = Report()
        _sdk_check(theirs, sdk, as_written)
        report.problems += _beside(ours.problems, theirs.problems)
        return
    written_checked = not _covered(plain(raw), built)
    if written_checked and not _sdk_check(report, sdk, as_written):
        return

    def as_sent() -> Any:
        """The sent job as `make job DRY_RUN=1` writes it, loaded by the SDK: from the
        data itself when it passes cleanly (the same load, no YAML written and parsed
        again), else from the written file, so problems name its lines as always."""
        if passes_as_job(built, sub.job_file):
            return True
        sub.write(built)
        return load_native(sub.job_file, f"{shown} (as make job sends it)")

    sent = Report()
    if _sdk_check(sent, sdk, as_sent):
        report.note_references(built, shown)
        report.say(f"ok {shown}")
    elif written_checked or _sdk_check(report, sdk, as_written):
        report.problems += sent.problems  # else: the file's own lines were reported


def _note_unknown_curated(project: Project, report: Report, env: Any) -> None:
    """A note (not a problem) for a curated environment amlops has no package list for
    when a known one is close (local/curated.py did_you_mean): most likely misspelt, which
    neither the SDK's offline checks nor amlops' catch and Azure ML refuses when the job
    is sent. Not a problem: Microsoft adds curated environments after amlops' lists."""
    if env.kind != "curated":
        return
    from amlops.local.curated import curated_name, did_you_mean, known_names

    name = curated_name(env.name, env.image)
    hint = did_you_mean(env.reference or env.image, name, known_names(project))
    if hint:
        report.say(
            f"note {env.where}: {env.reference or env.image} is no curated environment amlops"
            f" knows{hint}; Azure ML refuses a name it does not have when the job is sent"
        )


AT_LINE = re.compile(r"^(.+?:\d+): ")  # "file:line: " of a problem


def _beside(ours: List[str], theirs: List[str]) -> List[str]:
    """Our problems, then the SDK's on lines ours do not name: on one line both say the
    same fault, ours in one line naming the fix (a missing `code:` folder: ours says
    it does not exist, the SDK that it is none of the forms `code:` takes)."""

    def at(problem: str) -> str:
        match = AT_LINE.match(problem)
        return match.group(1) if match else ""

    named = {at(problem) for problem in ours} - {""}
    return ours + [problem for problem in theirs if at(problem) not in named]


def _validate_pipeline(
    project: Project, report: Report, scratch: Path, name: str, sdk: bool
) -> None:
    shown = project.relative(project.pipeline_file(name))
    spec = _check(report, lambda: load_pipeline(project, name))
    if spec is None:
        return
    sub = Submission(project, "pipelines", name, folder=scratch / "pipelines" / name)
    built = _check(report, lambda: pipeline_jobs.pipeline_job(project, spec, sub, {}, NO_TAGS))
    if built is None:
        return
    path = sub.write(built)
    if _sdk_check(report, sdk, lambda: load_native(path, f"{shown} (as a pipeline job)")):
        report.note_references(built, shown)
        report.say(f"ok {shown}")


def _validate_endpoint(
    project: Project, report: Report, scratch: Path, name: str, sdk: bool
) -> None:
    """endpoints/<name>/: the folder reader's checks (amlops/spec/endpoints.py), then
    exactly the files `make deploy DRY_RUN=1` writes, loaded with the SDK's endpoint and
    deployment loaders."""
    from amlops.cloud.endpoints import load_written, write_deploy
    from amlops.spec.endpoints import load_endpoint

    spec = _check(report, lambda: load_endpoint(project, name))
    if spec is None:
        return
    deployments = list(spec.deployments.values())
    folder = scratch / "endpoints" / name
    written = _check(
        report, lambda: write_deploy(project, spec, deployments, None, folder, quiet=True)
    )
    if written is None:
        return
    for deployment in deployments:
        _stand_in_for_missing_model(
            project, report, deployment, written.deployments[deployment.name]
        )
    if _sdk_check(report, sdk, lambda: load_written(project, spec, written)):
        for deployment in deployments:
            report.note_references(deployment.raw, deployment.shown)
        report.say(f"ok {project.relative(spec.folder)} ({len(deployments)} deployment(s))")


def _stand_in_for_missing_model(
    project: Project, report: Report, deployment: Any, written: Path
) -> None:
    """A local model path that does not exist yet (a run's output before the first
    training, as in the baked sample) is not a problem for validate (make deploy refuses
    it): the written file points at an empty stand-in folder of the same name, so the
    SDK checks every other field; one line says so."""
    model = deployment.model
    if model is None or model.kind != "path" or model.path is None or model.path.exists():
        return
    stand_in = written.parent / "missing-models" / deployment.name / model.path.name
    stand_in.mkdir(parents=True, exist_ok=True)
    document = plain(load_yaml(written, str(written)))
    relative = os.path.relpath(stand_in, written.parent)
    if isinstance(document.get("model"), dict):
        document["model"]["path"] = relative
    else:
        document["model"] = relative
    dump_yaml(written, document)
    report.say(
        f"note {deployment.shown}:{model.line}: model path {project.relative(model.path)}"
        " does not exist yet (train first); the other fields are checked"
    )


# The SDK loader of each other file kind (amlops.filekinds) that validate checks as what
# it is: the loader `az ml <kind> create -f` uses (azure.ai.ml load_* functions).
ASSET_LOADERS = {
    "command_component": "load_component",
    "parallel_component": "load_component",
    "spark_component": "load_component",
    "pipeline_component": "load_component",
    "environment": "load_environment",
    "data": "load_data",
    "model": "load_model",
    "schedule": "load_schedule",
}


def _validate_assets(
    project: Project,
    report: Report,
    folder: Path,
    sdk: bool,
    kinds: Optional[Dict[str, str]] = None,
) -> None:
    """The component, environment, data, model and schedule files of `folder`, each
    loaded with its own SDK loader (a conda file or another tool's YAML is left alone)."""
    if not sdk:
        return
    for path in yaml_files(folder):
        shown = project.relative(path)
        kind = (kinds or {}).get(str(path.resolve())) or kind_of(path, shown)
        loader = ASSET_LOADERS.get(kind)
        if loader is None:
            continue
        raw = _check(report, lambda: load_yaml(path, shown))
        if raw is not None and _sdk_check(
            report, sdk, lambda: load_native(path, shown, raw, loader)
        ):
            report.say(f"ok {shown} ({kind.replace('_', ' ')})")


class _Units:
    """Runs each unit of validate once, or replays its kept result (see validate_cache)."""

    def __init__(self, report: Report, cache: Optional[ValidateCache]) -> None:
        self.report, self.cache = report, cache

    def run(self, unit: str, keyed: Callable[[Key], None], check: Callable[[Report], None]) -> None:
        """check(a Report of its own) unless `unit` has a result under the key `keyed`
        builds; its problems and references join the report either way."""
        cache = self.cache
        digest = cache.key(unit, keyed) if cache is not None else None
        stored = cache.get(unit, digest) if cache is not None else None
        if stored is not None:
            for message in stored["messages"]:
                say(message)
            self.report.problems += stored["problems"]
            for kind, name, version, users in stored["references"]:
                self.report.references.setdefault((kind, name, version), set()).update(users)
            cache.reused += 1
            return
        own = Report()

        def keep(line: str) -> None:  # every line the check prints, lower layers' too
            own.messages.append(line[len(PREFIX) :] if line.startswith(PREFIX) else line)
            print(line, file=sys.stderr, flush=True)

        with lines_through(keep):
            check(own)
        self.report.add(own)
        if cache is not None:
            cache.checked += 1
            references = [[*key, sorted(users)] for key, users in sorted(own.references.items())]
            result = {"messages": own.messages, "problems": own.problems, "references": references}
            cache.put(unit, digest, result)


def _read_by_staging(key: Key, project: Project) -> None:
    """What staging a code snapshot may read besides the code folder itself."""
    key.path(project.common)
    key.path(project.src, recursive=False)
    key.path(project.root / ".amlignore")


def _job_key(project: Project, path: Path) -> Callable[[Key], None]:
    def keyed(key: Key) -> None:
        key.path(path.parent)  # the experiment: its files, docker/, conda files
        _read_by_staging(key, project)
        key.yaml_references(path, code_root=project.src)  # code: .. stages src/<exp> only

    return keyed


def _folder_key(
    project: Project, folder: Path, code_root: Optional[Path] = None
) -> Callable[[Key], None]:
    """`code_root`: see Key.yaml_references (src/ for an experiment's folder, whose
    `code: ..` stages src/<exp> and src/common only)."""

    def keyed(key: Key) -> None:
        key.path(folder)
        _read_by_staging(key, project)
        for path in sorted(folder.glob("*.y*ml")):
            key.yaml_references(path, code_root=code_root)

    return keyed


def _pipeline_key(project: Project, name: str) -> Callable[[Key], None]:
    def keyed(key: Key) -> None:
        path = project.pipeline_file(name)
        if path.suffix == ".py":
            raise Uncacheable("a pipeline written in Python runs user code")
        key.path(project.pipelines_dir)
        key.path(project.src)  # shorthand steps are experiments; code of every node
        key.path(project.root / ".amlignore")
        key.yaml_references(path)

    return keyed


def validate_offline(
    project: Project, report: Report, sdk: bool = True, cache: Optional[ValidateCache] = None
) -> None:
    """Our checks plus (with `sdk`) the SDK's, for every experiment, pipeline and
    endpoint folder, and every other Azure ML file beside them as what it is
    (amlops.filekinds); with `cache`, a unit whose inputs are unchanged since it was
    last checked is not checked again (its result is replayed)."""
    units = _Units(report, cache)
    kinds: Dict[str, str] = {}  # the kind of each job file read, by resolved path
    with tempfile.TemporaryDirectory(prefix="amlops-validate-") as folder:
        scratch = Path(folder)
        for experiment in project.experiments():
            where = project.src / experiment
            path = job_file_in(where)
            if path is not None:  # else all are "others"
                units.run(
                    f"job {experiment}",
                    _job_key(project, path),
                    lambda r: _validate_job(project, r, scratch, experiment, sdk, "", kinds),
                )
            for job_file in other_job_files(project, experiment):
                units.run(
                    f"job {experiment} {job_file}",
                    _job_key(project, where / job_file),
                    lambda r: _validate_job(project, r, scratch, experiment, sdk, job_file, kinds),
                )
            units.run(
                f"assets {project.relative(where)}",
                _folder_key(project, where, code_root=project.src),
                lambda r: _validate_assets(project, r, where, sdk, kinds),
            )
        for name in project.pipelines():
            units.run(
                f"pipeline {name}",
                _pipeline_key(project, name),
                lambda r: _validate_pipeline(project, r, scratch, name, sdk),
            )
        for where in project.pipeline_folders():
            units.run(
                f"assets {project.relative(where)}",
                _folder_key(project, where),
                lambda r: _validate_assets(project, r, where, sdk),
            )
        for name in endpoint_names(project):
            units.run(
                f"endpoint {name}",
                _folder_key(project, project.root / "endpoints" / name),
                lambda r: _validate_endpoint(project, r, scratch, name, sdk),
            )


def _exists(client: Any, kind: str, name: str, version: str) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        if kind == "compute":
            client.compute.get(name)
            return True
        operations = client.data if kind == "data" else client.environments
        if version and version != "latest":
            operations.get(name, version=version)
        else:
            operations.get(name, label="latest")
    except ResourceNotFoundError:
        return False
    return True


def validate_online(project: Project, report: Report, client: Any, workspace: str) -> None:
    """Every compute, data asset and environment named exists in the workspace."""
    from amlops.cloud.sdk import azure_errors

    for (kind, name, version), users in sorted(report.references.items()):
        label = f"{name}:{version}" if version else name
        with azure_errors(f"make validate: looking up {kind} {label}"):
            found = _exists(client, kind, name, version)
        if not found:
            for shown in sorted(users):
                report.problems.append(
                    f"{shown}: {kind} {label!r} does not exist in workspace {workspace}"
                )
    say(f"checked {len(report.references)} compute/data/environment references in {workspace}")


def run_validate(project: Project, offline: bool, force: bool = False) -> int:
    """Validate everything; print every problem; 0 when there is none. `force`: check
    every unit again instead of reusing a kept result (the new results are kept).

    Raises UserError (exit code 2) naming the number of problems, or when azure-ai-ml is
    needed (a unit to check, or the workspace checks) and not installed."""
    v2 = backend(project) == "v2"
    if not v2:
        say("AML_SDK=v1: our checks only (the SDK v2 schema checks need azure-ai-ml)")
    report = Report()
    cache = ValidateCache(project, sdk=v2, enabled=not force)
    validate_offline(project, report, sdk=v2, cache=cache)
    cache.save()
    if cache.reused:
        say(
            f"{cache.reused} of {cache.reused + cache.checked} checks reused: nothing they"
            " read changed since they ran (.runs/.cache/validate; FORCE=1 runs them again)"
        )
    if offline or not v2:
        say("workspace checks skipped" + (" (OFFLINE=1)" if offline else " (AML_SDK=v1)"))
    else:
        try:
            workspace = find_workspace(project)
        except UserError as err:
            say(f"workspace checks skipped: {err}")
        else:
            require_sdk("validate")  # the workspace checks always load the SDK
            try:
                client = connect(project, workspace)
            except UserError as err:
                say(f"workspace checks skipped: {err}")
            else:
                validate_online(project, report, client, workspace.name)
    problems = list(dict.fromkeys(report.problems))  # the SDK may say one thing twice
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        raise UserError(f"validate: {len(problems)} problem(s)")
    say("validate: no problems")
    return 0
