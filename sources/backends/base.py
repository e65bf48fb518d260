"""The one interface every storage backend implements.

A backend knows one bucket/container/folder and nothing of Django models: it lists,
stats, streams, signs and writes. Errors that a user can act on are raised as StorageError
with a message fit to show as it is (never a credential in it).

Everything that differs between kinds of storage is said here, once per backend class:
what it can do (class attributes such as `writable`), which secrets it takes and how its
settings are checked (`validate`), which network endpoints its client talks to
(`endpoints`), where its objects and signed links are (`storage_url`, `download_origins`).
Code outside sources.backends asks `BACKENDS[source.kind]` these questions and never
tests a source's kind.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from sources.backends.errors import ObjectNotFound, StorageError


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


class Backend(abc.ABC):
    """A connection to one bucket, container or folder.

    Built once per source and reused by every request and task (see sources.clients).
    Implementations must be safe to call from several threads.
    """

    kind: ClassVar[str] = ""
    #: what a curator calls this kind in a sentence ("an S3 source", "a server folder")
    name: ClassVar[str] = ""
    #: the secrets a source of this kind may be given (form and API field names)
    credential_fields: ClassVar[tuple[str, ...]] = ()
    #: whether a new secret replaces every stored one (the kind takes one secret of several kinds)
    credentials_replace_each_other: ClassVar[bool] = False
    #: whether `write` can put objects (a destination for publishing a version)
    writable: ClassVar[bool] = False
    #: whether stat() may return both sha256 and md5 that the service guarantees
    vouches_for_checksums: ClassVar[bool] = False
    #: whether signed links point back at packager, which serves them: they can carry a
    #: `grant` and stop working when it is withdrawn (a storage service's URL cannot)
    serves_own_links: ClassVar[bool] = False
    #: whether only an administrator may add a source of this kind (it reads the server itself)
    administrators_only: ClassVar[bool] = False
    #: what a curator with a credential error is told to give the credentials, to write
    write_permission_hint: ClassVar[str] = ""

    @classmethod
    def validate(cls, config: dict[str, Any], credentials: dict[str, str]) -> dict[str, str]:
        """What is wrong with these settings and secrets for this kind, keyed by the
        source's field name (empty when nothing is): checked before a source is saved."""
        return {}

    @classmethod
    def refusal(cls, config: dict[str, Any]) -> str:
        """Why a client may not be built for these settings at all ("" when it may): checked
        every time one is built, so narrowing what the server allows takes effect at once."""
        return ""

    @classmethod
    def location(cls, config: dict[str, Any]) -> str:
        """Where the source is, as a curator reads it (`s3://bucket/prefix/`)."""
        return f"{cls.kind}://{config['bucket']}/{config['prefix']}"

    @classmethod
    def storage_url(cls, *, bucket: str, endpoint_url: str, key: str, version_id: str) -> str:
        """The address of one object in the storage service's own terms (no signature)."""
        return f"{cls.kind}://{bucket}/{quote(key)}"

    @classmethod
    def download_origins(cls, config: dict[str, Any]) -> list[str]:
        """The origins its signed download links point to (for the pages' image policy)."""
        return []

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
    def sign_url(
        self,
        key: str,
        *,
        method: str = "GET",
        expires_in: int = 900,
        version_id: str = "",
        filename: str = "",
        grant: str = "",
    ) -> str:
        """A URL that fetches the object directly from storage for `expires_in` seconds.

        With `filename`, the answer names the file so (`Content-Disposition: attachment`),
        so a browser saves `results.csv`, not the last part of the key. `grant` names what
        the link is issued through (see sources.grants); only links that packager serves
        itself (`serves_own_links`) can carry it.
        """

    def served_file(self, key: str) -> Path:
        """The file on this server that a link of packager's own serves (`serves_own_links`);
        ObjectNotFound for a key outside the source, and for every key of a storage service."""
        raise ObjectNotFound("This source's links are served by its storage service.")

    def endpoints(self) -> list[str]:
        """The URLs this client connects to, for the endpoint allow-list (none on the server itself)."""
        return []

    @property
    def endpoint(self) -> str:
        """The service endpoint the client uses ("" when it has none), as a record of where a
        version was written."""
        return str(self.config.get("endpoint_url") or "")

    @property
    def region(self) -> str:
        """The region the client uses, as a record of where a version was written."""
        return str(self.config.get("region") or "")

    @abc.abstractmethod
    def stream(self, key: str, *, version_id: str = "", chunk_size: int = 1024 * 1024) -> Streamed:
        """The whole object as chunks, with the metadata of exactly the bytes streamed."""

    def write(self, key: str, data: bytes, *, content_type: str) -> Written:
        """Put one object, with a checksum the store verifies; skip it when the same bytes are there.

        Skipping keeps a re-publish idempotent: no new object version in a versioned bucket.
        """
        raise StorageError("This kind of source cannot be written to.", reason="config")


@dataclass
class Streamed:
    """An object being read: what the service said of it, and its bytes in chunks.

    The metadata comes from the same response as the bytes, so a checksum computed over
    the chunks belongs to that ETag/version id even if the object changes meanwhile.
    """

    info: ObjectInfo
    chunks: Iterator[bytes]
