"""Presigned S3 URLs are pinned byte for byte to botocore's, since moto does not check them."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.client import Config
from botocore.credentials import Credentials

from sources import clients, services
from sources.backends import content_disposition
from tests.conftest import S3Server
from tests.factories import make_source

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


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
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
    moto_server: S3Server, s3_bucket: str, owner: Any, frozen_clock: None, style: str
) -> None:
    source = make_source(
        owner,
        moto_server.source_fields(
            s3_bucket, region="eu-central-1", addressing_style=style, prefix="base", presign_ttl=600
        ),
        index=False,
    )
    reference = reference_client(moto_server, style)
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
    moto_server: S3Server, s3_bucket: str, owner: Any, frozen_clock: None
) -> None:
    """Recompute the signature with botocore's low-level signer from the URL we produced."""
    source = make_source(owner, moto_server.source_fields(s3_bucket, session_token="session-token-1"), index=False)
    url = services.source_sign_url(source=source, key="unicode/dätä-ü #1.csv")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert query["X-Amz-Date"] == [FROZEN.strftime("%Y%m%dT%H%M%SZ")]
    assert query["X-Amz-Expires"] == [str(source.presign_ttl)]
    assert query["X-Amz-Security-Token"] == ["session-token-1"]
    unsigned = f"{parts.scheme}://{parts.netloc}{parts.path}"
    request = AWSRequest(method="GET", url=unsigned, headers={})
    signer = S3SigV4QueryAuth(
        Credentials(moto_server.access_key_id, moto_server.secret_access_key, "session-token-1"),
        "s3",
        moto_server.region,
        expires=source.presign_ttl,
    )
    signer.add_auth(request)
    assert parse_qs(urlsplit(request.url).query)["X-Amz-Signature"] == query["X-Amz-Signature"]


@pytest.mark.django_db
def test_it_builds_one_client_per_source_and_reuses_it(moto_server: S3Server, s3_bucket: str, owner: Any) -> None:
    source = make_source(owner, moto_server.source_fields(s3_bucket), index=False)
    first = clients.backend_for(source)
    for _ in range(50):
        services.source_sign_url(source=source, key="a.txt")
    assert clients.backend_for(source) is first
    source.presign_ttl = 1200
    source.region = "eu-west-1"
    source.save()
    assert clients.backend_for(source) is not first
