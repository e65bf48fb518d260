"""sha256 and md5 of stored objects, without reading a petabyte by accident.

In order of cost: what packager computed before (ObjectChecksum, keyed by ETag and
version id, looked up in bulk by packager.checksumming); what the storage service vouches
for (a full-object ChecksumSHA256 from S3 with an MD5 ETag); and last one streamed read
that feeds both hashes at once in bounded memory (checked against Azure's Content-MD5 or
S3's checksum where the service keeps one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sources.backends import Backend, ObjectInfo, StorageError
from sources.models import ObjectChecksum, Source


@dataclass(frozen=True)
class Pin:
    """An object at one ETag and version, as a package entry recorded it."""

    key: str
    etag: str
    version_id: str
    size: int


@dataclass(frozen=True)
class Checksummed:
    """Both hashes of exactly the bytes of one ETag/version of an object."""

    key: str
    etag: str
    version_id: str
    size: int
    sha256: str
    md5: str
    origin: str
    info: ObjectInfo | None = None


def remember(source: Source, results: Iterable[Checksummed]) -> None:
    """Keep checksums for the next package that uses the same object at the same ETag/version."""
    rows = [
        ObjectChecksum(
            source=source,
            key=result.key,
            etag=result.etag,
            version_id=result.version_id,
            size=result.size,
            sha256=result.sha256,
            md5=result.md5,
            origin=result.origin,
        )
        for result in results
        if result.etag or result.version_id  # without either, nothing says the bytes stay the same
    ]
    ObjectChecksum.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)


def from_store(backend: Backend, pin: Pin) -> tuple[ObjectInfo, Checksummed | None]:
    """The object's current metadata, and both hashes if the service vouches for both."""
    info = backend.stat(pin.key, pin.version_id)
    if info.sha256 and info.md5:
        return info, Checksummed(
            key=pin.key,
            etag=info.etag,
            version_id=info.version_id,
            size=info.size,
            sha256=info.sha256,
            md5=info.md5,
            origin=ObjectChecksum.Origin.STORE,
            info=info,
        )
    return info, None


def by_reading(backend: Backend, pin: Pin, *, on_bytes: Callable[[int], None] = lambda count: None) -> Checksummed:
    """Stream the object once through both hashes; the pin becomes what was read.

    The ETag and version id come from the response that carried the bytes, so the hashes
    belong to them even when the object is replaced while it is read.
    """
    streamed = backend.stream(pin.key, version_id=pin.version_id)
    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    length = 0
    for chunk in streamed.chunks:
        sha256.update(chunk)
        md5.update(chunk)
        length += len(chunk)
        on_bytes(len(chunk))
    info = streamed.info
    if length != info.size:
        raise StorageError(
            f"“{pin.key}” ended after {length} of {info.size} bytes; it may be changing. Try again.",
            reason="other",
        )
    if (info.sha256 and info.sha256 != sha256.hexdigest()) or (info.md5 and info.md5 != md5.hexdigest()):
        raise StorageError(f"“{pin.key}”: the bytes read do not match the checksum the service keeps for them.")
    return Checksummed(
        key=pin.key,
        etag=info.etag,
        version_id=info.version_id,
        size=length,
        sha256=sha256.hexdigest(),
        md5=md5.hexdigest(),
        origin=ObjectChecksum.Origin.READ,
        info=info,
    )
