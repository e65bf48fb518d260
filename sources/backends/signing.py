"""Presigned S3 URLs (SigV4 query signing) and Azure blob SAS URLs, signed by hand.

The resolver signs one URL per request and the direct URL lists sign one per file, so
signing is on the hot path. boto3's generate_presigned_url builds a request object, runs
the event system and the endpoint rules for every URL (~0.4 ms); azure-storage-blob's
generate_blob_sas builds helper objects and decodes the key every time. These signers do
the same arithmetic with hmac/hashlib and string formatting only, with the SigV4
signing key derived once per day (it depends on the day, the region and the secret) and
the Azure key decoded once.

Both are pinned byte for byte to the libraries' output by property-based tests
(tests/test_signing.py); the libraries still resolve what is resolved once per backend
(the bucket's URL, the account name).
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import functools
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable
from urllib.parse import quote, urlsplit

_SIGV4_SAFE = "-_.~"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# The service version a SAS is written for: its string-to-sign layout is the one below
# (stable since 2020-12-06 for service SAS signed with an account key).
SAS_VERSION = "2025-11-05"
# A SAS starts a little in the past, so a client whose clock runs ahead is not refused.
SAS_START_SKEW = dt.timedelta(minutes=5)


def utc_now() -> dt.datetime:
    """The signing clock (tests freeze it here)."""
    return dt.datetime.now(dt.UTC)


def _utc(now: dt.datetime) -> dt.datetime:
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)


class _EachCharacter(dict[int, str]):
    """A str.translate table that fills itself in: `encode` of each character, computed the
    first time the character is seen. For an encoding that works character by character
    (percent-encoding UTF-8 does), translating a text gives what encoding it whole gives."""

    def __init__(self, encode: Callable[[str], str]) -> None:
        super().__init__()
        self._encode = encode

    def __missing__(self, codepoint: int) -> str:
        encoded = self._encode(chr(codepoint))
        self[codepoint] = encoded
        return encoded

    def __call__(self, text: str) -> str:
        if len(self) > 65536:  # keys in every script of the world: do not grow without bound
            self.clear()
        return text.translate(self)


class _PercentEncoder(_EachCharacter):
    """urllib.parse.quote for one set of safe characters, as a str.translate table.

    quote() encodes and looks up every byte in Python; translating through a table that
    fills itself in (one quote() per distinct character ever seen) costs a tenth of it.
    """

    def __init__(self, safe: str) -> None:
        super().__init__(functools.partial(_quote_character, safe=safe))
        self._plain = re.compile(f"[A-Za-z0-9{re.escape(safe + '_.-~')}]*")

    def __call__(self, text: str) -> str:
        if self._plain.fullmatch(text):
            return text
        return super().__call__(text)


def _quote_character(character: str, *, safe: str) -> str:
    return quote(character, safe=safe)


_quote_path = _PercentEncoder("/~")
_quote_query = _PercentEncoder("-_.~")
_quote_slash_safe = _PercentEncoder("/")


class _Hmac:
    """HMAC-SHA256 with one key: the padded key's hash states are computed once and copied,
    which avoids setting the key up again for every message."""

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


_system_utc_now = utc_now


def _epoch_second(now: dt.datetime | None) -> int:
    """The whole second to sign for: `now` when given, else the clock."""
    if now is None:
        if utc_now is _system_utc_now:
            return int(time.time())
        now = utc_now()
    return calendar.timegm(_utc(now).utctimetuple())


@functools.lru_cache(maxsize=64)
def _sigv4_stamp(second: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))


@functools.lru_cache(maxsize=256)
def _sas_window(second: int, expires_in: int) -> tuple[str, str]:
    """A SAS's start and expiry, as signed (the URL carries them percent-encoded)."""
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second - int(SAS_START_SKEW.total_seconds())))
    return start, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second + expires_in))


# RFC 5987 attr-char: what may stand unencoded in `filename*=UTF-8''…`.
_ATTR_CHAR_SAFE = "!#$&+^`|~"
# The quoted `filename="…"` fallback for clients that do not read `filename*`: printable ASCII
# but for the quote and the backslash (escapes that clients read differently) and "%" (which
# some clients decode).
_FALLBACK_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\%]')
_DISPOSITION_HEAD = 'attachment; filename="'
# Most file names: letters, digits, spaces and "._-~", which every encoding here keeps as
# they are but for the space.
_SPACED_PLAIN = re.compile(r"[A-Za-z0-9 ._~-]*")
_DISPOSITION_MIDDLE = "\"; filename*=UTF-8''"


def _fallback_character(character: str) -> str:
    return "_" if _FALLBACK_UNSAFE.fullmatch(character) else character


class _Disposition:
    """content_disposition(filename) as `outer` encodes it (as it is, or percent-encoded for
    a URL's query), put together from parts encoded beforehand: the fixed text once, each
    character of a name once per process. Signing a list of thousands of files then costs
    two table translations of each name, not a quote() of the whole header and another
    of its encoding (the direct URL lists sign every file of a version)."""

    def __init__(self, outer: Callable[[str], str]) -> None:
        self._head = outer(_DISPOSITION_HEAD)
        self._middle = outer(_DISPOSITION_MIDDLE)
        self._fallback = _EachCharacter(lambda character: outer(_fallback_character(character)))
        self._extended = _EachCharacter(lambda character: outer(quote(character, safe=_ATTR_CHAR_SAFE)))
        # A space as each part writes it, for the names of _SPACED_PLAIN.
        self._fallback_space = outer(_fallback_character(" "))
        self._extended_space = outer(quote(" ", safe=_ATTR_CHAR_SAFE))

    def __call__(self, filename: str) -> str:
        if _SPACED_PLAIN.fullmatch(filename):
            fallback = filename.replace(" ", self._fallback_space)
            extended = filename.replace(" ", self._extended_space)
        else:
            fallback, extended = self._fallback(filename), self._extended(filename)
        return f"{self._head}{fallback}{self._middle}{extended}"


_disposition = _Disposition(str)
_disposition_in_s3_query = _Disposition(_quote_query)
_disposition_in_sas_query = _Disposition(_quote_slash_safe)


@functools.lru_cache(maxsize=4096)
def content_disposition(filename: str) -> str:
    """`attachment` with a file name any client reads right (RFC 6266, RFC 5987), whatever
    its characters: a plain-ASCII `filename` for old clients (one character for each of the
    name's), the exact name in `filename*`."""
    return _disposition(filename)


# Not cached, unlike content_disposition: built from encoded parts, they cost about what a
# cache's lookup does, and the direct URL lists, which sign every file of a version in
# turn, would only churn a cache.
def _s3_disposition_param(filename: str) -> str:
    return f"response-content-disposition={_disposition_in_s3_query(filename)}"


def _sas_disposition(filename: str) -> tuple[str, str]:
    """The disposition as a SAS signs it, and as its URL carries it."""
    return _disposition(filename), f"&rscd={_disposition_in_sas_query(filename)}"


def _host_header(url: str) -> str:
    """The Host header a client sends for a URL: lowercase, without a default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


class S3Signer:
    """SigV4 query signing ("presigned URLs") for GET and HEAD on one bucket.

    `bucket_url` is where the bucket's keys start (`https://bucket.s3.region.amazonaws.com`
    in virtual-host style, `https://endpoint/bucket` in path style); the S3 backend asks
    botocore for it once, so endpoint rules stay botocore's.
    """

    def __init__(
        self,
        *,
        bucket_url: str,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        session_token: str = "",
    ) -> None:
        self.bucket_url = bucket_url.rstrip("/")
        self._path_prefix = urlsplit(self.bucket_url).path
        self._host_line = f"host:{_host_header(self.bucket_url)}"
        self._region = region
        self._access_key_id = access_key_id
        self._secret = f"AWS4{secret_access_key}".encode()
        self._token_param = f"&X-Amz-Security-Token={quote(session_token, safe=_SIGV4_SAFE)}" if session_token else ""
        self._day_keys: dict[str, tuple[_Hmac, str, str]] = {}
        self._moments: dict[tuple[int, int], tuple[_Hmac, str, str, str, str]] = {}
        self._lock = threading.Lock()

    def _for_day(self, day: str) -> tuple[_Hmac, str, str]:
        """The signing key, credential scope and X-Amz-Credential value of one day."""
        found = self._day_keys.get(day)
        if found is None:
            key = self._secret
            for part in (day, self._region, "s3", "aws4_request"):
                key = hmac.digest(key, part.encode(), "sha256")
            scope = f"{day}/{self._region}/s3/aws4_request"
            found = (_Hmac(key), scope, quote(f"{self._access_key_id}/{scope}", safe=_SIGV4_SAFE))
            with self._lock:
                if len(self._day_keys) > 4:  # keep yesterday's while requests straddle midnight
                    self._day_keys.clear()
                self._day_keys[day] = found
        return found

    def _moment(self, second: int, expires_in: int) -> tuple[_Hmac, str, str, str, str]:
        """What every URL signed in this second with this lifetime shares: the signing key,
        the timestamp, the scope and the query parameters (canonical order, URL order)."""
        cached = self._moments.get((second, expires_in))
        if cached is None:
            stamp = _sigv4_stamp(second)
            signing_key, scope, credential = self._for_day(stamp[:8])
            auth = (
                f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}&X-Amz-Date={stamp}"
                f"&X-Amz-Expires={expires_in}"
            )
            # The canonical query is sorted: the token sorts before SignedHeaders.
            cached = (
                signing_key,
                stamp,
                scope,
                f"{auth}{self._token_param}&X-Amz-SignedHeaders=host",
                f"{auth}&X-Amz-SignedHeaders=host{self._token_param}",
            )
            if len(self._moments) > 64:
                self._moments.clear()
            self._moments[(second, expires_in)] = cached
        return cached

    def sign(
        self,
        key: str,
        *,
        method: str = "GET",
        expires_in: int = 900,
        version_id: str = "",
        filename: str = "",
        now: dt.datetime | None = None,
    ) -> str:
        """`filename`: what a browser saves the object as (`response-content-disposition`)."""
        signing_key, stamp, scope, canonical_query, query = self._moment(_epoch_second(now), expires_in)
        key_path = f"/{_quote_path(key)}"
        # Lowercase names sort after every X-Amz- name in the canonical query, and
        # response-content-disposition before versionId; in the URL they lead, versionId first.
        if filename:
            disposition = _s3_disposition_param(filename)
            canonical_query = f"{canonical_query}&{disposition}"
            query = f"{disposition}&{query}"
        if version_id:
            version_param = f"versionId={_quote_query(version_id)}"
            canonical_query = f"{canonical_query}&{version_param}"
            query = f"{version_param}&{query}"
        canonical_request = (
            f"{method}\n{self._path_prefix}{key_path}\n{canonical_query}\n{self._host_line}\n\nhost\nUNSIGNED-PAYLOAD"
        )
        string_to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        signature = signing_key.digest(string_to_sign.encode()).hex()
        return f"{self.bucket_url}{key_path}?{query}&X-Amz-Signature={signature}"


class AzureSasSigner:
    """Service SAS for reading one blob (GET and HEAD alike), optionally one version of it."""

    def __init__(
        self,
        *,
        container_url: str,
        account_name: str,
        container: str,
        account_key: str,
        version: str = SAS_VERSION,
    ) -> None:
        self.container_url = container_url.rstrip("/")
        self._hmac = _Hmac(base64.b64decode(account_key))
        self._resource_prefix = f"/blob/{account_name}/{container}/"
        self._version = version

    def sign(
        self,
        blob_name: str,
        *,
        expires_in: int = 900,
        version_id: str = "",
        filename: str = "",
        now: dt.datetime | None = None,
    ) -> str:
        """`filename`: what a browser saves the blob as (the SAS's `rscd` override)."""
        start, expiry = _sas_window(_epoch_second(now), expires_in)
        resource = "bv" if version_id else "b"
        disposition, disposition_param = _sas_disposition(filename) if filename else ("", "")
        # permission, start, expiry, resource, identifier, ip, protocol, version, resource
        # type, version id, encryption scope and the five response-header overrides (cache
        # control, content disposition, encoding, language, type).
        string_to_sign = (
            f"r\n{start}\n{expiry}\n{self._resource_prefix}{blob_name}\n\n\n\n"
            f"{self._version}\n{resource}\n{version_id}\n\n\n{disposition}\n\n\n"
        )
        signature = base64.b64encode(self._hmac.digest(string_to_sign.encode())).decode()
        # The version goes in the URL (`versionid`), not in the token: the service reads it there.
        version_param = f"versionid={_quote_slash_safe(version_id)}&" if version_id else ""
        # Percent-encoded as the SDK does (quote with "/" safe): only ":" in the times and
        # "+" and "=" in the signature need it.
        return (
            f"{self.container_url}/{_quote_path(blob_name)}?{version_param}"
            f"st={start.replace(':', '%3A')}&se={expiry.replace(':', '%3A')}&sp=r&sv={self._version}&sr={resource}"
            f"{disposition_param}&sig={signature.replace('+', '%2B').replace('=', '%3D')}"
        )
