import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--counted")
parser.add_argument("--out")
args = parser.parse_args()
count = (Path(args.counted) / "count.txt").read_text()
Path(args.out).mkdir(parents=True, exist_ok=True)
(Path(args.out) / "shown.txt").write_text(f"count={count}")
print(f"count={count}")
