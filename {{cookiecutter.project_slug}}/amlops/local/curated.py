"""What a venv installs to stand in for one of Azure ML's curated environments.

A curated environment (`azureml:AzureML-<name>@latest`, `azureml://registries/azureml/
environments/<name>/...`, or its image `mcr.microsoft.com/azureml/curated/<name>:<tag>`)
is an image on Microsoft's registry, built from a conda file or requirements file that
Microsoft publishes in its azureml-assets repository. The venv runtime installs that
published list (amlops.local.curated_packages holds the common training and inference
environments', with the commit they were read at), cached by content like any venv, and
says in one short line what still differs, counting what it left out; the run's run.json
(`environment_detail`), and the line itself with VERBOSE=1, name each. Left out:
- Azure ML's SDK v1 and service packages (azureml-core, azureml-defaults, ...): large,
  with pins that break a modern venv, and of no use to a local run; azureml-mlflow is
  installed as mlflow-skinny, the MLflow it brings;
- GPU-only packages (a CUDA torch, onnxruntime-gpu, horovod, nvidia-*, TensorFlow's
  `and-cuda` extra): gigabytes, and nothing to run them on a laptop;
- the tools of Azure ML's interactive sessions (debugpy, py-spy, ipykernel, the
  TensorBoard profiler plugin), and scikit-learn-intelex (Intel's accelerated
  scikit-learn: large; scikit-learn itself is installed);
- the venv's own pip, setuptools and wheel.
When the venv's Python is not the environment's, only the pins of the environment's
own framework (e.g. scikit-learn~=1.5.0) are kept, and only where they have wheels for
the venv's Python: the others (numpy~=1.22.0 of Python 3.10) often have none, and a
source build fails or takes long. VENV_PYTHON=<that Python> installs every pin as
published.

A project adds a list for a curated environment amlops does not know, or replaces one
it ships, with a requirements file `<CURATED_ENVIRONMENTS>/<name>.txt` (default folder
environments/curated/), installed as written. Per job, packages are added the way Azure
ML's docs customise a curated environment: a Dockerfile `FROM` the curated image that
pip-installs a requirements file (`environment: {build: ...}`): the venv installs the
curated list plus that file."""

import difflib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from amlops.project import Project
from amlops.spec.environment import CURATED_PREFIX, CURATED_REGISTRY

# The folder of a project's own lists, when CURATED_ENVIRONMENTS is not set.
DEFAULT_FOLDER = "environments/curated"
# Suffixes older curated names carry (AzureML-sklearn-1.0-ubuntu20.04-py38-cpu).
OS_SUFFIX = re.compile(r"-ubuntu\d+(?:\.\d+)?(?:-py\d+)?(?:-(?:cpu|gpu|cuda[\d.]*))*$")
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*$")
VENV_OWN = {"python", "pip", "setuptools", "wheel"}
SDK_PACKAGES = {"azure-ml", "azure-ml-component"}  # besides every azureml-*
STAND_INS = {"azureml-mlflow": "mlflow-skinny"}
GPU_ONLY = {
    "torch",
    "onnxruntime-gpu",
    "onnxruntime-training",
    "horovod",
    "deepspeed",
    "apex",
    "flash-attn",
    "triton",
    "cupy",
    "bitsandbytes",
}
GPU_EXTRAS = {"and-cuda", "cuda"}
SESSION_TOOLS = {"debugpy", "py-spy", "ipykernel", "torch-tb-profiler"}
TOO_LARGE = {"scikit-learn-intelex"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def curated_name(reference_name: str = "", image: str = "") -> str:
    """The curated environment's short name (lowercase, no `AzureML-` prefix) from its
    reference's name or its mcr image; "" when `image` is no curated image."""
    if reference_name:
        short = reference_name
        if short.startswith(CURATED_PREFIX):
            short = short[len(CURATED_PREFIX) :]
        return short.lower()
    prefix = CURATED_REGISTRY + "/"
    if image.startswith(prefix):
        return re.split(r"[:@]", image[len(prefix) :], 1)[0].lower()
    return ""


def closest_known(name: str, known: List[str]) -> str:
    """The known curated name (curated_name's form) closest to an unknown `name`, as
    difflib sees it, "" when none is close or `name` is known: compared without the
    `-ubuntu...` tail first (`sklearn-1.5-ubuntu22.04-py39-cpux` is sklearn-1.5's, not
    that of another environment whose name shares the tail), then whole."""
    if not name or name in known or any(c in known for c in _candidates(name)):
        return ""

    def head(text: str) -> str:
        return text.split("-ubuntu", 1)[0]

    by_head: Dict[str, str] = {}
    for key in known:
        by_head.setdefault(head(key), key)
    close = difflib.get_close_matches(head(name), list(by_head), n=1)
    if close:
        return by_head[close[0]]
    close = difflib.get_close_matches(name, known, n=1)
    return close[0] if close else ""


def did_you_mean(written: str, name: str, known: List[str]) -> str:
    """` (did you mean '<written with the closest known name>'?)` for an unknown curated
    environment `name` (curated_name's form) as the file wrote it (`written`: a reference
    or an image); "" when no known name is close."""
    key = closest_known(name, known)
    at = written.lower().find(name)
    if not key or at < 0:
        return ""
    tail = OS_SUFFIX.search(name)
    if tail and not OS_SUFFIX.search(key):  # keep the OS tail the file wrote (-ubuntu20.04-...)
        key += tail.group()
    return f" (did you mean {written[:at] + key + written[at + len(name):]!r}?)"


def shipped_names() -> List[str]:
    """The curated environments amlops ships a package list for."""
    from amlops.local.curated_packages import ENVIRONMENTS

    return list(ENVIRONMENTS)


def known_names(project: Project) -> List[str]:
    """The curated environments the venv has a list for: shipped and the project's own."""
    own = user_folder(project)
    mine = sorted(p.stem.lower() for p in own.glob("*.txt")) if own.is_dir() else []
    return shipped_names() + [n for n in mine if n not in shipped_names()]


def user_folder(project: Project) -> Path:
    """Where a project keeps its own curated lists (CURATED_ENVIRONMENTS)."""
    return project.root / (project.settings.get("CURATED_ENVIRONMENTS") or DEFAULT_FOLDER)


@dataclass
class CuratedPackages:
    """What the venv installs for a curated environment.

    `lines` are requirement lines (a user's list as `-r <absolute path>`); `summary` is
    the part of the venv's notice in full (each package left out and why, dropped
    pins, the image's OS), for VERBOSE=1 and run.json; brief() is its short form.
    `known` is False when no list was found (then `lines` is empty). `installs` names
    the lines briefly ("12 of the packages Microsoft publishes for it", or for an
    unknown name how to add a list); `unpinned`: pins were dropped for the venv's
    Python."""

    name: str
    lines: List[str]
    summary: str
    known: bool = True
    source: str = ""
    left_out: Dict[str, List[str]] = field(default_factory=dict)
    installs: str = ""
    unpinned: bool = False

    def brief(self, plus: str = "", steps: bool = False) -> str:
        """What the venv installs and lacks in a few words (the notice after 'venv
        stands in for X: '): `plus`, the Dockerfile's own requirement files; `steps`, a
        Dockerfile's other steps (which do not run). E.g. 'installs 12 of the packages
        Microsoft publishes for it (pins loosened); not 10 others nor the image's OS
        libraries (VERBOSE=1: in full)': about 200 characters in all."""
        if not self.known:
            head = f"installs {plus} only; " if plus else ""
            tail = "; not its other Dockerfile steps" if steps else ""
            return f"{head}{self.installs}{tail}"
        left = sum(len(names) for names in self.left_out.values())
        lacking = ([f"{left} others"] if left else []) + ["the image's OS libraries"]
        if steps:
            lacking[-1:] = ["OS libraries", "other Dockerfile steps"]
        lacks = lacking[0] if len(lacking) == 1 else f"{', '.join(lacking[:-1])} nor {lacking[-1]}"
        pins = " (pins loosened)" if self.unpinned else ""
        more = " (VERBOSE=1: in full)" if left or self.unpinned else ""
        return f"installs {plus + ' + ' if plus else ''}{self.installs}{pins}; not {lacks}{more}"


def _candidates(name: str) -> List[str]:
    stripped = OS_SUFFIX.sub("", name)
    return [name] + ([stripped] if stripped != name else [])


def _sorted_lines(entry: dict, python: str) -> Tuple[List[str], Dict[str, List[str]], List[str]]:
    """(lines to install, left out by reason, packages whose pins were dropped) for a
    venv of Python `python` (major.minor; "" when unknown: taken as the published one)."""
    published = [str(x) for x in entry.get("conda", [])] + [str(x) for x in entry["pip"]]
    same_python = not python or python == entry["python"]
    framework = set()
    if python in entry.get("framework_pythons", "").split():
        framework = {_canonical(n) for n in entry.get("framework", [])}
    names = {_canonical(REQUIREMENT.match(x).group(1)) for x in published if REQUIREMENT.match(x)}
    lines: List[str] = []
    left: Dict[str, List[str]] = {}
    unpinned: List[str] = []
    for line in published:
        match = REQUIREMENT.match(line)
        if not match:
            lines.append(line)
            continue
        name, extras, spec = match.group(1), match.group(2) or "", match.group(3)
        key = _canonical(name)
        spec = re.sub(r"^=(?!=)", "==", spec)  # conda's `pandas=2.2.2`
        if key in VENV_OWN:
            left.setdefault("the venv's own", []).append(name)
            continue
        if key in STAND_INS:
            left.setdefault(f"installed as {STAND_INS[key]}", []).append(name)
            if not ({"mlflow", "mlflow-skinny"} & names):
                lines.append(STAND_INS[key])
            continue
        if key.startswith("azureml-") or key in SDK_PACKAGES:
            left.setdefault("Azure ML SDK v1 and services", []).append(name)
            continue
        if key in GPU_ONLY or key.startswith("nvidia-"):
            left.setdefault("GPU-only", []).append(name)
            continue
        if key in SESSION_TOOLS:
            left.setdefault("interactive-session tools", []).append(name)
            continue
        if key in TOO_LARGE:
            left.setdefault("too large", []).append(name)
            continue
        if extras:
            kept = [e.strip() for e in extras[1:-1].split(",") if e.strip()]
            gpu = [e for e in kept if e.lower() in GPU_EXTRAS]
            if gpu:
                left.setdefault("GPU-only", []).append(f"{name}[{','.join(gpu)}]")
            kept = [e for e in kept if e.lower() not in GPU_EXTRAS]
            extras = f"[{','.join(kept)}]" if kept else ""
        if spec and not same_python and key not in framework:
            unpinned.append(name)
            spec = ""
        lines.append(f"{name}{extras}{spec}")
    return lines, left, unpinned


def _left_out_text(left: Dict[str, List[str]]) -> str:
    return "; ".join(f"{why}: {', '.join(names)}" for why, names in left.items())


def curated_packages(project: Project, name: str, written: str = "") -> CuratedPackages:
    """The venv's packages for curated environment `name` (curated_name's form): the
    project's own list when it has one, else the shipped list, else none (known=False,
    with a summary saying how to add one, and the closest known name to `written`, the
    reference or image as the file wrote it)."""
    from amlops.local.curated_packages import ENVIRONMENTS, SOURCE

    folder = user_folder(project)
    for candidate in _candidates(name):
        own = folder / f"{candidate}.txt"
        if own.is_file():
            return CuratedPackages(
                candidate,
                [f"-r {own}"],
                f"the project's list {project.relative(own)} (as written)",
                source=project.relative(own),
                installs=f"the project's list {project.relative(own)}",
            )
    for candidate in _candidates(name):
        entry = ENVIRONMENTS.get(candidate)
        if entry is None:
            continue
        have = _venv_python_version(project)
        lines, left, unpinned = _sorted_lines(entry, have)
        summary = (
            f"the Python packages Microsoft publishes for {candidate} ({SOURCE}"
            f" {entry['commit'][:8]}): {len(lines)} installed"
        )
        if left:
            summary += f"; left out: {_left_out_text(left)}"
        if unpinned:
            kept = [n for n in entry["framework"] if n not in unpinned]
            summary += (
                f"; python {entry['python']} published, the venv has {have}: pins kept only"
                f" for {', '.join(kept) or 'none'} (VENV_PYTHON=python{entry['python']}"
                " installs them as published)"
            )
        summary += f"; not in the venv: {entry['image_has']}, the image's system libraries"
        return CuratedPackages(
            candidate,
            lines,
            summary,
            source=f"curated {candidate} ({SOURCE})",
            left_out=left,
            installs=f"{len(lines)} of the packages Microsoft publishes for it",
            unpinned=bool(unpinned),
        )
    shown = project.relative(folder / f"{name}.txt")
    hint = did_you_mean(written or name, name, known_names(project))
    return CuratedPackages(
        name,
        [],
        f"amlops has no package list for curated environment {name!r}{hint}, so the venv has"
        f" only the job's declared packages; add its list as {shown} (requirements"
        " format, from azureml-assets' context/ of that environment)",
        known=False,
        installs=f"no package list known for it{hint}: add one as {shown}",
    )


def _venv_python_version(project: Project) -> str:
    from amlops.local.venvs import python_version

    return python_version(project.settings.get("VENV_PYTHON") or sys.executable)


def dockerfile_base(text: str) -> Optional[str]:
    """The image of a Dockerfile's first FROM, with `ARG` defaults substituted
    (`FROM ${BASE_IMAGE}` after `ARG BASE_IMAGE=...`); None when it has no FROM."""
    args: Dict[str, str] = {}
    for line in re.sub(r"\\\n", " ", text).splitlines():
        words = line.split()
        if not words:
            continue
        if words[0].upper() == "ARG" and len(words) > 1 and "=" in words[1]:
            key, _, value = words[1].partition("=")
            args[key] = value.strip("\"'")
        if words[0].upper() == "FROM":
            image = [w for w in words[1:] if not w.startswith("--")]
            if not image:
                return None
            return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image[0])
    return None
