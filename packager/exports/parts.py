"""Parts: what an export computes once per version, kept as compressed chunks.

A part is a byte string of any length (the ZIP's local entries, urls.txt, ...) written
once at publish time and streamed at download time with flat memory. Exports that carry
a share's own links (urls.txt, the manifest, datapackage.json) cannot be computed for a
share in advance: the same version is served by several shares, under several hosts. Their
parts hold BASE, a byte that never occurs in them otherwise (paths and JSON strings carry
no control characters), where the share's resolve base goes; swapping it in is one C-level
`bytes.replace` per chunk, and a part's length for any base follows from its length and
its number of marks.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from packager.models import PackageVersion

BASE = "\x00"
_BASE_BYTES = BASE.encode()
CHUNK_BYTES = 1 << 20
# Chunks are small next to their data, so compressing fast (level 1) beats compressing hard.
_LEVEL = 1


class PartWriter:
    """Appends to one part of a version, flushing a compressed chunk every megabyte."""

    def __init__(self, version: PackageVersion, name: str) -> None:
        self.version = version
        self.name = name
        self.size = 0
        self.marks = 0
        self._buffer = bytearray()
        self._pending: list[str] = []
        self._index = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        if len(self._buffer) >= CHUNK_BYTES:
            self._flush()

    def write_text(self, text: str, *, marks: int = 0) -> None:
        """Text holding `marks` BASE marks (the caller counts them: it put them there).
        Encoded a thousand pieces at a time: one call instead of a thousand."""
        self.marks += marks
        self._pending.append(text)
        if len(self._pending) >= 1000:
            self._encode_pending()

    def _encode_pending(self) -> None:
        if self._pending:
            text, self._pending = "".join(self._pending), []
            self.write(text.encode())

    def _flush(self) -> None:
        from packager.models import ExportPart

        if not self._buffer:
            return
        ExportPart.objects.create(
            package_version=self.version, name=self.name, index=self._index, data=zlib.compress(self._buffer, _LEVEL)
        )
        self._index += 1
        self._buffer = bytearray()

    def close(self) -> dict[str, int]:
        self._encode_pending()
        self._flush()
        return {"size": self.size, "marks": self.marks}


def read(version: PackageVersion, name: str) -> Iterator[bytes]:
    """The part's bytes, a chunk at a time (one query, read as it goes)."""
    from packager.models import ExportPart

    chunks = (
        ExportPart.objects.filter(package_version=version, name=name)
        .order_by("index")
        .values_list("data", flat=True)
        .iterator(chunk_size=2)
    )
    for chunk in chunks:
        yield zlib.decompress(chunk)


def render(version: PackageVersion, name: str, base: bytes) -> Iterator[bytes]:
    """The part with every BASE mark replaced by `base`."""
    for chunk in read(version, name):
        yield chunk.replace(_BASE_BYTES, base)


def rendered_size(info: dict[str, Any], base: bytes) -> int:
    return int(info["size"]) + int(info["marks"]) * (len(base) - 1)
