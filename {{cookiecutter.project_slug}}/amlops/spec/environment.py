"""A job's `environment:` in every form Azure ML accepts, read and checked offline.

Forms (Azure ML v2 environment schema,
https://learn.microsoft.com/azure/machine-learning/reference-yaml-environment):
- `build: {path, dockerfile_path}`: a Docker build context (a local folder);
- `image: <ref>`, optionally with `conda_file:` (a path or an inline mapping);
- `file:<path>`: an environment YAML file holding one of the two forms above;
- `azureml:<name>:<version>` / `azureml:<name>@<label>`: a workspace environment,
  or a curated one when the name starts with `AzureML-`;
- `azureml://registries/<registry>/environments/<name>/versions/<v>` (or
  `/labels/<label>`): a registry environment; the `azureml` registry is
  Microsoft's curated set.

Curated environments are images on Microsoft's container registry:
`mcr.microsoft.com/azureml/curated/<name>:<version or latest>`, where <name>
is the environment name without its `AzureML-` prefix, lowercased.

Local and cloud code both import this module; it imports no Azure SDK."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from amlops.errors import UserError
from amlops.spec.checks import MissingField
from amlops.spec.references import parse_reference
from amlops.yamlfile import line_of, load_yaml

ENVIRONMENT_FIELDS = {
    "$schema",
    "name",
    "version",
    "description",
    "tags",
    "properties",
    "image",
    "conda_file",
    "build",
    "os_type",
    "inference_config",
    "datastore",
    "intellectual_property",
}
BUILD_FIELDS = {"path", "dockerfile_path"}
CURATED_REGISTRY = "mcr.microsoft.com/azureml/curated"
CURATED_PREFIX = "AzureML-"
# The name of a workspace environment (`azureml:<name>...`; the grammar is references.py's).
ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class EnvironmentSpec:
    """One job's environment.

    kind: "build" (context + dockerfile), "image" (image, maybe conda_file),
    "curated" (a Microsoft image named by `image`), or "workspace" (a reference
    only the workspace can resolve: `reference`). `declared_in` is the file the
    environment's paths are relative to (job.yaml, or the `file:` YAML)."""

    kind: str
    where: str
    declared_in: Path
    raw: Any = None
    image: str = ""
    conda_file: Optional[Path] = None
    conda_inline: Optional[Dict[str, Any]] = None
    context: Optional[Path] = None
    dockerfile: str = "Dockerfile"
    reference: str = ""
    name: str = ""
    version: str = ""
    label: str = ""
    source_file: Optional[Path] = None  # the `file:` YAML, when the job used that form

    @property
    def has_conda(self) -> bool:
        return self.conda_file is not None or self.conda_inline is not None

    def conda_spec(self) -> Dict[str, Any]:
        """The conda environment as a mapping (the file read, or the inline value)."""
        if self.conda_inline is not None:
            return self.conda_inline
        if self.conda_file is None:
            return {}
        data = load_yaml(self.conda_file, str(self.conda_file))
        if not isinstance(data, dict):
            raise UserError(f"{self.conda_file}: a conda file must be a mapping (dependencies:)")
        return data

    def describe(self) -> str:
        """One line naming the environment as the job declares it."""
        if self.kind == "build":
            return f"build {self.context} ({self.dockerfile})"
        if self.kind == "image":
            conda = ""
            if self.conda_file is not None:
                conda = f" + conda {self.conda_file.name}"
            elif self.conda_inline is not None:
                conda = " + inline conda"
            return f"image {self.image}{conda}"
        if self.kind == "curated":
            return f"{self.reference} (image {self.image})"
        return self.reference


def curated_image(name: str, version: str = "", label: str = "") -> str:
    """The mcr image of a curated environment (`AzureML-` prefix dropped, lowercased)."""
    short = name[len(CURATED_PREFIX) :] if name.startswith(CURATED_PREFIX) else name
    tag = version if version and not label else "latest"
    return f"{CURATED_REGISTRY}/{short.lower()}:{tag}"


def _fail(where: str, message: str) -> UserError:
    return UserError(f"{where}: {message}")


def _at_key(where: str, mapping: Any, key: str) -> str:
    """`where` ("file:line" of environment:) moved to the line of `key` in `mapping`
    when the file's loader recorded it (a field's own mistake names its own line)."""
    head, colon, line = where.rpartition(":")
    own = line_of(mapping, key)
    return f"{head}:{own}" if colon and line.isdigit() and own else where


def _local_path(base: Path, value: Any, where: str, what: str) -> Path:
    text = str(value)
    if text.startswith("file:"):
        text = text[len("file:") :]
    if re.match(r"^[a-z][a-z0-9+.-]*://", text) or text.startswith("azureml:"):
        raise _fail(where, f"{what} {value!r} is remote; only a local path can be used here")
    found = (base / text).resolve()
    if not found.exists():
        raise _fail(where, f"{what} {value!r} does not exist (looked at {found})")
    return found


def _named(text: str, base: Path, where: str, name: str, version: str, label: str, curated: bool):
    """A reference to a named environment: curated (an mcr image) or in a workspace."""
    if curated:
        image = curated_image(name, version, label)
        return EnvironmentSpec(
            "curated",
            where,
            base,
            text,
            image=image,
            reference=text,
            name=name,
            version=version,
            label=label,
        )
    return EnvironmentSpec(
        "workspace", where, base, text, reference=text, name=name, version=version, label=label
    )


def _parse_reference(text: str, base: Path, where: str) -> EnvironmentSpec:
    """`azureml://registries/...`, an ARM id, or `azureml:<name>[:<version>|@<label>]`."""
    found = parse_reference(text)
    if found is None or not (
        found.kind == "environments"
        or (found.form == "workspace" and ENVIRONMENT_NAME.fullmatch(found.name))
    ):
        raise _fail(
            where,
            f"environment {text!r} is not a form Azure ML accepts (azureml:<name>:<version>,"
            " azureml:<name>@latest, azureml://registries/..., file:<path> or a mapping"
            " with image: or build:)",
        )
    name, version, label = found.name, found.version, found.label
    if found.form == "registry":  # Microsoft's `azureml` registry holds the curated set
        curated = found.registry == "azureml"
    else:
        curated = found.form == "workspace" and name.startswith(CURATED_PREFIX)
    return _named(text, base, where, name, version, label, curated)


def _parse_mapping(raw: Dict[str, Any], base: Path, where: str) -> EnvironmentSpec:
    unknown = sorted(str(k) for k in raw if k not in ENVIRONMENT_FIELDS)
    if unknown:
        raise _fail(
            _at_key(where, raw, unknown[0]),
            f"environment: unknown field {unknown[0]!r} (see the environment schema)",
        )
    build, image = raw.get("build"), raw.get("image")
    if build and image:
        raise _fail(where, "environment: give image: or build:, not both (Azure ML refuses both)")
    if build:
        if not isinstance(build, dict) or not build.get("path"):
            raise _fail(where, "environment: build: needs path: (a folder with a Dockerfile)")
        extra = sorted(str(k) for k in build if k not in BUILD_FIELDS)
        if extra:
            raise _fail(
                where, f"environment: build: unknown field {extra[0]!r} (path, dockerfile_path)"
            )
        if raw.get("conda_file"):
            raise _fail(where, "environment: conda_file: goes with image:, not build:")
        context = _local_path(base, build["path"], _at_key(where, build, "path"), "build path")
        if not context.is_dir():
            raise _fail(where, f"environment: build path {build['path']!r} is not a folder")
        dockerfile = str(build.get("dockerfile_path") or "Dockerfile")
        if not (context / dockerfile).is_file():
            raise _fail(
                where,
                f"environment: {dockerfile} not found in the build context {build['path']!r}"
                + ("" if build.get("dockerfile_path") else " (set dockerfile_path:)"),
            )
        return EnvironmentSpec("build", where, base, raw, context=context, dockerfile=dockerfile)
    if not image or not isinstance(image, str):
        raise _fail(where, "environment: needs image: or build: (Azure ML needs one of them)")
    conda = raw.get("conda_file")
    conda_file, conda_inline = None, None
    if isinstance(conda, dict):
        conda_inline = conda
    elif conda:
        conda_file = _local_path(base, conda, _at_key(where, raw, "conda_file"), "conda_file")
    return EnvironmentSpec(
        "image", where, base, raw, image=image, conda_file=conda_file, conda_inline=conda_inline
    )


def parse_environment(value: Any, job_file: Path, where: str) -> EnvironmentSpec:
    """The environment of a job or component file; paths are relative to `job_file`'s folder.

    Raises UserError (one line, `where` first) for a form Azure ML would refuse,
    a missing build context, Dockerfile or conda file."""
    base = job_file.parent
    if value is None or value == "":
        # MissingField: dropped where `enviroment:` already said "did you mean 'environment'"
        raise MissingField(
            f"{where}: environment: is required (image:, build:, azureml:<name>:<version> or"
            " azureml:<name>@latest)",
            "environment",
        )
    if isinstance(value, dict):
        return _parse_mapping(value, base, where)
    if not isinstance(value, str):
        raise _fail(where, "environment: must be a mapping or a reference string")
    text = value.strip()
    if text.startswith("file:"):
        env_file = _local_path(base, text, where, "environment file")
        data = load_yaml(env_file, str(env_file))
        if not isinstance(data, dict):
            raise _fail(str(env_file), "an environment file must be a mapping (image: or build:)")
        spec = _parse_mapping(data, env_file.parent, f"{env_file} (from {where})")
        return EnvironmentSpec(**{**spec.__dict__, "raw": value, "source_file": env_file})
    return _parse_reference(text, base, where)
