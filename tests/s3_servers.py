"""S3 servers for the tests: SeaweedFS behind a proxy as strict as AWS, and moto.

`seaweed` (one per session, per xdist worker) is the S3 server of the suite. SeaweedFS
checks what AWS checks and moto does not: access keys, SigV4 signatures in headers and
presigned URLs, expiry, `ChecksumSHA256` on PUT. tests/strict_proxy.py, in front of it, adds
the one AWS rule SeaweedFS lacks: a presigned URL requested with an `Authorization` header too
gets 400 InvalidArgument. Storage is reached as `localhost:<proxy port>` while packager's
test servers are on `127.0.0.1`, so clients that decide by host name whether to send their
credentials again see two hosts, as with a real bucket.

SeaweedFS quirks met so far (AWS behaves as packager expects; these are SeaweedFS's):
- presigned URLs of signature version 2 with a `response-*` parameter fail (403): the
  clients here sign with SigV4, as packager does;
- a wrong `ChecksumSHA256` is refused with BadDigest whose message speaks of Content-MD5;
- bucket names follow AWS's rules (3 to 63 characters), unlike moto.
- a chunked PUT without Content-Length is stored (AWS answers 411 MissingContentLength);
- a presigned URL sent with an `Authorization` header is served (the proxy refuses it).
- every origin gets CORS headers, with no bucket rule (tests/servers.py starts it with an
  allowed origin no page has, so only a bucket's PutBucketCors rule lets a page read, as on S3).

moto (tests/servers.py's MotoServer) is no longer a fixture of the suite; it is still used for
- the benchmarks' bulk bucket (bench/bulk_bucket.py fills moto's memory directly, and
  tests/test_bench_bulk_bucket.py compares its listings with stock moto's): moto's internals
  are the point there, not a check;
- bench/listing.py and bench/preview_parquet.py, which measure packager's side only.
What moto stood in for before is here now: credentials, signatures and expiry are checked
for real, and a read-only identity (`SeaweedS3.reader()`) replaces moto's IAM policies for
refused writes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.client import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from tests.servers import SeaweedServer
from tests.strict_proxy import StrictProxy


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str = "testing-key-id"
    secret_access_key: str = "testing-secret-key"
    region: str = "us-east-1"

    def client(self, **credentials: str) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=credentials.get("access_key_id", self.access_key_id),
            aws_secret_access_key=credentials.get("secret_access_key", self.secret_access_key),
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def source_fields(self, bucket: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": f"s3 {bucket}",
            "kind": "s3",
            "bucket": bucket,
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "addressing_style": "path",
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            **extra,
        }


@dataclass(frozen=True)
class SeaweedS3(S3Server):
    """SeaweedFS through the strict proxy; `direct_endpoint_url` skips the proxy."""

    direct_endpoint_url: str = ""
    proxy: StrictProxy | None = field(default=None, compare=False, repr=False)

    def reader(self) -> S3Server:
        """The same server as an identity that may only read and list."""
        return S3Server(
            endpoint_url=self.endpoint_url,
            access_key_id=READER[0],
            secret_access_key=READER[1],
            region=self.region,
        )


# A second identity of the SeaweedFS server, which may read and list every bucket but not write.
READER = ("reader-key-id", "reader-secret-key")


def _wait_until_writable(server: S3Server, timeout: float = 30) -> None:
    """Until the first write succeeds: the S3 port answers before a volume is ready to take data."""
    client = server.client()
    deadline = time.monotonic() + timeout
    while True:
        try:
            if "warm-up" not in {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}:
                client.create_bucket(Bucket="warm-up")
            client.put_object(Bucket="warm-up", Key="ready", Body=b"ready")
            return
        except (ClientError, EndpointConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedS3]:
    """SeaweedFS behind the strict proxy, as `localhost:<port>` (see this module's docstring)."""
    server = SeaweedServer.start(S3Server.access_key_id, S3Server.secret_access_key, readers=(READER,))
    try:
        proxy = StrictProxy.start("127.0.0.1", server.s3_port)
        try:
            found = SeaweedS3(
                endpoint_url=f"http://localhost:{proxy.port}",
                direct_endpoint_url=f"http://127.0.0.1:{server.s3_port}",
                proxy=proxy,
            )
            _wait_until_writable(found)
            yield found
        finally:
            proxy.stop()
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(seaweed: SeaweedS3) -> str:
    """A new, empty bucket of `seaweed` for one test."""
    name = f"bucket-{uuid.uuid4().hex[:12]}"
    seaweed.client().create_bucket(Bucket=name)
    return name
