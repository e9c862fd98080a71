"""How a job's environment runs on this machine.

Docker runs what Azure ML would run:
- `build:` -> `docker build` of that context with its `dockerfile_path`;
- `image:` -> that image (pulled when absent);
- `image:` + `conda_file:` -> the image with the conda environment built on top,
  the way Azure ML's image builder does it (CONDA_DOCKERFILE);
- curated / `azureml` registry environments -> their mcr.microsoft.com image;
- workspace environments -> looked up in the workspace (needs a login), or
  LOCAL_IMAGE=<image> to run in an image of your choice.
The venv runtime stands in with what pip can install (the requirements files
of a build context, the pip part of a conda file, the published package list of a
curated environment: amlops.local.curated) and says in one line what differs."""

import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from amlops.console import verbose
from amlops.errors import UserError
from amlops.local.curated import curated_name, curated_packages, dockerfile_base
from amlops.project import Project
from amlops.spec.environment import EnvironmentSpec
from amlops.spec.job import JobSpec
from amlops.textfile import read_text
from amlops.yamlfile import plain

# What Azure ML's image builder does for `image:` + `conda_file:`, from its generated
# Dockerfile (seen in Azure ML image build logs): the conda file, renamed
# azureml_<hash>, is created as a prefix environment under /azureml-envs/ and put
# first on PATH; no `conda activate`. {env} is that name, {conda} the copied file.
# The first RUN is amlops's own: an image without conda fails there, and the build's
# error line quotes CONDA_CHECK (Azure ML's build fails too: its builder runs the
# image's `conda`); DockerRuntime turns that into one line (no_conda_error) instead of
# exit 127 deep in the build output.
CONDA_CHECK = "command -v conda >/dev/null 2>&1"
CONDA_DOCKERFILE = """\
FROM {image}
USER root
RUN command -v conda >/dev/null 2>&1 || {{ echo "no conda in {image}" >&2; exit 127; }}
COPY {conda} azureml-environment-setup/{conda}
RUN conda env create -p /azureml-envs/{env} -f azureml-environment-setup/{conda} \\
    && rm -rf "$HOME/.cache/pip" && conda clean -aqy
ENV PATH=/azureml-envs/{env}/bin:$PATH \\
    AZUREML_CONDA_ENVIRONMENT_PATH=/azureml-envs/{env} \\
    LD_LIBRARY_PATH=/azureml-envs/{env}/lib:$LD_LIBRARY_PATH \\
    AZUREML_ENVIRONMENT_IMAGE=True
"""
CONDA_FILE_NAME = "mutated_conda_dependencies.yml"
# Conda packages a venv provides itself.
VENV_PROVIDED = {"python", "pip", "setuptools", "wheel"}
# What the Python of a conda environment brings besides itself, so what the venv of a
# conda file installs too: conda adds pip to every Python (its add_pip_as_python_dependency
# setting, on by default), and the pip packages of conda-forge and Anaconda's channels
# depend on setuptools and wheel, except conda-forge's for Python 3.13 and later
# (conda-forge/pip-feedstock, "sunsetting pip deps", 2024). A uv venv has pip only on
# Python 3.12 and later, so a conda file's package that imports pkg_resources or
# setuptools (gunicorn 20, which azureml-defaults 1.x brings) would fail in it and not
# in the image Azure ML builds.
CONDA_SEED = ("pip", "setuptools", "wheel")
CONDA_SEED_UNTIL = (3, 13)  # from this Python on, conda's pip brings pip alone
CONDA_NAME = re.compile(r"^(?:[\w.-]+::)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")
REQUIREMENT_FILE = re.compile(r"(?:-r|--requirement)[ =]+(\S+)")


@dataclass
class DockerRecipe:
    """What `docker run` uses for a job, and how to get it.

    `context` is None when the image is run as it is (pulled if absent);
    otherwise the image is built from `context`/`dockerfile` (relative)."""

    image: str
    label: str
    context: Optional[Path] = None
    dockerfile: str = "Dockerfile"
    notice: str = ""
    generated: Dict[str, str] = field(default_factory=dict)  # files written into `context`
    # Raised instead of the build's error when the build failed on CONDA_CHECK.
    no_conda: Optional[UserError] = None


@dataclass
class VenvRecipe:
    """What a venv can install for a job: requirement lines (`-r` paths relative to
    `base_dir`), and one line on what differs from the job's environment."""

    requirement_lines: List[str]
    base_dir: Path
    notice: str = ""
    source: str = ""  # where the lines come from, for messages
    detail: str = ""  # the notice in full where it is a summary (run.json; VERBOSE=1 shows it)


def _workspace_error(spec: JobSpec, env: EnvironmentSpec) -> UserError:
    return UserError(
        f"{env.where}: environment {env.reference} is a workspace environment; log in"
        f" (az login, and set the workspace in config.env) so it can be looked up, or run"
        f" it locally in an image you have: LOCAL_IMAGE=<image> {spec.make_local()}"
    )


def resolve_environment(project: Project, spec: JobSpec) -> EnvironmentSpec:
    """The job's environment, with a workspace reference looked up in the workspace
    (project.workspace, handed in by the command line; without it nothing is looked up).

    Raises UserError when a workspace environment cannot be looked up."""
    env = spec.environment
    if env.kind != "workspace":
        return env
    found = project.workspace.environment(project, env) if project.workspace else None
    if found is None:
        raise _workspace_error(spec, env)
    return found


def no_conda_error(spec: JobSpec, env: EnvironmentSpec) -> UserError:
    """The one line for `image:` + `conda_file:` on an image that has no conda."""
    return UserError(
        f"{env.where}: image {env.image} has no conda, so its conda_file cannot be built"
        " (Azure ML's image build would fail too): use an image with conda, such as an"
        " Azure ML base image (mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04), run in an"
        f" image of your choice with LOCAL_IMAGE=<image>, or RUNTIME=venv (installs the conda"
        f" file's pip section): {spec.make_local()} RUNTIME=venv"
    )


def _conda_env_name(conda_text: str) -> str:
    return "azureml_" + hashlib.sha256(conda_text.encode()).hexdigest()[:32]


def conda_text(env: EnvironmentSpec) -> str:
    """The conda file as Azure ML builds it: the user's file named azureml_<hash>."""
    import yaml  # only for conda files: not on every local run's path

    conda = plain(env.conda_spec())
    conda["name"] = _conda_env_name(env.image + "\0" + yaml.safe_dump(conda, sort_keys=True))
    return yaml.safe_dump(conda, sort_keys=False)


def docker_recipe(
    project: Project, spec: JobSpec, env: Optional[EnvironmentSpec] = None
) -> DockerRecipe:
    """How Docker runs `spec`'s environment (LOCAL_IMAGE, when set, replaces it)."""
    override = project.settings.get("LOCAL_IMAGE")
    declared = spec.environment
    if override:
        return DockerRecipe(
            image=override,
            label=f"image {override}",
            notice=f"LOCAL_IMAGE={override} stands in for environment {declared.describe()}",
        )
    env = env or resolve_environment(project, spec)
    if env.kind == "build":
        assert env.context is not None
        dockerfile = env.context / env.dockerfile
        base = project.settings.get("BASE_IMAGE")
        ignored = base and dockerfile.is_file() and not declares_base_image(read_text(dockerfile))
        return DockerRecipe(
            image="",
            label=f"image built from {project.relative(dockerfile)}",
            context=env.context,
            dockerfile=env.dockerfile,
            notice=(
                f"BASE_IMAGE={base} does not reach {project.relative(dockerfile)}: it has no"
                " ARG BASE_IMAGE, so its own FROM is built (LOCAL_IMAGE=<image> runs the job"
                " in an image of yours instead)"
                if ignored
                else ""
            ),
        )
    if env.kind == "image" and env.has_conda:
        import yaml

        text = conda_text(env)
        name = yaml.safe_load(text)["name"]
        folder = project.runs / ".builds" / "conda" / name
        dockerfile = CONDA_DOCKERFILE.format(image=env.image, env=name, conda=CONDA_FILE_NAME)
        return DockerRecipe(
            image="",
            label=f"image {env.image} + conda environment /azureml-envs/{name}",
            context=folder,
            generated={"Dockerfile": dockerfile, CONDA_FILE_NAME: text},
            no_conda=no_conda_error(spec, env),
        )
    return DockerRecipe(image=env.image, label=f"image {env.image}")


def declares_base_image(dockerfile_text: str) -> bool:
    """Whether a Dockerfile has `ARG BASE_IMAGE`, the hook of the BASE_IMAGE setting."""
    return re.search(r"^\s*ARG\s+BASE_IMAGE\b", dockerfile_text, re.M | re.I) is not None


def _copied_files(text: str, context: Path) -> Dict[str, Path]:
    """Where the Dockerfile's COPY/ADD lines put context files: image path -> file."""
    copies: Dict[str, Path] = {}
    for line in re.sub(r"\\\n", " ", text).splitlines():
        words = line.split()
        if len(words) < 3 or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        sources, dest = args[:-1], args[-1]
        for source in sources:
            into_folder = dest.endswith("/") or len(sources) > 1
            target = f"{dest.rstrip('/')}/{Path(source).name}" if into_folder else dest
            copies[target] = context / source
    return copies


def requirement_files(context: Path, dockerfile: str) -> List[Path]:
    """Requirement files a Dockerfile installs (`pip install -r <file>`): followed
    through its COPY lines, else found in the context by name; else the context's
    requirements.txt."""
    text = (context / dockerfile).read_text(encoding="utf-8", errors="replace")
    copies = _copied_files(text, context)
    found: List[Path] = []
    for name in REQUIREMENT_FILE.findall(text):
        name = name.strip("\"'")
        by_name = [path for target, path in copies.items() if Path(target).name == Path(name).name]
        candidate = copies.get(name) or (by_name[0] if by_name else context / Path(name).name)
        if candidate.is_file() and candidate not in found:
            found.append(candidate)
    default = context / "requirements.txt"
    if not found and default.is_file():
        found.append(default)
    return found


def conda_pip_lines(conda: Dict[str, Any]) -> List[str]:
    """The `pip:` section of a conda environment's dependencies."""
    lines: List[str] = []
    for dep in conda.get("dependencies") or []:
        if isinstance(dep, dict):
            lines += [str(item) for item in dep.get("pip") or []]
    return lines


def conda_only(conda: Dict[str, Any]) -> List[str]:
    """Conda packages a venv cannot install (python, pip and the like excluded)."""
    missing: List[str] = []
    for dep in conda.get("dependencies") or []:
        if isinstance(dep, str):
            name = re.split(r"[=<>!~ ]", dep.split("::")[-1], 1)[0].lower()
            if name not in VENV_PROVIDED:
                missing.append(dep)
    return missing


def _conda_name_spec(dep: str) -> Tuple[str, str]:
    """(lowercase name, version spec as pip reads it) of a conda package line:
    `pip=23.0.1` -> ("pip", "==23.0.1.*") (conda's `=` matches that version and its
    sub-versions), `conda-forge::setuptools<82` -> ("setuptools", "<82"),
    `wheel 0.41.2 pyhd8ed1ab_0` -> ("wheel", "==0.41.2.*"), `pip==23.0.1=py_0` ->
    ("pip", "==23.0.1"): a build string is dropped."""
    match = CONDA_NAME.match(dep.strip())
    if not match:
        return "", ""
    name, spec = match.group(1).lower(), match.group(2).strip()
    if spec and spec[0].isdigit():  # `name 1.2 build`: conda's space-separated form
        spec = "=" + spec.split()[0]
    exact = spec.startswith("==")
    if spec.startswith("=") and not exact:
        version = spec[1:].split("=")[0].strip()
        return name, f"=={version.rstrip('.*')}.*" if version else ""
    if exact:
        return name, "==" + spec[2:].split("=")[0].strip()
    return name, spec.replace(" ", "")


def _conda_python(conda: Dict[str, Any]) -> Optional[Tuple[int, int]]:
    """(major, minor) the conda file pins its Python to (`python=3.9`, `python==3.12.1`);
    None when it pins none or only a range."""
    for dep in conda.get("dependencies") or []:
        match = re.fullmatch(r"python\s*=+\s*(\d+)\.(\d+)[.\d*]*", str(dep).strip())
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def conda_seed_lines(conda: Dict[str, Any], venv_python: str) -> List[str]:
    """What the conda environment's Python brings besides the file's packages (see
    CONDA_SEED), as requirement lines: pip, and setuptools and wheel when the
    environment's Python (the file's `python=` pin, else the venv's `venv_python`,
    major.minor) is older than 3.13. A version the file pins among its conda packages is
    kept (`pip=23.0.1`, `setuptools<82`); one its pip section names is left to that
    section, which pip installs last in Azure ML's build too."""
    pinned_python = _conda_python(conda)
    if pinned_python is None and venv_python:
        major, _, minor = venv_python.partition(".")
        pinned_python = (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None
    wanted = list(CONDA_SEED)
    if pinned_python is not None and pinned_python >= CONDA_SEED_UNTIL:
        wanted = ["pip"]
    specs: Dict[str, str] = {}
    for dep in conda.get("dependencies") or []:
        if isinstance(dep, str):
            name, spec = _conda_name_spec(dep)
            if name in wanted:
                specs[name] = spec
    in_pip_section = set()
    for line in conda_pip_lines(conda):
        match = CONDA_NAME.match(line.strip())
        if match:
            in_pip_section.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return [name + specs.get(name, "") for name in wanted if name not in in_pip_section]


def _python_differs(project: Project, conda: Dict[str, Any]) -> str:
    """`; python=3.10 asked, the venv has 3.11` when the conda file pins another Python."""
    from amlops.local.venvs import python_version

    for dep in conda.get("dependencies") or []:
        match = re.fullmatch(r"python\s*=+\s*(\d+\.\d+)[.\d*]*", str(dep).strip())
        if match:
            have = python_version(project.settings.get("VENV_PYTHON", sys.executable))
            if have and have != match.group(1):
                return f"; python={match.group(1)} asked, the venv has {have} (VENV_PYTHON)"
    return ""


def _summarised(lines: List[str], base_dir: Path, short: str, full: str, source: str) -> VenvRecipe:
    """A recipe whose notice is `short` (about 200 characters: what is installed, what
    is not, how to choose otherwise), or `full` with VERBOSE=1; `full` is its detail."""
    return VenvRecipe(lines, base_dir, full if verbose() else short, source, detail=full)


def venv_recipe(project: Project, spec: JobSpec) -> VenvRecipe:
    """What a venv can install for `spec`'s environment, and what it leaves out."""
    env = spec.environment
    if spec.spark is not None:  # spec/spark.py: an inline conda env of pyspark + the job's pip
        lines = conda_pip_lines(env.conda_spec())
        extra = f" + {len(lines) - 1} pip packages of the job's environment" if lines[1:] else ""
        return VenvRecipe(
            lines,
            spec.folder,
            f"venv for a Spark job: {lines[0]}{extra} and the system's Java",
            source="the Spark job's pyspark",
        )
    if env.kind == "workspace" and not project.settings.get("LOCAL_IMAGE"):
        env = resolve_environment(project, spec)
    shown = env.describe()
    if env.kind == "build":
        assert env.context is not None
        files = requirement_files(env.context, env.dockerfile)
        lines = [f"-r {f.relative_to(env.context).as_posix()}" for f in files]
        installed = ", ".join(project.relative(f) for f in files) or "no requirements file"
        shown_file = project.relative(env.context / env.dockerfile)
        source = ", ".join(project.relative(f) for f in files)
        base = dockerfile_base(read_text(env.context / env.dockerfile)) or ""
        name = curated_name(image=base)
        if name:  # Azure's way to add packages to a curated environment
            curated = curated_packages(project, name, base)
            own = ", ".join(f.relative_to(env.context).as_posix() for f in files)
            return _summarised(
                curated.lines + lines,
                env.context,
                f"venv stands in for {shown_file} (FROM curated {name}):"
                f" {curated.brief(own, steps=True)}",
                f"venv stands in for the image of {shown_file} (FROM curated {name}): installs"
                f" {installed}{' and ' if curated.known else '; '}{curated.summary}; the"
                " Dockerfile's other steps do not run",
                source=", ".join(s for s in (curated.source, source) if s),
            )
        return VenvRecipe(
            lines,
            env.context,
            f"venv stands in for the image of {shown_file}:"
            f" installs {installed}; the Dockerfile's other steps do not run",
            source=source,
        )
    if env.kind == "image" and env.has_conda:
        from amlops.local.venvs import python_version

        conda = env.conda_spec()
        lines = conda_pip_lines(conda)
        missing = conda_only(conda)
        left_out = f"; conda-only packages not installed: {', '.join(missing)}" if missing else ""
        left_out += _python_differs(project, conda)
        base = env.conda_file.parent if env.conda_file else spec.folder
        seed = conda_seed_lines(
            conda, python_version(project.settings.get("VENV_PYTHON", sys.executable))
        )
        brought = f" and {', '.join(seed)} as conda's Python brings them" if seed else ""
        return VenvRecipe(
            lines + seed,
            base,
            f"venv stands in for image {env.image} + conda: installs the conda file's pip"
            f" packages ({len(lines)}){brought}{left_out}",
            source=project.relative(env.conda_file) if env.conda_file else "inline conda_file",
        )
    name = (
        curated_name(env.name)
        if env.kind == "curated"
        else curated_name(image=env.image) if env.kind == "image" else ""
    )
    if name:
        curated = curated_packages(project, name, env.reference or env.image)
        return _summarised(
            curated.lines,
            spec.folder,
            f"venv stands in for curated {name}: {curated.brief()}; RUNTIME=docker runs the"
            " image",
            f"venv stands in for {shown}{' with ' if curated.known else ': '}{curated.summary}"
            " (RUNTIME=docker runs the image)",
            source=curated.source,
        )
    return VenvRecipe(
        [],
        spec.folder,
        f"venv stands in for {shown}: none of the image's packages are installed"
        " (RUNTIME=docker runs the image; LOCAL_IMAGE=<image> names one to use here)",
    )
