"""amlops: the project's bundled commands behind the Makefile.

Local commands (new-exp, build-exp, local, terminal, jupyter) never import an
Azure SDK, so the inner loop stays fast.
"""

# The bundled module is vendored code in a baked project: `make update-template` replaces
# it, the project's format/lint/pre-commit leave it alone. Its version is printed by
# `python -m amlops --version` and written into every run record (run.json, pipeline.json)
# as `amlops_version`, so a run can be traced to the code that made it.
__version__ = "0.1.0"
