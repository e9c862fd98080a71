import argparse
import pathlib

p = argparse.ArgumentParser()
p.add_argument("--data")
p.add_argument("--out")
a = p.parse_args()
n = sum(1 for f in pathlib.Path(a.data).glob("*.csv") for _ in f.open())
pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)
(pathlib.Path(a.out) / "n.txt").write_text(str(n))
