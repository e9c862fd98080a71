"""`python -m amlops ...` entry point."""

import sys

from amlops.cli import main

sys.exit(main())
