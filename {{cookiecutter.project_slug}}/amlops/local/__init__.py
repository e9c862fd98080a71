"""Running an experiment on this machine: input resolution, run folders, the Docker
and venv runtimes, and the interactive terminal/jupyter targets."""
