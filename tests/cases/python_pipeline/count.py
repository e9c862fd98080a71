import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--text")
parser.add_argument("--out")
args = parser.parse_args()
Path(args.out).mkdir(parents=True, exist_ok=True)
(Path(args.out) / "count.txt").write_text(str(len(args.text)))
