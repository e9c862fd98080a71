"""Where things live in a baked project."""

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from amlops.errors import UserError
from amlops.filekinds import INVALID, PIPELINE, is_job_file, kind_of, yaml_files
from amlops.names import PIPELINE_NAME, check_experiment_name, experiment_name_problem
from amlops.runs import RUN_FILE, load_record, run_folders
from amlops.settings import Settings
from amlops.yamlfile import load_yaml

JOB_FILES = ("job.yaml", "job.yml")
# A pipelines/<name>.py is a pipeline when its text says so (it is not imported to list it).
PYTHON_PIPELINE_MARKS = ("azure.ai.ml.dsl", "dsl.pipeline", "pipeline_job")


def is_python_pipeline(path: Path) -> bool:
    """Whether a .py file in pipelines/ defines a pipeline (it uses azure.ai.ml.dsl or sets a
    module-level pipeline_job), by a cheap text check; spec/python_pipeline.py runs it."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(mark in text for mark in PYTHON_PIPELINE_MARKS)


def job_files_in(folder: Path) -> List[Path]:
    """The job files of a folder: job.yaml (else job.yml) when there is one; otherwise
    every YAML file there that is a job by its content (amlops.filekinds), however it is
    named (hello-world.yml, job-sweep.yml, ...)."""
    for name in JOB_FILES:
        if (folder / name).is_file():
            return [folder / name]
    return [path for path in yaml_files(folder) if is_job_file(path)]


def job_file_in(folder: Path) -> Optional[Path]:
    """The job file of a folder: job.yaml, else job.yml, else its only job file by
    content; None when it has none or several (job_files_in lists them)."""
    found = job_files_in(folder)
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class WorkspaceAccess:
    """What a local run may need from the Azure ML workspace, handed in by the command line
    (amlops/cli/workspace.py) so that local code never imports amlops.cloud:

    - environment(project, env): the workspace environment `env` (a spec/environment.py
      EnvironmentSpec of kind workspace) as an image environment, or None when it cannot
      be looked up here (cloud/environments.py look_up);
    - component(project, reference): the spec file of a registered `azureml:` component,
      downloaded, or None (cloud/registered_components.py download)."""

    environment: Callable[["Project", Any], Optional[Any]]
    component: Callable[["Project", str], Optional[Path]]


@dataclass(frozen=True)
class Project:
    """A baked project rooted at the folder holding config.env and src/; `workspace` is
    set by the command line (None elsewhere: nothing is looked up in Azure ML)."""

    root: Path
    workspace: Optional[WorkspaceAccess] = field(default=None, compare=False, repr=False)

    @classmethod
    def find(cls, start: Optional[Path] = None) -> "Project":
        """The nearest folder at or above `start` with config.env and src/."""
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / "config.env").is_file() and (folder / "src").is_dir():
                return cls(folder)
        raise UserError(f"no project found at or above {here} (looked for config.env and src/)")

    @property
    def src(self) -> Path:
        return self.root / "src"

    @property
    def common(self) -> Path:
        return self.src / "common"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def runs(self) -> Path:
        return self.root / ".runs"

    @cached_property
    def settings(self) -> Settings:
        """Read config.env and .env once per command, not at every lookup."""
        return Settings(self.root)

    @property
    def slug(self) -> str:
        return self.settings.get("PROJECT_SLUG", self.root.name.lower())

    def experiment_folders(self) -> List[Path]:
        """Every folder under src/ with a job file, whether or not its name is valid."""
        if not self.src.is_dir():
            return []
        return sorted(p for p in self.src.iterdir() if p.is_dir() and job_files_in(p))

    def experiments(self) -> List[str]:
        """The experiments: exactly the names EXP accepts (folders of src/ with a job.yaml,
        job.yml, or job files known by their content)."""
        return [p.name for p in self.experiment_folders() if not experiment_name_problem(p.name)]

    def experiment_dir(self, name: str) -> Path:
        """src/<name>, checked to be a valid, existing experiment."""
        if not name:
            raise UserError(
                "EXP is required, e.g. make <target> EXP=train (make local and make job also"
                " take JOB=<path of a job file> alone)"
            )
        check_experiment_name(name)
        folder = self.src / name
        if not job_files_in(folder):
            self._raise_unreadable(folder)  # a job file with a YAML error: say that, not "unknown"
            experiments = self.experiments()
            import difflib

            close = difflib.get_close_matches(name, experiments, n=1)
            known = ", ".join(experiments) or "none yet"
            raise UserError(
                f"unknown experiment {name!r}"
                + (f" (did you mean {close[0]!r}?)" if close else "")
                + f": no job file in src/{name}/ (a job.yaml, or a YAML file that is an Azure"
                f" ML job; experiments: {known}; create one with make new-exp EXP={name})"
            )
        return folder

    def _raise_unreadable(self, folder: Path) -> None:
        """The one-line YAML error (file, line) of the first .yaml/.yml file in `folder`
        that is not readable YAML, when there is one (its kind cannot be told, so it
        would otherwise be left out of the folder's job files without a word)."""
        for path in yaml_files(folder):
            load_yaml(path, self.relative(path))  # raises the UserError of an unreadable one

    def recorded_experiments(self) -> List[str]:
        """The names local runs are recorded under: each .runs/<name>/ whose newest run
        folder's run.json names experiment <name> (an experiment of src/, or a job file
        that `make local JOB=<path>` ran: jobs/score.yaml runs as `score`)."""
        found = []
        if not self.runs.is_dir():
            return found
        for folder in sorted(self.runs.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            for run_dir in reversed(run_folders(folder)):
                record = load_record(run_dir / RUN_FILE)
                if record is not None:
                    if record.get("experiment") == folder.name:
                        found.append(folder.name)
                    break
        return found

    def experiment_of_runs(self, name: str) -> str:
        """EXP of a command that reads past local runs (make runs, register-model): an
        experiment of src/, or a name local runs are recorded under
        (recorded_experiments: a job file run with JOB=<path>). UserError otherwise,
        listing both."""
        if not name or job_files_in(self.src / name) or "/" in name or "\\" in name:
            self.experiment_dir(name)
            return name
        recorded = self.recorded_experiments()
        if name in recorded:
            return name
        experiments = self.experiments()
        if not set(recorded) - set(experiments):
            self.experiment_dir(name)  # no runs of job files: the usual line
        known = sorted(set(experiments) | set(recorded))
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        raise UserError(
            f"unknown experiment {name!r}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + f": no job file in src/{name}/ and no local runs recorded as {name!r}"
            f" (experiments, and job files run with JOB=: {', '.join(known)})"
        )

    def job_file(self, name: str) -> Path:
        """The job file of a valid, existing experiment: src/<name>/job.yaml (or job.yml),
        else its only job file by content. Raises UserError when it holds several and
        none is named job.yaml (JOB= picks one), or, without a job.yaml, when one of its
        YAML files is not readable YAML (its error: it may be the job file meant)."""
        found = job_files_in(self.experiment_dir(name))
        if found[0].name not in JOB_FILES:  # found by content: an unreadable one may be meant
            self._raise_unreadable(self.src / name)
        if len(found) > 1:
            names = ", ".join(path.name for path in found)
            raise UserError(
                f"src/{name}/ holds several job files ({names}) and no job.yaml or job.yml:"
                f" pick one with JOB=<file> (e.g. make local EXP={name} JOB={found[0].name})"
            )
        return found[0]

    @property
    def pipelines_dir(self) -> Path:
        return self.root / "pipelines"

    def pipeline_folders(self) -> List[Path]:
        """pipelines/ and its direct subfolders (where Azure's examples keep a pipeline
        with its component files, e.g. pipelines/1a_e2e_local_components/pipeline.yml)."""
        root = self.pipelines_dir
        if not root.is_dir():
            return []
        subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        return [root, *subfolders]

    def pipeline_files(self) -> Dict[str, Path]:
        """The pipeline files by name: pipelines/<name>.yaml (or .yml, as Azure ML's CLI
        takes either) or pipelines/<name>.py (written with azure.ai.ml.dsl; top level
        only), and in a subfolder pipelines/<folder>/ the folder's name for its one
        pipeline or `<folder>.<stem>` for each of several. Only files that are
        pipelines by their content count (the component, conda, environment and data files
        Azure's examples keep beside a pipeline are not; a file that is not readable YAML
        is listed, so its check says why).

        Raises UserError when two files would have one name (which one runs would be a guess)."""
        found: Dict[str, Path] = {}
        for folder in self.pipeline_folders():
            pipelines = [
                path
                for path in yaml_files(folder)
                if kind_of(path, self.relative(path)) in (PIPELINE, INVALID)
            ]
            if folder == self.pipelines_dir:
                pipelines += sorted(p for p in folder.glob("*.py") if is_python_pipeline(p))
            for path in pipelines:
                if folder == self.pipelines_dir:
                    name = path.stem
                else:
                    name = folder.name if len(pipelines) == 1 else f"{folder.name}.{path.stem}"
                if name in found:
                    raise UserError(
                        f"{self.relative(found[name])} and {self.relative(path)} are both"
                        f" pipeline {name!r}: rename one"
                    )
                found[name] = path
        return found

    def pipelines(self) -> List[str]:
        """The pipelines' names (see pipeline_files), sorted."""
        return sorted(self.pipeline_files())

    def pipeline_file(self, name: str) -> Path:
        """The file of pipeline `name` (see pipeline_files); with no name, the only one.

        Raises UserError for an unknown name, or no name with none or several pipelines."""
        return self.named_pipeline(name)[1]

    def named_pipeline(self, name: str) -> Tuple[str, Path]:
        """(name, file) of pipeline `name`, or of the only one when `name` is empty; the
        errors of pipeline_file."""
        files = self.pipeline_files()
        known = sorted(files)
        if not name:
            if len(known) == 1:
                return known[0], files[known[0]]
            if not known:
                raise UserError("no pipeline yet: add pipelines/<name>.yaml (or <name>.py)")
            raise UserError(f"several pipelines ({', '.join(known)}): pick one with PIPELINE=name")
        if not PIPELINE_NAME.fullmatch(name) or name not in files:
            listed = ", ".join(known) or "none yet"
            if "/" in name or name.endswith((".yml", ".yaml", ".py")):
                raise UserError(
                    f"PIPELINE={name!r}: PIPELINE takes a pipeline's name, not a path: put the"
                    " file (and its components) in pipelines/<name>.yml or pipelines/<name>/,"
                    f" then PIPELINE=<name> (pipelines: {listed})"
                )
            raise UserError(
                f"unknown pipeline {name!r}: no pipelines/{name}.yaml, .yml, .py or"
                f" pipelines/{name}/ with one pipeline (pipelines: {listed})"
            )
        return name, files[name]

    def relative(self, path: Path) -> str:
        """`path` relative to the project root when inside it, for messages."""
        try:
            return str(path.resolve().relative_to(self.root))
        except ValueError:
            return str(path)
