"""The rows every export reads: a version's entries in code-point order of their paths."""

from __future__ import annotations

from collections.abc import Iterator
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

if TYPE_CHECKING:
    from packager.models import PackageVersion

TEXT = "text"
POINTER = "pointer"


class Row(NamedTuple):
    position: int
    path: str
    kind: str
    size: int
    sha256: str
    md5: str
    etag: str
    version_id: str
    key: str
    text_name: str
    source_kind: str | None
    bucket: str | None
    # The path as it follows a share's resolve base, percent-encoded once for every format.
    link: str

    @property
    def is_text(self) -> bool:
        return self.kind == TEXT


def rows(version: PackageVersion) -> Iterator[Row]:
    """Every entry of the version, read in chunks off the (version, position) index."""
    fields = [*Row._fields[:-3], "source__kind", "source__bucket"]
    for values in version.entries.order_by("position").values_list(*fields).iterator(chunk_size=5000):
        yield Row._make((*values, resolve_path(values[1])))


def resolve_path(path: str) -> str:
    """A path as it appears after a share's resolve base ("…/s/<token>/r/"): percent-encoded
    segment by segment, so it is plain ASCII."""
    return quote(path, safe="/")


def resolve_url(base: str, path: str) -> str:
    """base ends with "/"."""
    return base + resolve_path(path)


def json_string(value: str) -> str:
    """A JSON string, or null for "" — what json.dumps(value or None, ensure_ascii=False)
    writes, from the same C function, without json.dumps' per-call overhead (it counts at a
    million rows times three formats)."""
    return encode_basestring(value) if value else "null"
