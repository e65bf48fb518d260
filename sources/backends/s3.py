"""Amazon S3 and S3-compatible endpoints (R2, MinIO, Wasabi, ...) through boto3."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import botocore.session
from botocore.client import Config
from botocore.credentials import CredentialResolver
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    EndpointResolutionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.utils import parse_timestamp

from sources.backends.base import Backend, FolderPage, ObjectInfo, Streamed, Written
from sources.backends.errors import ObjectNotFound, StorageError
from sources.backends.network import connection_failure, find_refusal, guard_boto_client
from sources.backends.signing import S3Signer

_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
    "403",
}
_PERMISSION_CODES = {"AccessDenied", "AllAccessDisabled", "AccountProblem"}
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}
_MD5_ETAG = re.compile(r"^[0-9a-f]{32}$")


def timestamp(text: str) -> dt.datetime:
    """A response's timestamp, as botocore reads it, in a fraction of its time.

    botocore reads every timestamp with dateutil's general parser, about 100 µs each: two
    thirds of a listing's client CPU (a ListObjectsV2 page has 1,000 of them, all ISO 8601
    in UTC, which the standard library reads in well under a microsecond). A timestamp that
    does not name its offset (headers in RFC 822 form, epoch numbers, naive ISO strings)
    goes to botocore's parser, so every result is the one botocore gives
    (tests/test_s3_timestamps.py).
    """
    try:
        parsed = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return parse_timestamp(text)
    return parsed if parsed.tzinfo is not None else parse_timestamp(text)


def _session() -> boto3.session.Session:
    """A boto3 session of its own whose clients read timestamps with `timestamp`.

    It knows no credentials but those its clients are given: botocore's usual chain (AWS_*
    variables, ~/.aws, the instance or pod role) holds the server's own identity, which must
    never sign for a source that was saved without keys.
    """
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=timestamp)
    core.register_component("credential_provider", CredentialResolver(providers=[]))
    return boto3.session.Session(botocore_session=core)


def _store_md5(head: Mapping[str, Any], etag: str) -> str:
    """The ETag when S3 guarantees it is the MD5 of the content, else "".

    S3 documents the ETag of an object uploaded in one part, in plain text or with SSE-S3,
    as the MD5 of its bytes; multipart uploads ("…-N") and SSE-KMS / SSE-C objects differ.
    """
    if not _MD5_ETAG.match(etag):
        return ""
    if head.get("ServerSideEncryption") not in (None, "AES256") or head.get("SSECustomerAlgorithm"):
        return ""
    return etag


def _store_sha256(head: Mapping[str, Any]) -> str:
    """The full-object SHA-256 that S3 returns with ChecksumMode=ENABLED, as hex, or ""."""
    checksum = head.get("ChecksumSHA256") or ""
    # A checksum of parts ("<base64>-<parts>", ChecksumType COMPOSITE) is not the object's.
    if not checksum or "-" in checksum or head.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
        return ""
    try:
        digest = base64.b64decode(checksum, validate=True)
    except (binascii.Error, ValueError):
        return ""
    return digest.hex() if len(digest) == 32 else ""


def _translate(error: Exception, *, bucket: str, key: str = "") -> StorageError:
    """Turn a botocore exception into a message a curator can act on."""
    refusal = find_refusal(error)
    if refusal is not None:
        return refusal
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket":
            return StorageError(f"Bucket “{bucket}” does not exist at this endpoint.", reason="not_found")
        if code in _NOT_FOUND_CODES:
            what = f"Object “{key}”" if key else "The object"
            return ObjectNotFound(f"{what} was not found in bucket “{bucket}”.")
        if code in _PERMISSION_CODES:
            return StorageError(
                f"The storage service accepted these credentials but denied access ({code}): "
                f"check their permissions on “{bucket}”.",
                reason="permission",
            )
        if code in _AUTH_CODES:
            return StorageError(
                "The storage service refused these credentials "
                f"({code}): check the access key, the secret and their permissions on “{bucket}”.",
                reason="auth",
            )
        if code == "PermanentRedirect" or code == "301":
            return StorageError(f"Bucket “{bucket}” is in another region: set the source's region.", reason="config")
        return StorageError(f"The storage service answered with an error: {code or 'unknown'}.")
    failure = connection_failure(error)
    if failure is not None:
        return failure
    if isinstance(error, (ConnectTimeoutError, ReadTimeoutError)):
        return StorageError("The storage endpoint did not answer in time.", reason="timeout")
    if isinstance(error, EndpointConnectionError):
        return StorageError("Could not connect to the storage endpoint.", reason="unreachable")
    if isinstance(error, NoCredentialsError):
        return StorageError("No credentials are set for this source.", reason="auth")
    return StorageError(f"Storage request failed: {type(error).__name__}.")


def _version(response: Mapping[str, Any]) -> str:
    """The VersionId of a response; "null" (an unversioned bucket's answer) is none."""
    found = str(response.get("VersionId") or "")
    return "" if found == "null" else found


ADDRESSING_STYLES = ("auto", "path", "virtual")


class S3Backend(Backend):
    kind = "s3"
    name = "S3"
    credential_fields = ("access_key_id", "secret_access_key", "session_token")
    writable = True
    vouches_for_checksums = True
    write_permission_hint = "give them s3:PutObject there (and s3:GetObject to skip unchanged objects)"

    @classmethod
    def validate(cls, config: dict[str, Any], credentials: dict[str, str]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not config.get("bucket"):
            errors["bucket"] = "Name the bucket."
        if not (credentials.get("access_key_id") and credentials.get("secret_access_key")):
            errors["secret_access_key"] = "An access key id and a secret access key are both needed."  # noqa: S105
        if config.get("addressing_style") not in ADDRESSING_STYLES:
            errors["addressing_style"] = "Choose auto, path or virtual."
        return errors

    @classmethod
    def storage_url(cls, *, bucket: str, endpoint_url: str, key: str, version_id: str) -> str:
        version = quote(version_id, safe="")
        return f"s3://{bucket}/{key}" + (f"?versionId={version}" if version else "")

    @classmethod
    def download_origins(cls, config: dict[str, Any]) -> list[str]:
        bucket = config["bucket"]
        if config.get("endpoint_url"):
            parts = urlsplit(config["endpoint_url"])
            if not parts.hostname:
                return []
            origins = [f"{parts.scheme}://{parts.netloc}"]
            if config.get("addressing_style") != "path":
                origins.append(f"{parts.scheme}://{bucket}.{parts.netloc}")
            return origins
        # AWS itself, in any of its URL styles
        region = config.get("region") or "us-east-1"
        hosts = [f"{bucket}.s3.{region}.amazonaws.com", f"s3.{region}.amazonaws.com"]
        hosts += [f"{bucket}.s3.amazonaws.com", "s3.amazonaws.com"]
        return [f"https://{host}" for host in hosts]

    def __init__(self, config: dict[str, Any], credentials: dict[str, str]) -> None:
        super().__init__(config, credentials)
        self.bucket = config["bucket"]
        try:
            self.client = self._client(config, credentials)
        except (ValueError, EndpointResolutionError) as error:  # botocore's word for a malformed endpoint
            raise StorageError(
                "The endpoint must be an http:// or https:// URL with a host name (and a valid port).", reason="config"
            ) from error
        # Every connection, also to `<bucket>.<endpoint host>`, checks the address it reaches.
        guard_boto_client(self.client)
        self._versioned: bool | None = None
        self.signer = self._build_signer()

    @staticmethod
    def _client(config: dict[str, Any], credentials: dict[str, str]) -> Any:
        return _session().client(
            "s3",
            endpoint_url=config.get("endpoint_url") or None,
            region_name=config.get("region") or "us-east-1",
            aws_access_key_id=credentials.get("access_key_id") or None,
            aws_secret_access_key=credentials.get("secret_access_key") or None,
            aws_session_token=credentials.get("session_token") or None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": config.get("addressing_style") or "auto"},
                connect_timeout=config.get("connect_timeout", 5),
                read_timeout=config.get("read_timeout", 20),
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=20,
            ),
        )

    def _build_signer(self) -> S3Signer | None:
        """Our own signer, given where botocore's endpoint rules put the bucket (asked once)."""
        access_key_id = self.credentials.get("access_key_id")
        secret_access_key = self.credentials.get("secret_access_key")
        if not (access_key_id and secret_access_key):
            return None  # no keys: every request fails as unsigned (see _session)
        probe = self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": "k"})
        return S3Signer(
            bucket_url=probe.partition("?")[0].removesuffix("/k"),
            region=self.client.meta.region_name or "us-east-1",
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=self.credentials.get("session_token") or "",
        )

    def endpoints(self) -> list[str]:
        # Without one set, the client talks to AWS itself.
        return [self.config["endpoint_url"]] if self.config.get("endpoint_url") else []

    @property
    def endpoint(self) -> str:
        return str(self.client.meta.endpoint_url)  # AWS's own when none is set

    @property
    def region(self) -> str:
        return str(self.config.get("region") or "us-east-1")

    def check(self) -> None:
        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.config.get("prefix", ""), MaxKeys=1)
        except (BotoCoreError, ClientError) as error:
            raise _translate(error, bucket=self.bucket) from error

    def is_versioned(self) -> bool:
        if self._versioned is None:
            status: str
            try:
                status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status", "")
            except (BotoCoreError, ClientError):
                # Credentials limited to reading objects may not see the bucket's
                # versioning; objects are then pinned by ETag alone.
                status = ""
            self._versioned = status in {"Enabled", "Suspended"}
        return self._versioned

    def iter_objects(self, prefix: str = "", *, after: str = "") -> Iterator[ObjectInfo]:
        try:
            if self.is_versioned():
                yield from self._iter_latest_versions(prefix, after)
                return
            paginator = self.client.get_paginator("list_objects_v2")
            start: dict[str, Any] = {"StartAfter": after} if after else {}  # UTF-8 byte order: code points
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, **start):
                for item in page.get("Contents", []):
                    if item["Key"].endswith("/") and item["Size"] == 0:
                        continue  # a "folder marker" made by consoles, not data
                    yield ObjectInfo(
                        key=item["Key"],
                        size=item["Size"],
                        etag=item.get("ETag", "").strip('"'),
                        last_modified=item.get("LastModified"),
                    )
        except (BotoCoreError, ClientError) as error:
            raise _translate(error, bucket=self.bucket) from error

    def list_folder(self, prefix: str, *, cursor: str = "", limit: int = 1000) -> FolderPage:
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "Delimiter": "/", "MaxKeys": limit}
        if cursor:
            params["ContinuationToken"] = cursor
        try:
            page = self.client.list_objects_v2(**params)
        except (BotoCoreError, ClientError) as error:
            raise _translate(error, bucket=self.bucket) from error
        return FolderPage(
            folders=[common["Prefix"] for common in page.get("CommonPrefixes", [])],
            objects=[
                ObjectInfo(
                    key=item["Key"],
                    size=item["Size"],
                    etag=item.get("ETag", "").strip('"'),
                    last_modified=item.get("LastModified"),
                )
                for item in page.get("Contents", [])
                if not item["Key"].endswith("/")  # the folder's own marker
            ],
            next_cursor=page.get("NextContinuationToken", "") if page.get("IsTruncated") else "",
        )

    def _iter_latest_versions(self, prefix: str, after: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_object_versions")
        start: dict[str, Any] = {"KeyMarker": after} if after else {}  # the versions of the keys after it
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, **start):
            for item in page.get("Versions", []):
                if not item.get("IsLatest") or (item["Key"].endswith("/") and item["Size"] == 0):
                    continue
                if after and item["Key"] <= after:
                    continue
                version_id = item.get("VersionId") or ""
                yield ObjectInfo(
                    key=item["Key"],
                    size=item["Size"],
                    etag=item.get("ETag", "").strip('"'),
                    last_modified=item.get("LastModified"),
                    version_id="" if version_id == "null" else version_id,
                )

    def _object_params(self, key: str, version_id: str) -> dict[str, Any]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        return params

    def stat(self, key: str, version_id: str = "") -> ObjectInfo:
        try:
            head = self.client.head_object(**self._object_params(key, version_id), ChecksumMode="ENABLED")
        except (BotoCoreError, ClientError) as error:
            raise _translate(error, bucket=self.bucket, key=key) from error
        return self._info_from_headers(key, head)

    @staticmethod
    def _info_from_headers(key: str, head: Mapping[str, Any]) -> ObjectInfo:
        found_version = head.get("VersionId") or ""
        etag = head.get("ETag", "").strip('"')
        return ObjectInfo(
            key=key,
            size=head["ContentLength"],
            etag=etag,
            last_modified=head.get("LastModified"),
            version_id="" if found_version == "null" else found_version,
            content_type=head.get("ContentType", ""),
            md5=_store_md5(head, etag),
            sha256=_store_sha256(head),
        )

    def stream(self, key: str, *, version_id: str = "", chunk_size: int = 1024 * 1024) -> Streamed:
        try:
            response = self.client.get_object(**self._object_params(key, version_id))
        except (BotoCoreError, ClientError) as error:
            raise _translate(error, bucket=self.bucket, key=key) from error
        body = response["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(chunk_size)
            except (BotoCoreError, ClientError) as error:
                raise _translate(error, bucket=self.bucket, key=key) from error
            finally:
                body.close()

        return Streamed(info=self._info_from_headers(key, response), chunks=chunks())

    def read(self, key: str, *, version_id: str = "", length: int | None = None, offset: int = 0) -> bytes:
        params: dict[str, Any] = self._object_params(key, version_id)
        if length is not None:
            if length <= 0:
                return b""
            params["Range"] = f"bytes={offset}-{offset + length - 1}"
        elif offset:
            params["Range"] = f"bytes={offset}-"
        try:
            body = self.client.get_object(**params)["Body"]
            try:
                # An endpoint that ignores Range sends the whole object: read no further.
                return body.read(length)
            finally:
                body.close()
        except (BotoCoreError, ClientError) as error:
            raise _translate(error, bucket=self.bucket, key=key) from error

    def write(self, key: str, data: bytes, *, content_type: str) -> Written:
        digest = hashlib.sha256(data).digest()
        checksum = base64.b64encode(digest).decode()
        written = Written(key=key, size=len(data), sha256=digest.hex(), checksum_sha256=checksum)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code", "")) not in _NOT_FOUND_CODES:
                raise _translate(error, bucket=self.bucket, key=key) from error
        except BotoCoreError as error:
            raise _translate(error, bucket=self.bucket, key=key) from error
        else:
            if head.get("ChecksumSHA256") == checksum and head.get("ContentLength") == len(data):
                return replace(written, version_id=_version(head), etag=head.get("ETag", "").strip('"'), skipped=True)
        try:
            # The store computes the SHA-256 of what it received and refuses the object
            # unless it equals the one sent.
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
            )
        except (BotoCoreError, ClientError) as error:
            raise _translate(error, bucket=self.bucket, key=key) from error
        return replace(
            written,
            checksum_sha256=response.get("ChecksumSHA256") or checksum,
            version_id=_version(response),
            etag=response.get("ETag", "").strip('"'),
        )

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
        # A presigned URL is bound to its HTTP method: HEAD needs its own signature.
        if self.signer is None:
            raise StorageError("No credentials are set for this source.", reason="auth")
        return self.signer.sign(key, method=method, expires_in=expires_in, version_id=version_id, filename=filename)
