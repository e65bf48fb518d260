"""A folder on the server (the demo data, or an NFS mount).

There is no storage service to presign for a folder, so signed URLs point back at
packager: a short-lived, signed link that the `local_file` view serves with Range support.
Folders are sources only under LOCAL_SOURCE_ROOTS, and only administrators add them.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.urls import reverse

from sources.backends.base import Backend, FolderPage, ObjectInfo, Streamed
from sources.backends.errors import ObjectNotFound, StorageError

LINK_SALT = "packager.sources.local-file"


def local_path_error(local_path: str) -> str:
    """Why a folder may not be a source ("" when it may): it must lie under LOCAL_SOURCE_ROOTS.

    Checked when a source is saved (forms, API, commands, the Django admin) and again
    whenever its client is built, so narrowing LOCAL_SOURCE_ROOTS takes effect at once.
    """
    path = Path(local_path or "")
    if not local_path or not path.is_absolute():
        return "Give an absolute folder path on the server."
    if not settings.LOCAL_SOURCE_ROOTS:
        return "No folder on the server may be a source: an administrator can set LOCAL_SOURCE_ROOTS."
    # resolve() follows symbolic links, so a link inside a root that leads out of it is refused.
    if not any(path.resolve().is_relative_to(Path(root).resolve()) for root in settings.LOCAL_SOURCE_ROOTS):
        roots = ", ".join(str(root) for root in settings.LOCAL_SOURCE_ROOTS)
        return f"This folder is outside the folders allowed by LOCAL_SOURCE_ROOTS ({roots})."
    return ""


class LocalBackend(Backend):
    kind = "local"
    name = "server folder"
    serves_own_links = True
    administrators_only = True

    @classmethod
    def validate(cls, config: dict[str, Any], credentials: dict[str, str]) -> dict[str, str]:
        refused = cls.refusal(config)
        return {"local_path": refused} if refused else {}

    @classmethod
    def refusal(cls, config: dict[str, Any]) -> str:
        return local_path_error(config.get("path") or "")

    @classmethod
    def location(cls, config: dict[str, Any]) -> str:
        return str(config.get("path") or "")

    @classmethod
    def storage_url(cls, *, bucket: str, endpoint_url: str, key: str, version_id: str) -> str:
        return f"file:{quote(key)}"

    def __init__(self, config: dict[str, Any], credentials: dict[str, str]) -> None:
        super().__init__(config, credentials)
        self.root = Path(config["path"]).resolve()

    def check(self) -> None:
        if not self.root.is_dir():
            raise StorageError(f"Folder “{self.root}” does not exist on the server.", reason="not_found")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise StorageError(f"The server may not read folder “{self.root}”.", reason="auth")

    def path_of(self, key: str) -> Path:
        """The file behind a key, refusing anything that escapes the root."""
        candidate = (self.root / key).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise ObjectNotFound(f"“{key}” is outside this source.")
        if not candidate.is_file():
            raise ObjectNotFound(f"File “{key}” was not found.")
        return candidate

    served_file = path_of

    def _info(self, key: str, path: Path) -> ObjectInfo:
        stat = path.stat()
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
            last_modified=dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC),
            content_type=mimetypes.guess_type(key)[0] or "",
        )

    def iter_objects(self, prefix: str = "", *, after: str = "") -> Iterator[ObjectInfo]:
        self.check()
        # Walk the deepest folder that the prefix names, then filter on the rest of it.
        start = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        keys: list[str] = []
        for folder, dirnames, filenames in os.walk(start, followlinks=False):
            dirnames.sort()
            for filename in filenames:
                path = Path(folder, filename)
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and key > after and path.is_file():
                    keys.append(key)
        for key in sorted(keys):
            try:
                yield self._info(key, self.path_of(key))
            except (ObjectNotFound, OSError):
                continue  # removed while listing, or a link out of the folder

    def list_folder(self, prefix: str, *, cursor: str = "", limit: int = 1000) -> FolderPage:
        """The folder's entries, folders first, by name; the cursor is an offset into them."""
        self.check()
        folder = (self.root / prefix).resolve()
        if (folder != self.root and self.root not in folder.parents) or not folder.is_dir():
            return FolderPage(folders=[], objects=[], next_cursor="")
        start = int(cursor) if cursor.isdigit() else 0
        with os.scandir(folder) as found:
            entries = sorted(
                (not entry.is_dir(follow_symlinks=False), entry.name)
                for entry in found
                if entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False)
            )
        folders: list[str] = []
        objects: list[ObjectInfo] = []
        for is_file, name in entries[start : start + limit]:
            key = prefix + name
            if not is_file:
                folders.append(key + "/")
                continue
            try:
                objects.append(self._info(key, self.path_of(key)))
            except (ObjectNotFound, OSError):
                continue  # removed while listing
        following = start + limit
        return FolderPage(
            folders=folders, objects=objects, next_cursor=str(following) if following < len(entries) else ""
        )

    def stat(self, key: str, version_id: str = "") -> ObjectInfo:
        return self._info(key, self.path_of(key))

    def read(self, key: str, *, version_id: str = "", length: int | None = None, offset: int = 0) -> bytes:
        with self.path_of(key).open("rb") as handle:
            handle.seek(offset)
            return handle.read() if length is None else handle.read(max(length, 0))

    def stream(self, key: str, *, version_id: str = "", chunk_size: int = 1024 * 1024) -> Streamed:
        path = self.path_of(key)
        handle = path.open("rb")
        info = self._info(key, path)

        def chunks() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(chunk_size):
                    yield chunk

        return Streamed(info=info, chunks=chunks())

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
        """A packager link; `grant` names what it was issued through (see sources.grants).

        A folder keeps no versions: `version_id` has nothing to pin. The link serves any method.
        """
        payload: dict[str, Any] = {
            "source": self.config["source_id"],
            "key": key,
            "expires": int(time.time()) + expires_in,
        }
        if grant:
            payload["grant"] = grant
        if filename:
            payload["filename"] = filename  # signed: the served Content-Disposition names it
        token = signing.dumps(payload, salt=LINK_SALT, compress=True)
        # The name is only there so that clients that name files after the URL get a
        # sensible one; the token alone decides what is served.
        name = filename or key.rpartition("/")[2]
        return reverse("local_file", kwargs={"token": token}) + "?name=" + quote(name, safe="")


def load_link(token: str) -> dict[str, Any]:
    """The payload of a signed local-file link; signing.BadSignature when forged or expired."""
    payload: dict[str, Any] = signing.loads(token, salt=LINK_SALT)
    if payload.get("expires", 0) < time.time():
        raise signing.SignatureExpired("This download link has expired.")
    return payload
