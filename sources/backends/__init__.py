"""Storage backends: one module per kind, registered here.

Callers look a source's backend class up here (`BACKENDS[source.kind]`) and ask it what
they need to know (its capabilities, its secrets, its checks); they never test the kind.
"""

from __future__ import annotations

from sources.backends.azure import AzureBackend
from sources.backends.base import (
    Backend,
    FolderPage,
    ObjectInfo,
    Streamed,
    Written,
)
from sources.backends.errors import ObjectNotFound, SigningUnsupported, StorageError
from sources.backends.local import LocalBackend
from sources.backends.s3 import S3Backend
from sources.backends.signing import content_disposition

BACKENDS: dict[str, type[Backend]] = {
    "s3": S3Backend,
    "azure": AzureBackend,
    "local": LocalBackend,
}


def writable_kinds() -> list[str]:
    """The kinds of source a version can be written to."""
    return [kind for kind, backend in BACKENDS.items() if backend.writable]


__all__ = [
    "BACKENDS",
    "Backend",
    "FolderPage",
    "ObjectInfo",
    "ObjectNotFound",
    "SigningUnsupported",
    "StorageError",
    "Streamed",
    "Written",
    "content_disposition",
    "writable_kinds",
]
