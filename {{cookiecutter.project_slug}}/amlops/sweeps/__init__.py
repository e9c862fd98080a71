"""Azure ML sweep jobs (`type: sweep`) run locally: its trials sampled (sampling.py),
stopped early (policies.py) and run (run.py); the file is read by amlops/spec/sweep.py."""
