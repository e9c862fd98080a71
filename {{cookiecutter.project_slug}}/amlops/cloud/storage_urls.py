"""Storage URLs a job's inputs may name directly, as `make data-pull` reads them.

Azure ML accepts these path forms for job inputs (docs: "Access data in a job", the
supported paths table): `https://<account>.blob.core.windows.net/<container>/<path>`,
`wasbs://<container>@<account>.blob.core.windows.net/<path>` and
`abfss://<file system>@<account>.dfs.core.windows.net/<path>`. An https `uri_file` may
be any public file; a folder is a blob container prefix. An ADLS Gen2 file system is
also reachable through the account's blob endpoint (multi-protocol access), so all of
them are listed and downloaded with azure-storage-blob. `adl://` (Data Lake Gen1, which
Azure retired in 2024) is not pulled."""

import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlparse

from amlops.console import say
from amlops.diskspace import size_text
from amlops.errors import UserError

ACCOUNT_URL = re.compile(
    r"^(?P<scheme>wasbs?|abfss?)://(?P<container>[^@/]+)@(?P<host>[^/]+)/?(?P<path>.*)$"
)
FOLDER_TYPES = ("uri_folder", "mltable", "custom_model", "mlflow_model", "triton_model")


@dataclass(frozen=True)
class ContainerPath:
    """A prefix in a blob container: `account_url` (scheme://host), container, prefix."""

    account_url: str
    container: str
    prefix: str


def container_path(url: str) -> ContainerPath:
    """The blob container place of an https/http, wasbs/wasb or abfss/abfs URL.

    Raises UserError for another scheme or a URL without a container."""
    named = ACCOUNT_URL.match(url)
    if named:
        secure = named.group("scheme").endswith("s")
        host = named.group("host").replace(".dfs.", ".blob.")  # Gen2: the blob endpoint
        account = f"{'https' if secure else 'http'}://{host}"
        return ContainerPath(account, named.group("container"), unquote(named.group("path")))
    parsed = urlparse(url)
    account_url, path = f"{parsed.scheme}://{parsed.netloc}", parsed.path.lstrip("/")
    if _path_style(parsed.hostname or ""):  # an emulator: http://127.0.0.1:10000/<account>/...
        account, _, path = path.partition("/")
        account_url += f"/{account}"
    container, _, prefix = path.partition("/")
    if parsed.scheme in ("http", "https") and parsed.netloc and container:
        return ContainerPath(account_url, container, unquote(prefix))
    raise UserError(
        f"{url!r}: not a blob container URL (https://<account>.blob.core.windows.net/"
        "<container>/<path>, wasbs://<container>@<account>.blob.core.windows.net/<path> or"
        " abfss://<file system>@<account>.dfs.core.windows.net/<path>)"
    )


def _path_style(host: str) -> bool:
    """Whether a blob host names its account in the path (an IP address or localhost, as
    the Azurite emulator and azure-storage-blob's own URL parsing treat them)."""
    return host == "localhost" or bool(re.fullmatch(r"[0-9.]+|\[?[0-9a-fA-F:]+\]?", host))


def file_name(url: str) -> str:
    """The file name an https file is saved under (its last path segment)."""
    name = unquote(urlparse(url).path.rstrip("/").rpartition("/")[2])
    return name or "download"


def download_file(url: str, target: Path, label: str, timeout: float = 60.0) -> int:
    """GET `url` into `target` (a file), saying its size first and progress on the way
    (a line every 10 s, or a counter on a terminal); the byte count.

    Raises UserError (one line) for an HTTP error or an unreachable host."""
    request = urllib.request.Request(url, headers={"User-Agent": "amlops data-pull"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - https input
    except urllib.error.HTTPError as err:
        raise UserError(f"{label}: {url} answered HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(f"{label}: cannot reach {url}: {reason}") from None
    with response:
        total = int(response.headers.get("Content-Length") or 0)
        say(f"{label}: downloading {url} ({size_text(total) if total else 'size unknown'})")
        done, last = 0, time.monotonic()
        live = sys.stderr.isatty()
        with open(target, "wb") as out:
            while True:
                block = response.read(1 << 20)
                if not block:
                    break
                out.write(block)
                done += len(block)
                if live or time.monotonic() - last > 10:
                    last = time.monotonic()
                    share = f" of {size_text(total)}" if total else ""
                    text = f"amlops: {label}: {size_text(done)}{share}"
                    print(("\r" + text) if live else text, end="" if live else "\n",
                          file=sys.stderr, flush=True)  # fmt: skip
        if live:
            print(file=sys.stderr)
    if total and done != total:
        raise UserError(f"{label}: {url} ended after {done} of {total} bytes; run it again")
    return done


def is_folder(kind: Optional[str]) -> bool:
    """Whether an input of this type is a folder (a container prefix), not one file."""
    return (kind or "uri_folder") in FOLDER_TYPES
