"""One do-nothing `make local RUNTIME=venv` in this process, part by part: run by
local_overhead.py (`python _venv_parts.py` in the project folder, with EXP, JOB,
RUNTIME=venv, VENV_DIR and TRACKING in the environment). Prints one JSON object:
part -> CPU seconds (this process's, plus the children it waited for in that part).

The parts follow amlops/local/run.py run_experiment; reference figures (what a check
would cost if it ran here) are measured after the run and named `ref:`."""

import json
import os
import resource
import sys
import time

sys.path.insert(0, os.getcwd())  # the baked project's amlops


def children() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def main() -> None:
    parts = {}
    last = [time.process_time(), children()]

    def part(name: str) -> None:
        own, kids = time.process_time(), children()
        parts[name] = round(own - last[0] + kids - last[1], 4)
        last[:] = [own, kids]

    import amlops.cli as cli
    from amlops import parsecache
    from amlops.project import Project

    project = Project.find()
    parsecache.use(project.runs / ".cache" / "parsed")  # as amlops.cli.main does
    args = cli.build_parser(project, ["local"]).parse_args(["local"])
    part("CLI: imports, settings, parser")
    from amlops.inputs import parse_overrides
    from amlops.spec.job import load_experiment

    spec = load_experiment(project, args.exp, args.job)
    overrides = parse_overrides({}, spec)
    part("job file: imports, read, checked")
    from amlops.local import run
    from amlops.local.resolve import bind_inputs
    from amlops.local.runtimes.venv import VenvRuntime
    from amlops.staging import code_snapshot

    part("local-run path: imports")
    bind_inputs(spec, project, overrides, in_container=False)
    code_snapshot(project, spec)
    run.check_store(project, spec)
    runtime = VenvRuntime(project, spec)
    part("inputs bound, code listed, venv key")
    assert runtime.ready(), "the venv is built before the benchmark"
    part("venv check (cheap: one lstat per file)")
    run_dir, job = run.prepare_run(project, spec, overrides, in_container=False)
    part("run folder, code staged")
    start = children()
    code, _ = run.execute(project, spec, runtime, run_dir, job, echo=False)
    assert code == 0, f"the do-nothing job failed: {code}"
    job_cpu = children() - start
    part("records, tracking, job start")
    parts["records, tracking, job start"] = round(
        parts["records, tracking, job start"] - job_cpu, 4
    )
    parts["the job itself (shell + python -c pass)"] = round(job_cpu, 4)
    # reference: what the checks this run skipped would cost
    own = time.process_time()
    files = len(runtime.venv._scan()[1])
    parts[f"ref: full venv signature ({files} entries; was every run)"] = round(
        time.process_time() - own, 4
    )
    if sys.platform.startswith("linux"):
        from amlops.local import readonly

        own, kids = time.process_time(), children()
        readonly._probe()
        parts["ref: read-only probe (was every run with inputs; now once per boot)"] = round(
            time.process_time() - own + children() - kids, 4
        )
    print(json.dumps(parts))


if __name__ == "__main__":
    main()
