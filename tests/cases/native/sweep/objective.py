import argparse

import mlflow

p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
p.add_argument("--kind")
p.add_argument("--offset", type=float)
a = p.parse_args()
loss = (a.x**2 if a.kind == "squared" else abs(a.x)) + a.offset
mlflow.log_metric("loss", loss)
print("loss", loss)
