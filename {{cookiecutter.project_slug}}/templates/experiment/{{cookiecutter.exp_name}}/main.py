"""Entry point of the {{ cookiecutter.exp_name }} job: train a classifier on a CSV folder.

job.yaml runs `python -m {{ cookiecutter.exp_name }}.main ...` from the staged code root,
locally and in Azure ML alike, so `import common` works in both.
"""

import argparse
import json
import pickle
from pathlib import Path
from typing import Dict, List, Optional

from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from common.tables import read_csv_folder
from common.tracking import log_metrics


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="folder of CSV files")
    parser.add_argument("--model-dir", type=Path, required=True, help="output folder")
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--max-depth", type=int, default=None, help="deepest tree (no limit)")
    parser.add_argument("--test-size", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def train(args: argparse.Namespace) -> Dict[str, float]:
    """Fit on a split of the data, save the model, return held-out metrics."""
    features, labels, names = read_csv_folder(args.data)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=args.test_size, random_state=args.seed, stratify=labels
    )
    model = RandomForestClassifier(
        n_estimators=args.n_estimators, max_depth=args.max_depth, random_state=args.seed
    )
    model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1_macro": float(f1_score(y_test, predicted, average="macro")),
        "n_train": float(len(y_train)),
        "n_test": float(len(y_test)),
    }
    args.model_dir.mkdir(parents=True, exist_ok=True)
    with open(args.model_dir / "model.pkl", "wb") as handle:
        pickle.dump({"model": model, "features": names}, handle)
    (args.model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    metrics = train(args)
    where = log_metrics(metrics)
    print(f"accuracy={metrics['accuracy']:.3f} f1_macro={metrics['f1_macro']:.3f}")
    print(f"metrics logged to {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
