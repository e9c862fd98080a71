"""Refuse answers that cannot make a working project, one clear line each."""

import json
import re
import sys

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

RULES = {
    "project_slug": (
        r"[a-z][a-z0-9]*([-_][a-z0-9]+)*",
        "lowercase letters and digits, words joined by - or _, e.g. churn-model",
    ),
    "first_experiment": (
        r"[a-z][a-z0-9_]{0,39}",
        "a lowercase letter then letters, digits or _ (max 40): it becomes a"
        " Python package, a Docker tag and an Azure ML name",
    ),
    "azure_subscription_id": (
        r"|[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}",
        "a GUID like 00000000-0000-0000-0000-000000000000, or empty",
    ),
    "azure_resource_group": (
        r"|[-\w.()]{0,89}[-\w()]",
        "letters, digits, - _ . ( ), not ending with a period, or empty",
    ),
    "azure_workspace": (
        r"|[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}",
        "3-33 letters, digits, - or _, starting with a letter or digit, or empty",
    ),
    "default_compute": (
        r"[a-zA-Z][a-zA-Z0-9-]{1,15}",
        "2-16 letters, digits or -, starting with a letter",
    ),
}


# The longest names made from the slug must still be valid: the build log and lock
# .runs/.builds/<slug>-<experiment>-<12 hex>-<tools suffix>.lock must fit in a file
# name (255 bytes on every common file system), which also keeps the Docker
# repository <slug>-<experiment> under Docker's 255 and Azure ML's experiment and
# component names <slug>-<experiment> under theirs (255). Endpoint names are hashed.
FILE_NAME_MAX = 255
SLUG_MAX = FILE_NAME_MAX - len("-") - 40 - len("-") - 12 - len("-notebooks") - len(".lock")
MAX_LENGTH = {
    "project_slug": (
        SLUG_MAX,
        "it prefixes Docker image names and build-log file names (<slug>-<experiment>-...)",
    ),
}

# Names the baked project already uses for something else.
TAKEN = {
    "first_experiment": {
        "prepare": "the sample pipeline's data step",
        "common": "src/common, the shared code",
        "pipelines": ".runs/pipelines, the pipeline runs",
        "azure": ".runs/azure, the cloud submissions (and the Azure SDK package name)",
    }
}


def problems(answers: dict) -> list:
    """One message per answer that breaks its rule."""
    found = []
    for key, (pattern, hint) in RULES.items():
        value = str(answers.get(key, ""))
        limit, why = MAX_LENGTH.get(key, (0, ""))
        if limit and len(value) > limit:
            found.append(f"invalid {key}: {len(value)} characters, at most {limit} ({why})")
        elif not re.fullmatch(pattern, value, flags=re.ASCII):
            found.append(f"invalid {key} {value!r}: use {hint}")
        elif value in TAKEN.get(key, {}):
            found.append(f"invalid {key} {value!r}: the name of {TAKEN[key][value]}")
    return found


if __name__ == "__main__":
    errors = problems(ANSWERS)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    sys.exit(1 if errors else 0)
