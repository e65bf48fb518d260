"""Logical paths inside a package.

A logical path becomes a file name on a collaborator's disk (in the ZIP, from wget -x),
so it is normalized strictly: "/"-separated, no empty, "." or ".." segments, no control,
bidi-override or zero-width characters, no backslashes, Unicode NFC.

Some names run code on the collaborator's machine once the files land there: a `.git/config`
unzipped or fetched with `wget -x` into a folder becomes the configuration of a repository
(`core.fsmonitor` runs a command on the next `git status`), and the git and DVC repositories
packager builds own `.gitattributes`, `.gitmodules`, `.dvc/` and `.datalad/`. Such names are
refused at any depth, in every spelling a file system reads as them (see `reserved_name`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sources.names import invisible_characters, visible
from web.errors import ApplicationError

MAX_PATH = 1024
MAX_SEGMENT = 255
# Names the export writes at the top of the ZIP, and the suffix of pointer files.
RESERVED_TOP_LEVEL = frozenset({"urls.txt", "manifest.jsonl", "datapackage.json", "HOW-TO-DOWNLOAD.md"})
POINTER_SUFFIX = ".pointer.json"


# Names a repository tool acts on, at any depth, compared after folding (see reserved_name).
RESERVED_NAMES = frozenset({".git", ".gitattributes", ".gitmodules", ".dvc", ".datalad"})
# Windows' 8.3 short names for them: "GIT~1", "GITMOD~1", "DATALA~1", and the hashed form
# ("GI7EBA~1") NTFS makes when the simple ones are taken.
_SHORT_NAME = re.compile(r"(?:git|gitmod|gitatt|dvc|datala|(?:gi|dv|da)[0-9a-f]{4})~[0-9]+")
# Letters that look like those of the reserved names and that NFKC leaves alone (Cyrillic,
# Greek, IPA, small capitals), and dots that stand for ".".
_LOOK_ALIKES = str.maketrans(
    {
        "\u0261": "g", "\u0262": "g", "\u050d": "g", "\u0581": "g", "\u01e5": "g",
        "\u0131": "i", "\u0456": "i", "\u03b9": "i", "\u026a": "i", "\u0269": "i", "\u1fbe": "i",
        "\u0442": "t", "\u03c4": "t", "\u1d1b": "t", "\u01ab": "t",
        "\u0501": "d", "\u0257": "d", "\u1d05": "d",
        "\u03bd": "v", "\u0475": "v", "\u1d20": "v", "\u028b": "v",
        "\u0441": "c", "\u03f2": "c", "\u1d04": "c", "\u217d": "c",
        "\u0430": "a", "\u03b1": "a", "\u0251": "a", "\u1d00": "a",
        "\u04cf": "l", "\u029f": "l", "\u01c0": "l",
        "\u0435": "e", "\u03b5": "e", "\u1d07": "e",
        "\u043e": "o", "\u03bf": "o", "\u1d0f": "o",
        "\u0455": "s", "\ua731": "s",
        "\u0440": "r", "\u0433": "r", "\u0280": "r",
        "\u0443": "u", "\u03c5": "u", "\u1d1c": "u",
        "\u0431": "b", "\u0299": "b",
        "\u043c": "m", "\u1d0d": "m",
        "\u3002": ".", "\uff61": ".", "\u0701": ".", "\u0702": ".", "\ua4f8": ".", "\u2e31": ".",
    }
)  # fmt: skip


def _folded(segment: str) -> str:
    """The name a case-insensitive, Unicode-folding file system would store for `segment`."""
    if segment.isascii():  # the common case, quickly
        return segment.lower().partition(":")[0].rstrip(". ")
    # Decomposed first, so that accents ("ǵ") and compatibility forms ("．ｇ") come apart.
    folded = unicodedata.normalize("NFKD", segment).casefold().translate(_LOOK_ALIKES)
    # Marks and the characters macOS's HFS+ ignores in names go; then NTFS's "name:stream"
    # and the trailing dots and spaces Windows drops.
    folded = "".join(char for char in folded if unicodedata.category(char) not in {"Cf", "Mn", "Me"})
    folded = unicodedata.normalize("NFKC", folded).casefold().translate(_LOOK_ALIKES)
    return folded.partition(":")[0].rstrip(". ")


def reserved_name(segment: str) -> str:
    """The reserved name (".git", ".dvc"…) that a file system would read `segment` as, or ""."""
    folded = _folded(segment)
    if folded in RESERVED_NAMES:
        return folded
    # Without its leading dot, as Windows and some unzip tools write dotted names.
    if "." + folded.lstrip(".") in RESERVED_NAMES and folded.startswith("."):
        return "." + folded.lstrip(".")
    if _SHORT_NAME.fullmatch(folded):
        stem = folded.partition("~")[0]
        names = {"gitmod": ".gitmodules", "gitatt": ".gitattributes", "datala": ".datalad", "dvc": ".dvc"}
        return names.get(stem) or {"dv": ".dvc", "da": ".datalad"}.get(stem[:2], ".git")
    return ""


def reserved_in(path: str) -> str:
    """The reserved name a path holds as any of its folders or as its file name, or ""."""
    # In ASCII, only a segment starting with "." or a short name (with its "~") can fold to
    # a reserved name: most paths have neither and need no folding (the resolver asks this
    # for every file it redirects to).
    if path.isascii() and "~" not in path and not path.startswith(".") and "/." not in path:
        return ""
    for segment in path.split("/"):
        if name := reserved_name(segment):
            return name
    return ""


def first_reserved(paths: Iterable[str]) -> str:
    """The first of `paths` that holds a reserved name, or "" (for versions published before
    the rule, and drafts written before it)."""
    return next((path for path in paths if reserved_in(path)), "")


def reserved_message(path: str) -> str:
    return (
        f"“{visible(path)}” holds “{reserved_in(path)}”, a name reserved at any depth: git, DVC and DataLad "
        "act on files under that name on a collaborator's machine."
    )


def _refuse_reserved(raw: str, segment: str) -> None:
    if name := reserved_name(segment):
        spelled = "" if segment == name else f" (“{visible(segment)}” is read as “{name}”)"
        raise InvalidPath(
            f"“{visible(raw)}”: “{name}” is reserved at any depth{spelled}: git, DVC and DataLad act on "
            "files under that name on a collaborator's machine, so a package may not hold one."
        )


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
        _refuse_reserved(raw, segment)
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
        if invisible_characters(segment):
            raise InvalidPath(f"“{visible(raw)}”: invisible or text-direction characters are not allowed in paths.")
        _refuse_reserved(raw, segment)
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
