"""Entry point of the {{ cookiecutter.exp_name }} job: clean a folder of CSV tables for training.

Keeps the rows whose cells are all numbers, drops exact duplicates and
standardises every feature column (mean 0, standard deviation 1); the target
column is kept as it is. Writes data.csv and scaling.json to --output.
"""

import argparse
import csv
import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from common.tables import csv_files
from common.tracking import log_metrics

Row = Tuple[float, ...]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="folder of CSV files")
    parser.add_argument("--output", type=Path, required=True, help="output folder")
    parser.add_argument("--target", default="target", help="label column, not scaled")
    return parser.parse_args(argv)


def clean_rows(folder: Path) -> Tuple[List[str], List[Row], Dict[str, float]]:
    """The header, the numeric unique rows, and how many rows were dropped."""
    header: List[str] = []
    rows: List[Row] = []
    seen = set()
    counts = {"rows_in": 0.0, "dropped_not_numeric": 0.0, "dropped_duplicate": 0.0}
    for file in csv_files(folder):
        with open(file, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            file_header = next(reader)
            if header and file_header != header:
                raise ValueError(f"{file}: columns differ from the other files")
            header = file_header
            for cells in reader:
                if not cells:
                    continue
                counts["rows_in"] += 1
                try:
                    row = tuple(float(cell) for cell in cells)
                except ValueError:
                    row = ()
                if len(row) != len(header):
                    counts["dropped_not_numeric"] += 1
                elif row in seen:
                    counts["dropped_duplicate"] += 1
                else:
                    seen.add(row)
                    rows.append(row)
    return header, rows, counts


def standardise(header: List[str], rows: List[Row], target: str) -> Dict[str, List[float]]:
    """Scale feature columns in place of `rows`; returns each column's mean and std."""
    if target not in header:
        raise ValueError(f"no {target!r} column (columns: {', '.join(header)})")
    scaling: Dict[str, List[float]] = {}
    columns = list(zip(*rows)) if rows else [()] * len(header)
    for index, name in enumerate(header):
        if name == target or not rows:
            continue
        values = columns[index]
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5 or 1.0
        scaling[name] = [mean, std]
    for position, row in enumerate(rows):
        rows[position] = tuple(
            (v - scaling[n][0]) / scaling[n][1] if n in scaling else v for n, v in zip(header, row)
        )
    return scaling


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    header, rows, counts = clean_rows(args.data)
    scaling = standardise(header, rows, args.target)
    args.output.mkdir(parents=True, exist_ok=True)
    with open(args.output / "data.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    (args.output / "scaling.json").write_text(json.dumps(scaling, indent=2) + "\n")
    counts["rows_out"] = float(len(rows))
    where = log_metrics(counts)
    print(f"kept {len(rows)} of {int(counts['rows_in'])} rows; metrics logged to {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
