"""Read the user's text files so that a bad one is one line naming it, never a
UnicodeDecodeError traceback."""

from pathlib import Path

from amlops.errors import UserError


def read_text(path: Path, shown_as: str = "") -> str:
    """The UTF-8 text of `path` (a leading BOM dropped).

    Raises UserError naming the file (`shown_as`, default the path) when it cannot be
    read or is not UTF-8, so no user file ever ends in a UnicodeDecodeError traceback."""
    name = shown_as or str(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{name}: cannot read ({err.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UserError(
            f"{name}:{line}: not UTF-8 text (byte 0x{data[err.start]:02x});"
            " save the file as UTF-8"
        ) from None
