"""The one interface every storage backend implements.

A backend knows one bucket/container/folder and nothing of Django models: it lists,
stats, streams and signs. Errors that a user can act on are raised as StorageError with
a message fit to show as it is (never a credential in it).
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sources.backends.errors import StorageError


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str = ""
    last_modified: dt.datetime | None = None
    version_id: str = ""
    content_type: str = ""
    md5: str = ""  # hex digest of the whole content, where the service vouches for one
    sha256: str = ""  # hex digest of the whole content, where the service vouches for one


@dataclass(frozen=True)
class FolderPage:
    """One page of a delimiter listing: the sub-folders and objects directly in a folder."""

    folders: list[str]  # full keys, each ending in "/"
    objects: list[ObjectInfo]
    next_cursor: str  # the service's continuation token; "" after the last page


@dataclass(frozen=True)
class Written:
    """One object that `Backend.write` put (or found already there, byte for byte)."""

    key: str
    size: int
    sha256: str  # hex digest of what was written
    checksum_sha256: str = ""  # base64, as the store checked and reported it (S3)
    content_md5: str = ""  # base64, as the store checked it (Azure)
    version_id: str = ""
    etag: str = ""
    skipped: bool = False  # the same bytes were there already: nothing was written


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive


class Backend(abc.ABC):
    """A connection to one bucket, container or folder.

    Built once per source and reused by every request and task (see sources.clients).
    Implementations must be safe to call from several threads.
    """

    kind: str = ""

    def __init__(self, config: dict[str, Any], credentials: dict[str, str]) -> None:
        self.config = config
        self.credentials = credentials

    @abc.abstractmethod
    def check(self) -> None:
        """Raise StorageError unless the location can be listed with these credentials."""

    @abc.abstractmethod
    def iter_objects(self, prefix: str = "", *, after: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with prefix, recursively, in key order.

        With `after`, only the keys that sort after it (code-point order): where an index run
        that stopped half-way goes on.
        """

    @abc.abstractmethod
    def list_folder(self, prefix: str, *, cursor: str = "", limit: int = 1000) -> FolderPage:
        """One page of what is directly in the folder `prefix` (which ends in "/" or is "")."""

    @abc.abstractmethod
    def stat(self, key: str, version_id: str = "") -> ObjectInfo:
        """Metadata of one object; ObjectNotFound if it is gone."""

    @abc.abstractmethod
    def read(self, key: str, *, version_id: str = "", length: int | None = None, offset: int = 0) -> bytes:
        """`length` bytes of an object from `offset` (to its end when None): one ranged request."""

    @abc.abstractmethod
    def sign_url(self, key: str, *, method: str = "GET", expires_in: int = 900, version_id: str = "") -> str:
        """A URL that fetches the object directly from storage for `expires_in` seconds."""

    @abc.abstractmethod
    def stream(self, key: str, *, version_id: str = "", chunk_size: int = 1024 * 1024) -> Streamed:
        """The whole object as chunks, with the metadata of exactly the bytes streamed."""

    def write(self, key: str, data: bytes, *, content_type: str) -> Written:
        """Put one object, with a checksum the store verifies; skip it when the same bytes are there.

        Skipping keeps a re-publish idempotent: no new object version in a versioned bucket.
        """
        raise StorageError("This kind of source cannot be written to.", reason="config")

    @property
    def supports_signing(self) -> bool:
        return True

    #: whether stat() may return both sha256 and md5 that the service guarantees
    vouches_for_checksums: bool = False


@dataclass
class Streamed:
    """An object being read: what the service said of it, and its bytes in chunks.

    The metadata comes from the same response as the bytes, so a checksum computed over
    the chunks belongs to that ETag/version id even if the object changes meanwhile.
    """

    info: ObjectInfo
    chunks: Iterator[bytes]
