"""Our S3 and Azure signers against botocore and azure-storage-blob, byte for byte.

Property-based: random keys and file names (any unicode, and `+ % # ? ~ / " \\` and
spaces), regions, endpoints, addressing styles, session tokens, version ids, expiries and
times. The Azure SAS is also checked for real: Azurite accepts it and refuses a tampered
one, and answers with the Content-Disposition it names.
"""

from __future__ import annotations

import datetime as dt
import email.message
import functools
import re
import urllib.error
import urllib.request
import uuid
from email.message import Message
from typing import Any
from unittest import mock

import boto3
import pytest
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas
from azure.storage.blob._shared.constants import X_MS_VERSION as SDK_SAS_VERSION
from botocore.client import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sources.backends.signing import SAS_START_SKEW, AzureSasSigner, S3Signer, content_disposition
from tests.conftest import AZURITE_ACCOUNT, AZURITE_KEY, AzureServer
from tests.test_sources_backends import fetch

AWKWARD = st.sampled_from([*list("+%#?~/ &=;:@!$'()*,[]\\^`{|}\"<>"), "..", "./", "//", "\t", "é", "日本", "🙂"])
KEYS = st.lists(st.one_of(AWKWARD, st.characters(codec="utf-8")), min_size=1, max_size=40).map("".join)
REGIONS = st.one_of(
    st.sampled_from(["us-east-1", "eu-central-1", "ap-southeast-2", "auto", "us-gov-west-1"]),
    st.from_regex(r"[a-z]{2}-[a-z]{4,9}-[1-9]", fullmatch=True),
)
ENDPOINTS = st.sampled_from(
    [
        None,
        "http://127.0.0.1:9000",
        "https://minio.example.org",
        "https://minio.example.org:8443",
        "http://storage.example.org:80",
        "https://accountid.r2.cloudflarestorage.com",
        "https://s3.wasabisys.com",
        "http://[::1]:9000",
    ]
)
BUCKETS = st.from_regex(r"[a-z0-9][a-z0-9-]{2,20}[a-z0-9]", fullmatch=True)
MOMENTS = st.datetimes(min_value=dt.datetime(2001, 1, 1), max_value=dt.datetime(2099, 12, 31))
VERSION_IDS = st.one_of(st.just(""), st.text(alphabet="abcdefXYZ0123456789+/=._-", min_size=1, max_size=40))
TOKENS = st.one_of(st.just(""), st.text(alphabet="abcXYZ0189+/=", min_size=1, max_size=80))
FILENAMES = st.one_of(st.just(""), KEYS)
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def botocore_client(endpoint: str | None, region: str, style: str, token: str) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="AKIDEXAMPLE/+",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token=token or None,
        config=Config(signature_version="s3v4", s3={"addressing_style": style}),
    )


def our_s3_signer(client: Any, bucket: str, token: str) -> S3Signer:
    probe = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    return S3Signer(
        bucket_url=probe.partition("?")[0].removesuffix("/k"),
        region=client.meta.region_name,
        access_key_id="AKIDEXAMPLE/+",
        secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token=token,
    )


@pytest.mark.slow
@EXAMPLES
@given(
    key=KEYS,
    bucket=BUCKETS,
    region=REGIONS,
    endpoint=ENDPOINTS,
    style=st.sampled_from(["auto", "path", "virtual"]),
    token=TOKENS,
    version_id=VERSION_IDS,
    method=st.sampled_from(["GET", "HEAD"]),
    expires_in=st.integers(min_value=1, max_value=7 * 24 * 3600),
    moment=MOMENTS,
    filename=FILENAMES,
)
def test_it_presigns_s3_urls_exactly_like_botocore(
    key: str,
    bucket: str,
    region: str,
    endpoint: str | None,
    style: str,
    token: str,
    version_id: str,
    method: str,
    expires_in: int,
    moment: dt.datetime,
    filename: str,
) -> None:
    client = botocore_client(endpoint, region, style, token)
    params = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    if filename:
        params["ResponseContentDisposition"] = content_disposition(filename)
    with mock.patch("botocore.auth.get_current_datetime", lambda remove_tzinfo=True: moment):
        expected = client.generate_presigned_url(
            "head_object" if method == "HEAD" else "get_object",
            Params=params,
            ExpiresIn=expires_in,
            HttpMethod=method,
        )
    signer = our_s3_signer(client, bucket, token)
    ours = signer.sign(key, method=method, expires_in=expires_in, version_id=version_id, filename=filename, now=moment)
    assert ours == expected


def test_it_derives_the_s3_signing_key_once_per_day() -> None:
    signer = our_s3_signer(botocore_client(None, "eu-central-1", "virtual", ""), "bucket", "")
    with mock.patch("hmac.digest", wraps=__import__("hmac").digest) as derive:
        for second in range(100):
            signer.sign("a.txt", now=dt.datetime(2026, 5, 1, 10, 0, second % 60))
        assert derive.call_count == 4  # date, region, service, terminator: once for the day
        signer.sign("a.txt", now=dt.datetime(2026, 5, 2, 0, 0, 1))
        assert derive.call_count == 8


@functools.cache
def blob_service(account_url: str) -> BlobServiceClient:
    return BlobServiceClient(account_url, credential=AZURITE_KEY)


@EXAMPLES
@given(
    blob_name=KEYS,
    container=st.from_regex(r"[a-z0-9]{3,24}", fullmatch=True),
    account_url=st.sampled_from(
        [
            "https://myaccount.blob.core.windows.net",
            f"http://127.0.0.1:10000/{AZURITE_ACCOUNT}",
            "https://myaccount.blob.core.chinacloudapi.cn",
        ]
    ),
    version_id=st.one_of(st.just(""), st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S.%f0Z"))),
    expires_in=st.integers(min_value=1, max_value=7 * 24 * 3600),
    moment=MOMENTS,
    filename=FILENAMES,
)
def test_it_signs_azure_sas_exactly_like_the_sdk(
    blob_name: str,
    container: str,
    account_url: str,
    version_id: str,
    expires_in: int,
    moment: dt.datetime,
    filename: str,
) -> None:
    service = blob_service(account_url)
    account = service.account_name or ""
    at = moment.replace(tzinfo=dt.UTC)
    token = generate_blob_sas(
        account_name=account,
        container_name=container,
        blob_name=blob_name,
        account_key=AZURITE_KEY,
        permission=BlobSasPermissions(read=True),
        start=at - SAS_START_SKEW,
        expiry=at + dt.timedelta(seconds=expires_in),
        version_id=version_id or None,
        content_disposition=content_disposition(filename) if filename else None,
    )
    blob_url = service.get_blob_client(container, blob_name).url
    signer = AzureSasSigner(
        container_url=service.get_container_client(container).url,
        account_name=account,
        container=container,
        account_key=AZURITE_KEY,
        version=SDK_SAS_VERSION,
    )
    version_param = f"versionid={urllib.parse.quote(version_id)}&" if version_id else ""
    ours = signer.sign(blob_name, expires_in=expires_in, version_id=version_id, filename=filename, now=moment)
    assert ours == f"{blob_url}?{version_param}{token}"


@pytest.mark.parametrize("blob_name", ["plain.csv", "a b/c+d %41 #?~/ünï ☃.bin"])
def test_azurite_accepts_our_sas_and_refuses_a_tampered_one(azurite: AzureServer, blob_name: str) -> None:
    container = f"sas-{uuid.uuid4().hex[:10]}"
    service = azurite.service()
    service.create_container(container)
    service.get_blob_client(container, blob_name).upload_blob(b"signed bytes")
    signer = AzureSasSigner(
        container_url=service.get_container_client(container).url,
        account_name=AZURITE_ACCOUNT,
        container=container,
        account_key=AZURITE_KEY,
    )
    url = signer.sign(blob_name, expires_in=120)
    assert fetch(url) == (200, b"signed bytes")
    assert fetch(url, "HEAD")[0] == 200
    tampered_signature = url[:-8] + ("A" if url[-8] != "A" else "B") + url[-7:]
    assert fetch(tampered_signature)[0] == 403
    assert fetch(url.replace("sp=r", "sp=rw"))[0] == 403
    other_blob = signer.sign(blob_name, expires_in=120).replace(urllib.parse.quote(blob_name, safe="~/"), "other.txt")
    assert fetch(other_blob)[0] in {403, 404}
    expired = signer.sign(blob_name, expires_in=60, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert fetch(expired)[0] == 403


def fetch_headers(url: str, method: str = "GET") -> tuple[int, Message, bytes]:
    """Status, headers (looked up by name in any case) and body."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.mark.parametrize("filename", ["results.csv", 'a "quoted" \\ back\\slash; 100% ünï ☃ 🙂.csv'])
def test_azurite_answers_a_sas_with_rscd_with_that_content_disposition(azurite: AzureServer, filename: str) -> None:
    """Azurite checks the signature, rscd included: the override is signed, not just sent."""
    container = f"rscd-{uuid.uuid4().hex[:10]}"
    service = azurite.service()
    service.create_container(container)
    service.get_blob_client(container, "deep/key-1.bin").upload_blob(b"named bytes")
    signer = AzureSasSigner(
        container_url=service.get_container_client(container).url,
        account_name=AZURITE_ACCOUNT,
        container=container,
        account_key=AZURITE_KEY,
    )
    url = signer.sign("deep/key-1.bin", expires_in=120, filename=filename)
    for method in ("GET", "HEAD"):
        status, headers, body = fetch_headers(url, method)
        assert status == 200, body
        assert headers.get("Content-Disposition") == content_disposition(filename)
    assert body == b"" and fetch_headers(url)[2] == b"named bytes"
    # The disposition is part of what is signed: another one is refused.
    other = url.replace("rscd=attachment", "rscd=inline")
    assert "rscd=inline" in other and fetch_headers(other)[0] == 403


# A package's paths hold no control characters (packager.paths).
NAMES = st.lists(
    st.one_of(AWKWARD.filter(str.isprintable), st.characters(codec="utf-8", exclude_categories=["Cc"])), min_size=1
).map("".join)


@given(filename=NAMES)
@settings(max_examples=300, deadline=None)
def test_a_content_disposition_gives_any_file_name_back_exactly(filename: str) -> None:
    """`filename*` (RFC 5987: only attr-chars and percent-encoded UTF-8) carries the exact
    name; the plain `filename` fallback is printable ASCII with no quote, backslash or
    percent sign to misread, one character for each of the name's."""
    header = content_disposition(filename)
    shape = re.fullmatch(r"attachment; filename=\"([ -~]*)\"; filename\*=(UTF-8''[A-Za-z0-9!#$&+^`|~%._-]*)", header)
    assert shape is not None, header
    fallback, extended = shape.groups()
    assert len(fallback) == len(filename) and not set(fallback) & set('"\\%')
    assert urllib.parse.unquote(extended.removeprefix("UTF-8''"), errors="strict") == filename


def test_a_content_disposition_keeps_plain_names_readable() -> None:
    assert content_disposition("results.csv") == "attachment; filename=\"results.csv\"; filename*=UTF-8''results.csv"
    name = 'a "b"\\c ü%.txt'
    header = content_disposition(name)
    assert header == "attachment; filename=\"a _b__c __.txt\"; filename*=UTF-8''a%20%22b%22%5Cc%20%C3%BC%25.txt"
    message = email.message.Message()  # the standard library's RFC 2231 reader, on filename* alone
    message["Content-Disposition"] = "attachment; " + header.rpartition("; ")[2]
    assert message.get_filename() == name
