"""Running an experiment on this machine: input resolution, the Docker
and venv runtimes, and the interactive terminal/jupyter targets (run folders: amlops/runs.py)."""
