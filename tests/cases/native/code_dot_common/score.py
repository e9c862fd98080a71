import argparse
import pathlib

import common  # src/common, shared by every experiment

p = argparse.ArgumentParser()
p.add_argument("--out")
a = p.parse_args()
pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)
(pathlib.Path(a.out) / "report.txt").write_text(common.__name__)
