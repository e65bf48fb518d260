"""Presigned S3 URLs: pinned byte for byte to botocore's, and accepted by a server that checks them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.client import Config
from botocore.credentials import Credentials

from sources import clients, services
from sources.backends import content_disposition
from tests.conftest import S3Server
from tests.factories import make_source
from tests.s3_servers import SeaweedS3

FROZEN = dt.datetime(2026, 11, 21, 12, 30, 45)
KEYS = [
    "plain.csv",
    "with space/a b.txt",
    "unicode/dätä-ü.csv",
    "a+b.txt",
    "100%.txt",
    "#hash.txt",
    "why?.txt",
    "x/y//z.bin",
]


def freeze_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign at FROZEN from now on (after the source was created: the server refuses a skewed clock)."""
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda remove_tzinfo=True: FROZEN)
    monkeypatch.setattr("sources.backends.signing.utc_now", lambda: FROZEN.replace(tzinfo=dt.UTC))


def reference_client(server: S3Server, style: str, session_token: str | None = None) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name="eu-central-1",
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        aws_session_token=session_token,
        config=Config(signature_version="s3v4", s3={"addressing_style": style}),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["path", "virtual"])
def test_it_presigns_exactly_like_botocore(
    seaweed: SeaweedS3, s3_bucket: str, owner: Any, monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    # By address: "<bucket>.localhost" does not resolve here, and for an address botocore
    # itself falls back to path style, which is what is compared then.
    server = dataclasses.replace(seaweed, endpoint_url=seaweed.direct_endpoint_url) if style == "virtual" else seaweed
    source = make_source(
        owner,
        server.source_fields(s3_bucket, region="eu-central-1", addressing_style=style, prefix="base", presign_ttl=600),
        index=False,
    )
    freeze_clock(monkeypatch)
    reference = reference_client(server, style)
    for key in KEYS:
        full_key = f"base/{key}"
        for method, operation in (("GET", "get_object"), ("HEAD", "head_object")):
            ours = services.source_sign_url(source=source, key=full_key, method=method)
            expected = reference.generate_presigned_url(
                operation, Params={"Bucket": s3_bucket, "Key": full_key}, ExpiresIn=600, HttpMethod=method
            )
            assert ours == expected, (key, method)
        versioned = services.source_sign_url(source=source, key=full_key, version_id="v1+/=")
        assert versioned == reference.generate_presigned_url(
            "get_object", Params={"Bucket": s3_bucket, "Key": full_key, "VersionId": "v1+/="}, ExpiresIn=600
        )
        named = services.source_sign_url(source=source, key=full_key, version_id="v1", filename=f"ü {key}")
        assert named == reference.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": s3_bucket,
                "Key": full_key,
                "VersionId": "v1",
                "ResponseContentDisposition": content_disposition(f"ü {key}"),
            },
            ExpiresIn=600,
        )


@pytest.mark.django_db
def test_its_signature_matches_the_sigv4_query_signer(
    seaweed: S3Server, s3_bucket: str, owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recompute the signature with botocore's low-level signer from the URL we produced."""
    source = make_source(owner, seaweed.source_fields(s3_bucket), index=False)
    # A session token as temporary credentials carry (the test server has none to check it against).
    source.set_credentials({**source.credentials, "session_token": "session-token-1"})
    source.save()
    freeze_clock(monkeypatch)
    url = services.source_sign_url(source=source, key="unicode/dätä-ü #1.csv")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert query["X-Amz-Date"] == [FROZEN.strftime("%Y%m%dT%H%M%SZ")]
    assert query["X-Amz-Expires"] == [str(source.presign_ttl)]
    assert query["X-Amz-Security-Token"] == ["session-token-1"]
    unsigned = f"{parts.scheme}://{parts.netloc}{parts.path}"
    request = AWSRequest(method="GET", url=unsigned, headers={})
    signer = S3SigV4QueryAuth(
        Credentials(seaweed.access_key_id, seaweed.secret_access_key, "session-token-1"),
        "s3",
        seaweed.region,
        expires=source.presign_ttl,
    )
    signer.add_auth(request)
    assert parse_qs(urlsplit(request.url).query)["X-Amz-Signature"] == query["X-Amz-Signature"]


@pytest.mark.django_db
def test_it_builds_one_client_per_source_and_reuses_it(seaweed: S3Server, s3_bucket: str, owner: Any) -> None:
    source = make_source(owner, seaweed.source_fields(s3_bucket), index=False)
    first = clients.backend_for(source)
    for _ in range(50):
        services.source_sign_url(source=source, key="a.txt")
    assert clients.backend_for(source) is first
    source.presign_ttl = 1200
    source.region = "eu-west-1"
    source.save()
    assert clients.backend_for(source) is not first


@pytest.mark.django_db
def test_the_server_accepts_what_it_signs_for_every_key_and_method(
    seaweed: S3Server, s3_bucket: str, owner: Any
) -> None:
    client = seaweed.client()
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    written = {key: client.put_object(Bucket=s3_bucket, Key=key, Body=key.encode())["VersionId"] for key in KEYS}
    source = make_source(owner, seaweed.source_fields(s3_bucket), index=False)
    for key, version_id in written.items():
        get = requests.get(services.source_sign_url(source=source, key=key), timeout=10)
        head = requests.head(services.source_sign_url(source=source, key=key, method="HEAD"), timeout=10)
        pinned = requests.get(services.source_sign_url(source=source, key=key, version_id=version_id), timeout=10)
        named_url = services.source_sign_url(source=source, key=key, version_id=version_id, filename=f"ü {key}")
        named = requests.get(named_url, timeout=10)
        assert (get.status_code, get.content) == (200, key.encode()), key
        assert (head.status_code, head.headers["Content-Length"]) == (200, str(len(key.encode()))), key
        assert (pinned.status_code, pinned.content) == (200, key.encode()), key
        assert (named.status_code, named.content) == (200, key.encode()), key
        assert named.headers["Content-Disposition"] == content_disposition(f"ü {key}"), key
        # A GET URL does not work for HEAD: the method is signed.
        assert requests.head(services.source_sign_url(source=source, key=key), timeout=10).status_code == 403
