"""Azure ML sweep jobs (`type: sweep`): the file read and checked (spec.py), its trials
sampled (sampling.py), stopped early (policies.py) and run locally (run.py)."""
