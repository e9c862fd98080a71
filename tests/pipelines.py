"""Tiny experiments and a diamond pipeline (a -> b, a -> c, b + c -> d) for pipeline tests.

Each step adds `add` to the sum of the `value.txt` files of its inputs and
writes the result to its output, so the final value proves the data flowed."""

import json
import shutil
from pathlib import Path
from typing import Dict, List

from tests.helpers import Baked

NODE_SCRIPT = '''"""A pipeline test step: out/value.txt = sum(inputs' value.txt) + add."""

import argparse
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--inp", action="append", default=[])
parser.add_argument("--out", required=True)
parser.add_argument("--add", type=int, default=1)
parser.add_argument("--sleep", type=float, default=0)
parser.add_argument("--fail", type=int, default=0)
parser.add_argument("--scribble", type=int, default=0)
args = parser.parse_args()
time.sleep(args.sleep)
if args.scribble:  # try to change an upstream step's output
    Path(args.inp[0], "scribble.txt").write_text("changed by a consumer")
total = sum(int(Path(folder, "value.txt").read_text()) for folder in args.inp)
value = total + args.add
Path(args.out).mkdir(parents=True, exist_ok=True)
Path(args.out, "value.txt").write_text(str(value))
print(f"value={value}")
sys.exit(args.fail)
'''

DIAMOND = """settings:
  continue_on_step_failure: true
inputs:
  seed:
    type: uri_folder
    path: ../data/seed
jobs:
  a:
    experiment: first
    inputs:
      data: ${{parent.inputs.seed}}
  b:
    experiment: branch
    inputs:
      data: ${{parent.jobs.a.outputs.out}}
      add: 10
      sleep: 1.5
  c:
    experiment: branch
    inputs:
      data: ${{parent.jobs.a.outputs.out}}
      add: 100
      sleep: 1.5
  d:
    experiment: join
    inputs:
      left: ${{parent.jobs.b.outputs.out}}
      right: ${{parent.jobs.c.outputs.out}}
"""
# seed 1 -> a 2 -> b 12, c 102 -> d 115
DIAMOND_VALUE = 115


def add_node_experiment(baked: Baked, name: str, inputs: List[str]) -> None:
    """src/<name>: the node script with these uri_folder inputs, no requirements."""
    made = baked.make("new-exp", EXP=name)
    assert made.returncode == 0, made.stderr
    folder = baked.path / "src" / name
    shutil.rmtree(folder / "tests")
    (folder / "main.py").write_text(NODE_SCRIPT)
    (folder / "docker" / "requirements.txt").write_text("")
    flags = " ".join(f"--inp ${{{{inputs.{i}}}}}" for i in inputs)
    declared = "".join(f"  {i}:\n    type: uri_folder\n" for i in inputs)
    (folder / "job.yaml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"
        "type: command\ncode: ..\n"
        f"command: python -m {name}.main {flags} --add ${{{{inputs.add}}}}"
        " --sleep ${{inputs.sleep}} --fail ${{inputs.fail}} --scribble ${{inputs.scribble}}"
        " --out ${{outputs.out}}\n"
        "environment:\n  build:\n    path: docker\n"
        f"inputs:\n{declared}  add: 1\n  sleep: 0.0\n  fail: 0\n  scribble: 0\n"
        "outputs:\n  out:\n    type: uri_folder\n"
    )


def add_diamond(baked: Baked) -> None:
    """Experiments first, branch (used twice) and join, seed data, pipelines/diamond.yaml."""
    add_node_experiment(baked, "first", ["data"])
    add_node_experiment(baked, "branch", ["data"])
    add_node_experiment(baked, "join", ["left", "right"])
    seed = baked.path / "data" / "seed"
    seed.mkdir(parents=True)
    (seed / "value.txt").write_text("1")
    write_pipeline(baked, "diamond", DIAMOND)


def write_pipeline(baked: Baked, name: str, text: str) -> Path:
    path = baked.path / "pipelines" / f"{name}.yaml"
    path.write_text(text)
    return path


def pipeline_runs(baked: Baked, name: str) -> List[Path]:
    """Pipeline run folders, oldest first."""
    root = baked.path / ".runs" / "pipelines" / name
    runs = (
        [p for p in root.iterdir() if (p / "pipeline.json").is_file() and not p.is_symlink()]
        if root.is_dir()
        else []
    )
    return sorted(runs, key=lambda p: json.loads((p / "pipeline.json").read_text())["started"])


def latest_record(baked: Baked, name: str) -> Dict:
    return json.loads((pipeline_runs(baked, name)[-1] / "pipeline.json").read_text())


def states(record: Dict) -> Dict[str, str]:
    return {name: step["state"] for name, step in record["steps"].items()}


def output_value(baked: Baked, record: Dict, step: str) -> int:
    folder = baked.path / record["steps"][step]["outputs"]["out"]
    return int((folder / "value.txt").read_text())
