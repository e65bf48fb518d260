"""Storage backends: one module per kind, registered here."""

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

BACKENDS: dict[str, type[Backend]] = {
    "s3": S3Backend,
    "azure": AzureBackend,
    "local": LocalBackend,
}

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
]
