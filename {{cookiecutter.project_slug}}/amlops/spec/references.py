"""References to things Azure ML keeps: `azureml:` assets and datastore paths, one parser.

The forms (Azure ML's docs, reference-yaml-core-syntax "Referencing an Azure ML entity"
and "Datastore URI"; the SDK's azure.ai.ml._utils._arm_id_utils and
azure.ai.ml.constants._common ARM_ID_PREFIX, REGISTRY_URI_FORMAT):

- `azureml:<name>[:<version>|@<label>]`: an asset in the workspace (form "workspace");
- `azureml://registries/<registry>/<kind>/<name>[/versions/<v>|/labels/<l>]`: an asset
  in a registry ("registry"; kind: environments, components, data, models);
- `azureml:/subscriptions/.../<kind>/<name>/versions/<v>`: an ARM id ("arm");
- `azureml://[<...>/]datastores/<store>/paths/<path>`: a path in a datastore ("datastore");
- `azureml://.../data/<name>/versions/<v>`: a data asset's long id ("asset_id").

Every reader and submitter takes these apart here (environments, data inputs,
registered components, validate, SDK v1), so the grammar is written once."""

import re
from dataclasses import dataclass
from typing import Optional

WORKSPACE = re.compile(
    r"azureml:(?!//)(?P<name>[^:@/]+)(?::(?P<version>[^:@/]+)|@(?P<label>[^:@/]+))?$"
)
REGISTRY = re.compile(
    r"azureml://registries/(?P<registry>[^/]+)/(?P<kind>[^/]+)/(?P<name>[^/]+)"
    r"(?:/versions/(?P<version>[^/]+)|/labels/(?P<label>[^/]+))?/?$"
)
ARM = re.compile(
    r"azureml:/subscriptions/.+/(?P<kind>[^/]+)/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$"
)
DATASTORE = re.compile(r"azureml://(?:.*/)?datastores/(?P<store>[^/]+)/paths/(?P<path>.*)$")
ASSET_ID = re.compile(r".*/data/(?P<name>[^/]+)/versions/(?P<version>[^/]*)")


@dataclass(frozen=True)
class Reference:
    """One parsed reference; fields a form does not have are empty strings."""

    form: str  # workspace, registry, arm, datastore or asset_id
    text: str
    name: str = ""
    version: str = ""
    label: str = ""
    registry: str = ""
    kind: str = ""  # environments, components, data, models (registry and arm forms)
    store: str = ""  # datastore form
    path: str = ""  # datastore form: the path inside the datastore

    @property
    def version_or_label(self) -> str:
        """The version, else the label (empty when neither is given)."""
        return self.version or self.label


def parse_reference(text: str) -> Optional[Reference]:
    """`text` taken apart, or None when it is none of the forms above."""
    for form, pattern in (
        ("datastore", DATASTORE),
        ("registry", REGISTRY),
        ("arm", ARM),
        ("workspace", WORKSPACE),
        ("asset_id", ASSET_ID),
    ):
        match = pattern.match(text)
        if match:
            found = {k: v or "" for k, v in match.groupdict().items()}
            return Reference(form, text, **found)
    return None


def workspace_asset(text: str) -> Optional[Reference]:
    """`azureml:<name>[:<version>|@<label>]` taken apart, else None."""
    found = parse_reference(text)
    return found if found is not None and found.form == "workspace" else None


def datastore_path(text: str) -> Optional[Reference]:
    """`azureml://[...]datastores/<store>/paths/<path>` taken apart, else None."""
    found = parse_reference(text)
    return found if found is not None and found.form == "datastore" else None


def asset_name(text: str) -> Optional[str]:
    """The data asset an `azureml:<name>...` or `.../data/<name>/versions/...` path names."""
    found = parse_reference(text)
    if found is not None and (found.form in ("workspace", "asset_id") or found.kind == "data"):
        return found.name
    return None
