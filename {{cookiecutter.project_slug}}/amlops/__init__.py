"""amlops: the project's bundled commands behind the Makefile.

Local commands (new-exp, build-exp, local, terminal, jupyter) never import an
Azure SDK, so the inner loop stays fast.
"""

__version__ = "0.1.0"
