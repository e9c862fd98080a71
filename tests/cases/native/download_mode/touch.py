import argparse
import pathlib

p = argparse.ArgumentParser()
p.add_argument("--data")
a = p.parse_args()
(pathlib.Path(a.data) / "scratch.tmp").write_text("a downloaded input is the job's own copy")
