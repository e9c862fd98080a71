import argparse
import pathlib

p = argparse.ArgumentParser()
p.add_argument("--counted")
p.add_argument("--factor", type=int)
p.add_argument("--label", default="")
p.add_argument("--out")
a = p.parse_args()
n = int((pathlib.Path(a.counted) / "n.txt").read_text())
pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)
(pathlib.Path(a.out) / "scaled.txt").write_text(f"{a.label}{n * a.factor}")
