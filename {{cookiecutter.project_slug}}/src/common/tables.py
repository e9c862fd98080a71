"""Read numeric CSV tables with a `target` column into arrays (no pandas needed)."""

import csv
from pathlib import Path
from typing import List, Tuple

import numpy as np


def csv_files(folder: Path) -> List[Path]:
    """Every `*.csv` in `folder` in name order (or `folder` itself if it is a file)."""
    folder = Path(folder)
    files = [folder] if folder.is_file() else sorted(folder.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no .csv file in {folder}")
    return files


def read_csv_folder(
    folder: Path, target: str = "target"
) -> Tuple[np.ndarray, np.ndarray, List[str]]:
    """Features, labels and feature names from every `*.csv` in `folder` (or one file)."""
    files = csv_files(folder)
    rows: List[List[float]] = []
    labels: List[float] = []
    names: List[str] = []
    for file in files:
        with open(file, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            if target not in header:
                raise ValueError(f"{file}: no {target!r} column (columns: {', '.join(header)})")
            index = header.index(target)
            file_names = header[:index] + header[index + 1 :]
            if names and file_names != names:
                raise ValueError(f"{file}: columns differ from the other files")
            names = file_names
            for row in reader:
                if row:
                    labels.append(float(row[index]))
                    rows.append([float(v) for i, v in enumerate(row) if i != index])
    return np.asarray(rows), np.asarray(labels), names
