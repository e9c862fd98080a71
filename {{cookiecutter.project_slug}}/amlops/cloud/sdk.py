"""Loading azure-ai-ml, and its errors turned into one line with an exit code.

Exit codes: 2 bad input or SDK validation, 3 login or permission (401/403),
4 not found (404), 5 conflict (409), 6 service unavailable (5xx after retries, network)."""

import gc
import json
import re
from contextlib import contextmanager
from copy import deepcopy
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

from amlops.console import one_line, quiet_sdk_loggers
from amlops.errors import Problems, UserError
from amlops.yamlfile import line_of

INSTALL_HINT = "pip install -e '.[azure]' (make setup installs it)"
EXIT_AUTH, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_SERVICE = 3, 4, 5, 6


def require_sdk(target: str, identity: bool = True) -> None:
    """Import azure-ai-ml (and with `identity`, azure-identity, which only a login
    needs) once, quietly. Raises UserError with the install hint when one is missing.

    What is loaded by then is frozen out of the garbage collector (gc.freeze): the
    SDK's modules and classes live as long as the command, yet every full collection
    would walk them all again (make validate on 30 job files: ~0.5 s of CPU, 4 full
    collections of the ~1M objects). Nothing is kept that would otherwise be freed
    before the command ends, but cyclic garbage made before this point."""
    quiet_sdk_loggers()
    try:
        import azure.ai.ml  # noqa: F401

        if identity:
            import azure.identity  # noqa: F401
    except ImportError as err:
        raise UserError(
            f"make {target} needs azure-ai-ml and azure-identity ({err}); {INSTALL_HINT}"
        ) from None
    gc.freeze()


def exit_code_for_status(status: int) -> int:
    """The exit code of a failed Azure call by HTTP status (0: no response at all)."""
    if status in (401, 403):
        return EXIT_AUTH
    if status == 404:
        return EXIT_NOT_FOUND
    if status == 409:
        return EXIT_CONFLICT
    return EXIT_SERVICE if status >= 500 or status == 0 else 2


def _service_message(err: Any) -> str:
    error = getattr(err, "error", None)
    message = getattr(error, "message", None) or getattr(err, "message", None) or str(err)
    return one_line(str(message))


@contextmanager
def azure_errors(action: str) -> Iterator[None]:
    """Turn an Azure SDK exception raised while doing `action` into a UserError (the
    SDK's own MlException - a model, asset or validation error it raises itself - too)."""
    from azure.ai.ml.exceptions import MlException
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceExistsError,
        ResourceNotFoundError,
        ServiceRequestError,
    )

    try:
        yield
    except ClientAuthenticationError as err:
        raise UserError(
            f"{action}: Azure refused the login ({_service_message(err)}); log in again"
            " (az login, the service principal in .env, or LOGIN=device)",
            EXIT_AUTH,
        ) from None
    except ResourceNotFoundError as err:
        raise UserError(
            f"{action}: not found (404): {_service_message(err)}; check the compute, data"
            " and environment names (make validate checks them against the workspace)",
            EXIT_NOT_FOUND,
        ) from None
    except ResourceExistsError as err:
        raise UserError(
            f"{action}: conflict (409): {_service_message(err)}", EXIT_CONFLICT
        ) from None
    except ServiceRequestError as err:
        raise UserError(
            f"{action}: cannot reach Azure ML ({_service_message(err)})", EXIT_SERVICE
        ) from None
    except HttpResponseError as err:
        status = err.status_code or 0
        # 404/409 arrive as their own exception types above; any other status is bad input
        code = exit_code_for_status(status) if status else 2
        if code == EXIT_AUTH:
            message = f"Azure refused the request ({status}): {_service_message(err)};"
            message += " check your role on the workspace"
        elif code == EXIT_SERVICE:
            message = f"Azure ML service error ({status}) after retries:"
            message += f" {_service_message(err)}; try again later"
        else:
            code = 2
            message = f"Azure ML rejected the request ({status}): {_service_message(err)}"
        raise UserError(f"{action}: {message}", code) from None
    except MlException as err:  # the SDK's own checks before or after a call (bad input)
        raise UserError(f"{action}: {_service_message(err)}", 2) from None


class SdkProblems(Problems):
    """The SDK's validation found problems; `problems` lists them one per line."""


def _flatten(node: Any, prefix: str = "") -> Iterator[Tuple[str, str]]:
    """(dotted.path, message) pairs of a marshmallow error dict."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, list) and all(isinstance(v, str) for v in node):
        yield prefix, " ".join(node)
    elif isinstance(node, list):
        for value in node:
            yield from _flatten(value, prefix)
    else:
        yield prefix, str(node)


def _line_of_path(raw: Any, dotted: str) -> int:
    """The line of the deepest key of `dotted` found in a mapping from load_yaml."""
    line, node = 0, raw
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            break
        line, node = line_of(node, key) or line, node[key]
    return line


def _first_json(text: str) -> Any:
    """The first JSON object in an SDK message, or None."""
    start = text.find("{")
    while start != -1:
        try:
            return json.JSONDecoder().raw_decode(text[start:])[0]
        except ValueError:
            start = text.find("{", start + 1)
    return None


def _pairs(text: str) -> List[Tuple[str, str, int]]:
    """(path, message, line) found in an SDK message; nested messages are unpacked."""
    found = _first_json(text)
    if not isinstance(found, dict):
        return []
    if not isinstance(found.get("errors"), list):
        return [(path, message, 0) for path, message in _flatten(found)]
    pairs: List[Tuple[str, str, int]] = []
    for item in found["errors"]:
        message, path = str(item.get("message", "")), str(item.get("path", ""))
        nested = _pairs(message)
        if nested:
            outer = "" if path in ("*", "") else f"{path}."
            pairs += [(outer + p, m, n) for p, m, n in nested]
            continue
        line = re.search(r"#line (\d+)", str(item.get("location", "")))
        pairs.append((path, message.split("\n")[0], int(line.group(1)) if line else 0))
    return pairs


def sdk_problems(err: Any, shown: str, raw: Any = None) -> List[str]:
    """The problems in an SDK validation message, one `file:line: path: message` each."""
    text = str(err)
    pairs = _pairs(text)
    if not pairs:
        return [f"{shown}: {one_line(text)}"]
    # A field of several forms (marshmallow's union: `code:` is a local path, a URL, a
    # git path, a registry path or an ARM id) gets one message per form it was refused
    # as, under one path: the first (the form tried first) stands for them all.
    found: Dict[Tuple[str, str], List[str]] = {}
    for path, message, line in pairs:
        line = line or _line_of_path(raw, path)
        where = f"{shown}:{line}" if line else shown
        found.setdefault((where, path), []).append(_flat(message))
    problems = []
    for (where, path), messages in found.items():
        unique = list(dict.fromkeys(messages))
        more = len(unique) - 1
        field = path.split(".")[0]
        also = f" (nor is it any of the {more} other forms {field}: takes)" if more else ""
        problems.append(f"{where}: {path}: {unique[0]}{also}")
    return problems


def _flat(message: Any) -> str:
    """An SDK message on one line: some span several, with blank lines between (the
    `code:` alternatives: git path, registry path, ARM ID), and each problem is one line."""
    return " ".join(str(message).split())


def load_native(path: Path, shown: str, raw: Any = None, loader: str = "load_job") -> Any:
    """azure.ai.ml.load_job (or another `loader`: load_component, load_schedule, ...) on
    a YAML file plus the SDK's own offline checks where the entity has them; `raw` (the
    file as load_yaml read it) gives line numbers to problems."""
    import azure.ai.ml
    from azure.ai.ml.entities import _load_functions
    from azure.ai.ml.exceptions import ValidationException
    from marshmallow import ValidationError

    # load_pipeline_component_batch_deployment is not exported by azure.ai.ml itself
    load = getattr(azure.ai.ml, loader, None) or getattr(_load_functions, loader)
    try:
        job = load(path)
        validate = getattr(job, "_validate", None)  # the SDK's offline semantic checks
        result = validate() if validate else None
    except (ValidationError, ValidationException, ValueError) as err:
        raise SdkProblems(sdk_problems(err, shown, raw)) from None
    if result is not None and not result.passed:
        problems: List[str] = []
        for path, message in result.error_messages.items():
            if _first_json(message) is not None:
                problems += sdk_problems(message, shown, raw)
            else:
                line = _line_of_path(raw, path)
                where = f"{shown}:{line}" if line else shown
                problems.append(f"{where}: {path}: {_flat(message)}")
        raise SdkProblems(problems)
    return job


def passes_as_job(data: Dict[str, Any], path: Path) -> bool:
    """Whether azure.ai.ml.load_job and the job's `_validate()` accept `data` as if it
    were written to `path` (relative paths resolved from its folder, which must exist
    with what they name), without writing or parsing YAML: the steps load_job takes
    after reading the file (azure/ai/ml/entities/_load_functions.py load_common).

    Only a clean pass is answered: False on any problem, exception, or an SDK without
    those steps, and then the caller writes the file and calls load_native, whose
    messages name the file's lines exactly as before. `data` is plain YAML data (what
    yamlfile.dump_yaml writes and yaml.safe_load reads back unchanged); it is not
    modified (the SDK gets a copy)."""
    try:
        from azure.ai.ml.entities import Job
        from azure.ai.ml.entities._load_functions import (
            _load_common_raising_marshmallow_error as load_from_dict,
        )

        copy = deepcopy(data)
        cls, _ = Job._resolve_cls_and_type(data=copy, params_override=[])
        job = load_from_dict(cls, copy, str(path), [])
        result = job._validate()
    except Exception:  # noqa: BLE001 - load_native, on the written file, says what it is
        return False
    return bool(result.passed)
