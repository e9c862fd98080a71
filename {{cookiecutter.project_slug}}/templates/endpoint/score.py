"""Scoring script of endpoint __ENDPOINT__, run by Azure ML's inference server (azmlinfsrv).

init() runs once per server worker and loads the model from AZUREML_MODEL_DIR, the folder
Azure ML mounts the deployment's model in (locally: make serve does the same). run() answers
each request: a JSON body {"data": [[feature, ...], ...]} in the training data's column order.
"""

import json
import os
import pickle
from pathlib import Path

model = None
features = []


def _model_file(root: Path) -> Path:
    """model.pkl wherever the model folder put it (a registered folder keeps its name;
    locally the folder may be a link, which os.walk follows and Path.rglob does not)."""
    for folder, _, files in sorted(os.walk(root, followlinks=True)):
        if "model.pkl" in files:
            return Path(folder) / "model.pkl"
    raise FileNotFoundError(f"no model.pkl under AZUREML_MODEL_DIR={root}")


def init():
    global model, features
    with open(_model_file(Path(os.environ["AZUREML_MODEL_DIR"])), "rb") as handle:
        saved = pickle.load(handle)
    model, features = saved["model"], saved["features"]


def run(raw_data):
    rows = json.loads(raw_data)["data"]
    return {"predictions": [float(p) for p in model.predict(rows)], "features": features}
