"""The S3 server of the tests checks what AWS checks, and does what packager relies on.

`seaweed` is SeaweedFS behind tests/strict_proxy.py (see tests/s3_servers.py). A test whose
point is a signature or a checksum means something only if these pass.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from botocore.exceptions import ClientError

from sources.backends.signing import S3Signer
from tests.s3_servers import SeaweedS3
from tests.strict_proxy import ONE_AUTH_MECHANISM

BODY = b"0123456789" * 100


@pytest.fixture
def stored(seaweed: SeaweedS3, s3_bucket: str) -> str:
    seaweed.client().put_object(Bucket=s3_bucket, Key="data/file one.bin", Body=BODY)
    return "data/file one.bin"


def signer(server: SeaweedS3, bucket: str, *, secret: str | None = None) -> S3Signer:
    return S3Signer(
        bucket_url=f"{server.endpoint_url}/{bucket}",
        region=server.region,
        access_key_id=server.access_key_id,
        secret_access_key=secret or server.secret_access_key,
    )


def error_code(response: requests.Response) -> str:
    return response.text.split("<Code>", 1)[1].split("</Code>", 1)[0]


def test_it_serves_storage_on_another_host_name_than_packager(seaweed: SeaweedS3) -> None:
    assert urlsplit(seaweed.endpoint_url).hostname == "localhost"


def test_it_answers_a_good_presigned_url(seaweed: SeaweedS3, s3_bucket: str, stored: str) -> None:
    response = requests.get(signer(seaweed, s3_bucket).sign(stored), timeout=10)

    assert response.status_code == 200
    assert response.content == BODY


def test_it_refuses_a_tampered_presigned_url(seaweed: SeaweedS3, s3_bucket: str, stored: str) -> None:
    seaweed.client().put_object(Bucket=s3_bucket, Key="data/other.bin", Body=b"other")
    url = signer(seaweed, s3_bucket).sign(stored).replace("file%20one.bin", "other.bin")

    response = requests.get(url, timeout=10)

    assert response.status_code == 403
    assert error_code(response) == "SignatureDoesNotMatch"


def test_it_refuses_an_expired_presigned_url(seaweed: SeaweedS3, s3_bucket: str, stored: str) -> None:
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    url = signer(seaweed, s3_bucket).sign(stored, expires_in=60, now=an_hour_ago)

    response = requests.get(url, timeout=10)

    assert response.status_code == 403
    assert error_code(response) == "AccessDenied"
    assert "expired" in response.text


def test_it_refuses_a_presigned_url_signed_with_a_wrong_secret(seaweed: SeaweedS3, s3_bucket: str, stored: str) -> None:
    response = requests.get(signer(seaweed, s3_bucket, secret="not-the-secret").sign(stored), timeout=10)

    assert response.status_code == 403
    assert error_code(response) == "SignatureDoesNotMatch"


def test_it_refuses_a_presigned_url_sent_with_an_authorization_header_as_aws_does(
    seaweed: SeaweedS3, s3_bucket: str, stored: str
) -> None:
    basic = {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}
    direct_signer = S3Signer(
        bucket_url=f"{seaweed.direct_endpoint_url}/{s3_bucket}",
        region=seaweed.region,
        access_key_id=seaweed.access_key_id,
        secret_access_key=seaweed.secret_access_key,
    )

    response = requests.get(signer(seaweed, s3_bucket).sign(stored), headers=basic, timeout=10)
    direct = requests.get(direct_signer.sign(stored), headers=basic, timeout=10)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/xml"
    assert error_code(response) == "InvalidArgument"
    assert ONE_AUTH_MECHANISM in response.text
    # SeaweedFS alone serves it: the proxy is what refuses, as AWS would.
    assert (direct.status_code, direct.content) == (200, BODY)


def test_it_refuses_a_head_request_with_two_auth_mechanisms(seaweed: SeaweedS3, s3_bucket: str, stored: str) -> None:
    url = signer(seaweed, s3_bucket).sign(stored, method="HEAD")

    assert requests.head(url, timeout=10).status_code == 200
    assert requests.head(url, headers={"Authorization": "Bearer x"}, timeout=10).status_code == 400


def test_it_refuses_a_wrong_secret_on_signed_requests(seaweed: SeaweedS3, s3_bucket: str) -> None:
    with pytest.raises(ClientError) as raised:
        seaweed.client(secret_access_key="wrong").list_objects_v2(Bucket=s3_bucket)

    assert raised.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_it_lets_a_reader_read_but_not_write(seaweed: SeaweedS3, s3_bucket: str, stored: str) -> None:
    reader = seaweed.reader().client()

    assert reader.get_object(Bucket=s3_bucket, Key=stored)["Body"].read() == BODY
    with pytest.raises(ClientError) as raised:
        reader.put_object(Bucket=s3_bucket, Key="new", Body=b"x")

    assert raised.value.response["Error"]["Code"] == "AccessDenied"


def test_it_verifies_checksum_sha256_on_put(seaweed: SeaweedS3, s3_bucket: str) -> None:
    client = seaweed.client()
    right = base64.b64encode(hashlib.sha256(b"data").digest()).decode()
    wrong = base64.b64encode(hashlib.sha256(b"other data").digest()).decode()

    written = client.put_object(Bucket=s3_bucket, Key="right", Body=b"data", ChecksumSHA256=right)
    with pytest.raises(ClientError) as raised:
        client.put_object(Bucket=s3_bucket, Key="wrong", Body=b"data", ChecksumSHA256=wrong)

    assert written["ChecksumSHA256"] == right
    assert client.head_object(Bucket=s3_bucket, Key="right", ChecksumMode="ENABLED")["ChecksumSHA256"] == right
    assert raised.value.response["Error"]["Code"] == "BadDigest"
    assert client.list_objects_v2(Bucket=s3_bucket, Prefix="wrong")["KeyCount"] == 0


def test_it_keeps_versions_in_a_versioned_bucket(seaweed: SeaweedS3, s3_bucket: str) -> None:
    client = seaweed.client()
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})

    first = client.put_object(Bucket=s3_bucket, Key="notes.txt", Body=b"first")["VersionId"]
    second = client.put_object(Bucket=s3_bucket, Key="notes.txt", Body=b"second")["VersionId"]

    assert first and second and first != second
    assert client.get_bucket_versioning(Bucket=s3_bucket)["Status"] == "Enabled"
    assert client.get_object(Bucket=s3_bucket, Key="notes.txt", VersionId=first)["Body"].read() == b"first"
    latest = client.get_object(Bucket=s3_bucket, Key="notes.txt")
    assert (latest["VersionId"], latest["Body"].read()) == (second, b"second")
    url = signer(seaweed, s3_bucket).sign("notes.txt", version_id=first)
    assert requests.get(url, timeout=10).content == b"first"


def test_it_lists_with_a_delimiter_and_start_after(seaweed: SeaweedS3, s3_bucket: str) -> None:
    client = seaweed.client()
    for key in ("a/b/1", "a/b/2", "a/c", "a/d/e", "z"):
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"1")

    folder = client.list_objects_v2(Bucket=s3_bucket, Prefix="a/", Delimiter="/")
    after = client.list_objects_v2(Bucket=s3_bucket, StartAfter="a/c")
    paged = client.list_objects_v2(Bucket=s3_bucket, MaxKeys=2)

    assert [item["Key"] for item in folder["Contents"]] == ["a/c"]
    assert [item["Prefix"] for item in folder["CommonPrefixes"]] == ["a/b/", "a/d/"]
    assert [item["Key"] for item in after["Contents"]] == ["a/d/e", "z"]
    assert [item["Key"] for item in paged["Contents"]] == ["a/b/1", "a/b/2"]
    rest = client.list_objects_v2(Bucket=s3_bucket, ContinuationToken=paged["NextContinuationToken"])
    assert [item["Key"] for item in rest["Contents"]] == ["a/c", "a/d/e", "z"]


def test_it_answers_a_range_through_the_proxy(seaweed: SeaweedS3, s3_bucket: str, stored: str) -> None:
    response = requests.get(signer(seaweed, s3_bucket).sign(stored), headers={"Range": "bytes=10-19"}, timeout=10)

    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 10-19/{len(BODY)}"
    assert response.content == BODY[10:20]


def test_it_honours_response_content_disposition_on_a_presigned_get(
    seaweed: SeaweedS3, s3_bucket: str, stored: str
) -> None:
    disposition = "attachment; filename=\"results.csv\"; filename*=UTF-8''r%C3%A9sults.csv"
    url = seaweed.client().generate_presigned_url(
        "get_object", Params={"Bucket": s3_bucket, "Key": stored, "ResponseContentDisposition": disposition}
    )

    response = requests.get(url, timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == disposition


def test_it_streams_chunked_uploads_and_keeps_connections_alive(seaweed: SeaweedS3, s3_bucket: str) -> None:
    url = seaweed.client().generate_presigned_url(
        "put_object", Params={"Bucket": s3_bucket, "Key": "chunked"}, HttpMethod="PUT"
    )
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request(
        "PUT", f"{parts.path}?{parts.query}", body=iter([b"abc", b"", b"def" * 1000]), encode_chunked=True
    )
    put = connection.getresponse()
    put.read()
    put_socket = connection.sock
    get_url = urlsplit(signer(seaweed, s3_bucket).sign("chunked"))
    connection.request("GET", f"{get_url.path}?{get_url.query}")  # the same connection
    got = connection.getresponse()
    reused = connection.sock is put_socket

    assert put.status == 200
    assert reused
    assert (got.status, got.read()) == (200, b"abc" + b"def" * 1000)
    connection.close()


def test_it_counts_what_the_proxy_forwarded_and_refused(seaweed: SeaweedS3, s3_bucket: str, stored: str) -> None:
    assert seaweed.proxy is not None
    before: Any = (seaweed.proxy.forwarded, seaweed.proxy.refused)
    url = signer(seaweed, s3_bucket).sign(stored)

    requests.get(url, timeout=10)
    requests.get(url, headers={"Authorization": "Basic eDp5"}, timeout=10)

    assert (seaweed.proxy.forwarded, seaweed.proxy.refused) == (before[0] + 1, before[1] + 1)


def test_it_keeps_a_connection_alive_across_head_and_ranged_get(
    seaweed: SeaweedS3, s3_bucket: str, stored: str
) -> None:
    sign = signer(seaweed, s3_bucket)
    head_url, get_url = urlsplit(sign.sign(stored, method="HEAD")), urlsplit(sign.sign(stored))
    connection = http.client.HTTPConnection(head_url.hostname, head_url.port, timeout=10)
    answers, sockets = [], []
    for method, url, headers in [
        ("HEAD", head_url, {}),
        ("GET", get_url, {"Range": "bytes=-5"}),
        ("GET", get_url, {"Authorization": "Basic eDp5"}),
        ("GET", get_url, {}),
    ]:
        connection.request(method, f"{url.path}?{url.query}", headers=headers)
        response = connection.getresponse()
        answers.append((response.status, len(response.read())))
        sockets.append(connection.sock)
    connection.close()

    assert sockets[0] is not None and all(sock is sockets[0] for sock in sockets)  # one connection throughout
    assert answers[0] == (200, 0)
    assert answers[1] == (206, 5)
    assert answers[2][0] == 400
    assert answers[3] == (200, len(BODY))


def test_it_lets_a_page_read_cross_origin_only_as_a_bucket_cors_rule_allows_like_s3(
    seaweed: SeaweedS3, s3_bucket: str, stored: str
) -> None:
    site, elsewhere = "http://127.0.0.1:8000", "http://elsewhere.example"
    url = seaweed.client().generate_presigned_url("get_object", Params={"Bucket": s3_bucket, "Key": stored})

    def allowed(origin: str) -> tuple[str | None, int]:
        read = requests.get(url, headers={"Origin": origin}, timeout=10)
        assert read.status_code == 200 and read.content == BODY  # the bytes come; may the page see them?
        preflight = requests.options(
            url,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "range",
            },
            timeout=10,
        )
        return read.headers.get("Access-Control-Allow-Origin"), preflight.status_code

    # No rule: no origin at all (SeaweedFS's own default would answer every one).
    assert allowed(site) == (None, 403)
    seaweed.client().put_bucket_cors(
        Bucket=s3_bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [site],
                    "AllowedMethods": ["GET", "HEAD"],
                    "AllowedHeaders": ["Range"],
                    "ExposeHeaders": ["ETag", "Content-Length", "Content-Range"],
                }
            ]
        },
    )
    assert allowed(site) == (site, 200)
    assert allowed(elsewhere)[0] is None
    exposed = requests.get(url, headers={"Origin": site}, timeout=10).headers["Access-Control-Expose-Headers"]
    assert {"ETag", "Content-Length", "Content-Range"} <= {name.strip() for name in exposed.split(",")}
