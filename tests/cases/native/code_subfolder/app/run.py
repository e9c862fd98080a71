import argparse
import pathlib

p = argparse.ArgumentParser()
p.add_argument("--greeting")
p.add_argument("--out")
a = p.parse_args()
pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)
(pathlib.Path(a.out) / "greeting.txt").write_text(a.greeting)
print("wrote", a.greeting)
