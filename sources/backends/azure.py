"""Azure Blob Storage through azure-storage-blob."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

from azure.core.credentials import AzureSasCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import BlobPrefix, BlobServiceClient, ContentSettings

from sources.backends.base import (
    Backend,
    FolderPage,
    ObjectInfo,
    Streamed,
    Written,
)
from sources.backends.errors import ObjectNotFound, SigningUnsupported, StorageError
from sources.backends.network import connection_failure, guarded_session
from sources.backends.signing import AzureSasSigner


def _translate(error: Exception, *, container: str, key: str = "") -> StorageError:
    raw_code = getattr(error, "error_code", "") or ""
    code = str(getattr(raw_code, "value", raw_code))  # the SDK gives an enum member or a string
    if isinstance(error, ResourceNotFoundError) or code in {"ContainerNotFound", "BlobNotFound"}:
        if code == "ContainerNotFound" or not key:
            return StorageError(f"Container “{container}” does not exist in this account.", reason="not_found")
        return ObjectNotFound(f"Blob “{key}” was not found in container “{container}”.")
    if code.startswith("AuthorizationPermission") or code in {"AuthorizationResourceTypeMismatch"}:
        return StorageError(
            f"Azure accepted these credentials but denied access ({code}): check their permissions on “{container}”.",
            reason="permission",
        )
    refused = code.startswith("Authorization") or code in {"AuthenticationFailed", "InvalidAuthenticationInfo"}
    if isinstance(error, ClientAuthenticationError) or refused or getattr(error, "status_code", None) == 403:
        return StorageError(
            "Azure refused these credentials: check the account key, SAS token or connection "
            f"string and their permissions on “{container}”.",
            reason="auth",
        )
    failure = connection_failure(error)
    if failure is not None:
        return failure
    if isinstance(error, ServiceResponseError):
        return StorageError("The Azure endpoint did not answer in time.", reason="timeout")
    if isinstance(error, ServiceRequestError):
        return StorageError("Could not connect to the Azure endpoint.", reason="unreachable")
    if isinstance(error, HttpResponseError):
        return StorageError(f"Azure answered with an error: {code or error.status_code}.")
    return StorageError(f"Azure request failed: {type(error).__name__}.")


class AzureBackend(Backend):
    kind = "azure"
    name = "Azure"
    credential_fields = ("account_key", "sas_token", "connection_string")
    credentials_replace_each_other = True  # one secret, of one of three kinds
    writable = True
    write_permission_hint = "connect it with an account key or a SAS token that allows writing"

    @classmethod
    def validate(cls, config: dict[str, Any], credentials: dict[str, str]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not config.get("bucket"):
            errors["bucket"] = "Name the container."
        given = [name for name in cls.credential_fields if credentials.get(name)]
        if len(given) != 1:
            errors["account_key"] = "Give exactly one of: account key, SAS token, connection string."
        elif given[0] != "connection_string" and not config.get("endpoint_url"):
            errors["endpoint_url"] = "Give the account URL, e.g. https://ACCOUNT.blob.core.windows.net."
        if "?" in (config.get("endpoint_url") or ""):
            # An account URL copied with its SAS: the SAS would be stored and shown as plain text.
            errors["endpoint_url"] = (
                "Give the account URL without its query string (https://ACCOUNT.blob.core.windows.net): "
                "put the SAS token in the SAS token field, where it is kept encrypted."
            )
        return errors

    @classmethod
    def location(cls, config: dict[str, Any]) -> str:
        return f"az://{config['bucket']}/{config['prefix']}"

    @classmethod
    def storage_url(cls, *, bucket: str, endpoint_url: str, key: str, version_id: str) -> str:
        url = f"{endpoint_url.rstrip('/')}/{quote(bucket)}/{quote(key)}"
        return url + (f"?versionid={quote(version_id, safe='')}" if version_id else "")

    @classmethod
    def download_origins(cls, config: dict[str, Any]) -> list[str]:
        parts = urlsplit(config.get("endpoint_url") or "")
        # An account known from its connection string only: its origin is not known here.
        return [f"{parts.scheme}://{parts.netloc}"] if parts.hostname else []

    def __init__(self, config: dict[str, Any], credentials: dict[str, str]) -> None:
        super().__init__(config, credentials)
        self.container_name = config["bucket"]
        options: dict[str, Any] = {
            "connection_timeout": config.get("connect_timeout", 5),
            "read_timeout": config.get("read_timeout", 20),
            "retry_total": 1,
            # Every connection checks the address it reaches, and a redirect is an error
            # rather than a request to wherever the answer points.
            "transport": RequestsTransport(session=guarded_session(), session_owner=False),
            "permit_redirects": False,
        }
        connection_string = credentials.get("connection_string")
        if connection_string:
            self.service = BlobServiceClient.from_connection_string(connection_string, **options)
        else:
            credential: Any
            if credentials.get("account_key"):
                credential = credentials["account_key"]
            elif credentials.get("sas_token"):
                credential = AzureSasCredential(credentials["sas_token"].lstrip("?"))
            else:
                credential = None
            self.service = BlobServiceClient(config["endpoint_url"], credential=credential, **options)
        self.container = self.service.get_container_client(self.container_name)
        shared_key: str | None = getattr(self.service.credential, "account_key", None)
        self.signer = (
            AzureSasSigner(
                container_url=self.container.url.partition("?")[0],
                account_name=self.service.account_name or "",
                container=self.container_name,
                account_key=shared_key,
            )
            if shared_key
            else None
        )

    def endpoints(self) -> list[str]:
        # The account URL may come from a connection string: check what the client uses.
        return [self.service.url]

    def check(self) -> None:
        try:
            pages = self.container.list_blobs(
                name_starts_with=self.config.get("prefix") or None, results_per_page=1
            ).by_page()
            next(pages, None)
        except AzureError as error:
            raise _translate(error, container=self.container_name) from error

    def iter_objects(self, prefix: str = "", *, after: str = "") -> Iterator[ObjectInfo]:
        # Blob listings cannot start at a name (their marker is opaque and only comes with a
        # page), so the keys up to `after` are listed again and skipped here.
        try:
            for blob in self.container.list_blobs(name_starts_with=prefix or None):
                if not after or blob.name > after:
                    yield self._info(blob)
        except AzureError as error:
            raise _translate(error, container=self.container_name) from error

    def list_folder(self, prefix: str, *, cursor: str = "", limit: int = 1000) -> FolderPage:
        folders: list[str] = []
        objects: list[ObjectInfo] = []
        try:
            pages = self.container.walk_blobs(
                name_starts_with=prefix or None, delimiter="/", results_per_page=limit
            ).by_page(continuation_token=cursor or None)
            for item in next(pages, []):
                if isinstance(item, BlobPrefix):
                    folders.append(item.name)
                elif not item.name.endswith("/"):
                    objects.append(self._info(item))
        except AzureError as error:
            raise _translate(error, container=self.container_name) from error
        token = getattr(pages, "continuation_token", None)  # set by the page iterator after each page
        return FolderPage(folders=folders, objects=objects, next_cursor=token or "")

    @staticmethod
    def _info(blob: Any) -> ObjectInfo:
        content_md5 = getattr(blob.content_settings, "content_md5", None)
        return ObjectInfo(
            key=blob.name,
            size=blob.size or 0,
            etag=(blob.etag or "").strip('"'),
            last_modified=blob.last_modified,
            version_id=getattr(blob, "version_id", None) or "",
            content_type=getattr(blob.content_settings, "content_type", None) or "",
            md5=bytes(content_md5).hex() if content_md5 else "",
        )

    def stat(self, key: str, version_id: str = "") -> ObjectInfo:
        try:
            properties = self.container.get_blob_client(key, version_id=version_id or None).get_blob_properties()
        except AzureError as error:
            raise _translate(error, container=self.container_name, key=key) from error
        return self._info(properties)

    def read(self, key: str, *, version_id: str = "", length: int | None = None, offset: int = 0) -> bytes:
        if length is not None and length <= 0:
            return b""
        try:
            blob = self.container.get_blob_client(key, version_id=version_id or None)
            ranged = bool(length or offset)
            # A ranged download (max_concurrency=1: one GET, not the SDK's parallel chunks):
            # only `length` bytes are asked for, and read.
            stream = blob.download_blob(offset=offset if ranged else None, length=length, max_concurrency=1)
            return stream.readall() if length is None else stream.read(length)
        except AzureError as error:
            raise _translate(error, container=self.container_name, key=key) from error

    def stream(self, key: str, *, version_id: str = "", chunk_size: int = 1024 * 1024) -> Streamed:
        try:
            blob = self.container.get_blob_client(key, version_id=version_id or None)
            downloader = blob.download_blob(max_concurrency=1)
        except AzureError as error:
            raise _translate(error, container=self.container_name, key=key) from error

        def chunks() -> Iterator[bytes]:
            try:
                yield from downloader.chunks()
            except AzureError as error:
                raise _translate(error, container=self.container_name, key=key) from error

        info = self._info(downloader.properties)
        return Streamed(info=ObjectInfo(**{**info.__dict__, "key": key}), chunks=chunks())

    def write(self, key: str, data: bytes, *, content_type: str) -> Written:
        sha256 = hashlib.sha256(data).hexdigest()
        md5 = hashlib.md5(data).digest()  # noqa: S324  (the integrity check Azure speaks, not security)
        written = Written(key=key, size=len(data), sha256=sha256, content_md5=base64.b64encode(md5).decode())
        blob = self.container.get_blob_client(key)
        try:
            properties = blob.get_blob_properties()
        except ResourceNotFoundError:
            properties = None
        except AzureError as error:
            raise _translate(error, container=self.container_name, key=key) from error
        same = properties is not None and (properties.metadata or {}).get("sha256") == sha256
        if properties is not None and same and properties.size == len(data):
            return replace(
                written,
                version_id=getattr(properties, "version_id", None) or "",
                etag=(properties.etag or "").strip('"'),
                skipped=True,
            )
        try:
            # validate_content: the service checks the MD5 of what it received. Azure keeps
            # no SHA-256, so ours goes in the blob's metadata.
            result = blob.upload_blob(
                data,
                overwrite=True,
                validate_content=True,
                metadata={"sha256": sha256},
                content_settings=ContentSettings(content_type=content_type, content_md5=bytearray(md5)),
            )
        except AzureError as error:
            raise _translate(error, container=self.container_name, key=key) from error
        etag = str(result.get("etag") or "").strip('"')
        return replace(written, version_id=result.get("version_id") or "", etag=etag)

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
        if self.signer is None:
            raise SigningUnsupported(
                "This Azure source authenticates with a SAS token, so packager cannot sign "
                "download links for it: connect it with an account key or a connection string."
            )
        # A read SAS serves GET and HEAD alike.
        return self.signer.sign(key, expires_in=expires_in, version_id=version_id, filename=filename)
