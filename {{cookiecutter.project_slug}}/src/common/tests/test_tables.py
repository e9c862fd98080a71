from pathlib import Path

import numpy as np
import pytest

from common.tables import read_csv_folder


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_every_csv_and_splits_target(tmp_path):
    write(tmp_path / "a.csv", "x,target,y\n1,0,2\n3,1,4\n")
    write(tmp_path / "b.csv", "x,target,y\n5,1,6\n")
    features, labels, names = read_csv_folder(tmp_path)
    assert names == ["x", "y"]
    assert features.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert np.array_equal(labels, [0, 1, 1])


def test_missing_target_column_is_named(tmp_path):
    write(tmp_path / "a.csv", "x,y\n1,2\n")
    with pytest.raises(ValueError, match="no 'target' column"):
        read_csv_folder(tmp_path)


def test_empty_folder_fails(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_csv_folder(tmp_path)
