import argparse
import os
import pathlib

p = argparse.ArgumentParser()
p.add_argument("--out")
a = p.parse_args()
keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK"]
env = {k: os.environ.get(k) for k in keys}
pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)
(pathlib.Path(a.out) / f"rank{env['RANK']}.txt").write_text(repr(env))
