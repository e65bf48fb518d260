"""Logical paths inside a package.

A logical path becomes a file name on a collaborator's disk (in the ZIP, from wget -x),
so it is normalized strictly: "/"-separated, no empty, "." or ".." segments, no control,
bidi-override or zero-width characters, no backslashes, Unicode NFC.
"""

from __future__ import annotations

import unicodedata

from sources.names import invisible_characters, visible
from web.errors import ApplicationError

MAX_PATH = 1024
MAX_SEGMENT = 255
# Names the export writes at the top of the ZIP, and the suffix of pointer files.
RESERVED_TOP_LEVEL = frozenset({"urls.txt", "manifest.jsonl", "datapackage.json", "HOW-TO-DOWNLOAD.md"})
POINTER_SUFFIX = ".pointer.json"


class InvalidPath(ApplicationError, ValueError):
    """A path that cannot be in a package (422). A ValueError too: schema validators raise it."""


def normalize_path(raw: str) -> str:
    """A clean file path ("a/b.csv"), or InvalidPath saying what is wrong."""
    path = unicodedata.normalize("NFC", raw.strip())
    if "\\" in path:
        raise InvalidPath(f"“{raw}”: use / to separate folders (backslashes are not allowed).")
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        raise InvalidPath("The path is empty.")
    for segment in segments:
        if segment in {".", ".."}:
            raise InvalidPath(f"“{raw}”: “.” and “..” are not allowed in paths.")
        if any(ord(char) < 32 or ord(char) == 127 for char in segment):
            raise InvalidPath(f"“{visible(raw)}”: control characters are not allowed in paths.")
        if hidden := invisible_characters(segment):
            raise InvalidPath(
                f"“{visible(raw)}”: invisible or text-direction characters ({', '.join(hidden)}) are not "
                "allowed in paths: they make a name look like another one."
            )
        if len(segment) > MAX_SEGMENT:
            raise InvalidPath(f"“{raw}”: a file or folder name may be at most {MAX_SEGMENT} characters.")
    clean = "/".join(segments)
    if len(clean) > MAX_PATH:
        raise InvalidPath(f"“{raw[:80]}…”: paths may be at most {MAX_PATH} characters.")
    if clean in RESERVED_TOP_LEVEL:
        raise InvalidPath(f"“{clean}” is reserved at the top of a package for the download listing.")
    if clean.endswith(POINTER_SUFFIX):
        raise InvalidPath(f"Names ending in “{POINTER_SUFFIX}” are reserved for pointer files.")
    return clean


def normalize_folder(raw: str) -> str:
    """ "" for the top, else "a/b/"."""
    if not raw.strip().strip("/"):
        return ""
    path = unicodedata.normalize("NFC", raw.strip())
    segments = [segment for segment in path.split("/") if segment]
    for segment in segments:
        if segment in {".", ".."} or "\\" in segment or any(ord(c) < 32 or ord(c) == 127 for c in segment):
            raise InvalidPath(f"“{raw}” is not a valid folder path.")
    return "/".join(segments) + "/"


def ancestors(path: str) -> list[str]:
    """["a/", "a/b/"] for "a/b/c"."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: index + 1]) + "/" for index in range(len(parts))]


def add_to_folders(totals: dict[str, list[int]], path: str, size: int, count: int = 1) -> None:
    """Add a file's size and count to `totals` ({folder: [size, count]}) for every folder
    above it and for the whole package (the folder "")."""
    for folder in ("", *ancestors(path)):
        total = totals.setdefault(folder, [0, 0])
        total[0] += size
        total[1] += count
