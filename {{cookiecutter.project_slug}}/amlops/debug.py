"""Host debugging: the arguments `make local` would pass to main(), with host paths.

Used by src/<exp>/local.py so an IDE can set breakpoints in main()."""

import os
import shlex
from pathlib import Path
from typing import List

from amlops.console import say
from amlops.errors import UserError
from amlops.inputs import parse_overrides, split_overrides
from amlops.local.resolve import resolve_job
from amlops.local.runs import new_run_dir
from amlops.project import Project
from amlops.spec.job import load_experiment


def script_arguments(command: str) -> List[str]:
    """The arguments after `python <script>` or `python -m <module>`."""
    words = shlex.split(command)
    if not words or not os.path.basename(words[0]).startswith("python"):
        raise UserError(f"local.py can only debug a `python ...` command, got {command!r}")
    rest = words[1:]
    if rest[:1] == ["-m"]:
        return rest[2:]
    return rest[1:]


def host_arguments(experiment: str, start: Path = None) -> List[str]:
    """main()'s argv for a host run: inputs in place, outputs in a new run folder."""
    project = Project.find(start or Path(__file__).resolve().parent)
    spec = load_experiment(project, experiment)
    overrides = parse_overrides(split_overrides(project.settings.get("INPUTS")), spec)
    run_dir = new_run_dir(project.runs, experiment)
    job = resolve_job(spec, project, run_dir / "outputs", overrides, in_container=False)
    os.environ["AMLOPS_LOG_DIR"] = str(run_dir / "logs")
    say(f"debug run {project.relative(run_dir)} (host Python, inputs not protected)")
    return script_arguments(job.command)
