"""Debug {{ cookiecutter.exp_name }} on the host: `python src/{{ cookiecutter.exp_name }}/local.py`.

Calls main() with the arguments `make local EXP={{ cookiecutter.exp_name }}` would use (inputs
from the same local paths, outputs in a new .runs/ folder), so IDE breakpoints
work. Needs the experiment's requirements in the host Python.
"""

import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(SRC), str(SRC.parent)]  # `common` and the bundled `amlops`

from amlops.debug import host_arguments  # noqa: E402
from {{ cookiecutter.exp_name }}.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(host_arguments("{{ cookiecutter.exp_name }}")))
