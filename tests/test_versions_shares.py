"""Shares serve published versions: pinned or latest, bytes fetched through the resolver from SeaweedFS."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from typing import Any

import pytest

from packager import checksumming, drift, versions
from packager import services as packages
from shares import services as shares
from shares.models import Share
from sources.models import Source
from tests.conftest import S3Server
from tests.factories import make_source, publish

pytestmark = pytest.mark.django_db


def fetch(client: Any, share: Share, path: str) -> bytes:
    """Resolve a path of a share and fetch the bytes from storage, as wget would."""
    response = client.get(f"/s/{share.token}/r/{path}")
    assert response.status_code == 307, response.content
    with urllib.request.urlopen(response["Location"], timeout=10) as answer:  # storage, on localhost
        return bytes(answer.read())


@pytest.fixture
def s3_source(owner: Any, seaweed: S3Server, s3_bucket: str) -> Source:
    client = seaweed.client()
    client.put_object(Bucket=s3_bucket, Key="first.bin", Body=b"the first bytes")
    client.put_object(Bucket=s3_bucket, Key="second.bin", Body=b"the second bytes, longer")
    return make_source(owner, seaweed.source_fields(s3_bucket))


def test_a_pinned_share_keeps_serving_v1_after_v2(client: Any, owner: Any, s3_source: Source) -> None:
    package = packages.package_create(owner=owner, name="Pinned")
    packages.package_add_objects(package=package, source=s3_source, paths=["first.bin"])
    packages.package_move(package=package, path="first.bin", new_path="data.bin")
    publish(package)
    pinned = shares.share_create(package=package, created_by=owner, version=1)
    latest = shares.share_create(package=package, created_by=owner)
    # v2 points the same path at other bytes.
    packages.package_remove(package=package, path="data.bin")
    packages.package_add_objects(package=package, source=s3_source, paths=["second.bin"])
    packages.package_move(package=package, path="second.bin", new_path="data.bin")
    second = versions.package_publish(package=package)
    assert fetch(client, latest, "data.bin") == b"the first bytes"  # v2 is not published yet
    checksumming.version_publish_run(version_pk=second.pk)
    assert fetch(client, pinned, "data.bin") == b"the first bytes"
    assert fetch(client, latest, "data.bin") == b"the second bytes, longer"


def test_the_top_hash_is_recomputed_from_the_manifest(client: Any, owner: Any, s3_source: Source) -> None:
    package = packages.package_create(owner=owner, name="Hashes")
    packages.package_add_objects(package=package, source=s3_source, paths=["first.bin", "second.bin"])
    packages.package_write_text(package=package, path="README.md", content="# Read me\n")
    version = publish(package)
    share = shares.share_create(package=package, created_by=owner)
    response = client.get(f"/s/{share.token}/manifest.jsonl")
    assert response.status_code == 200
    records = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    lines = "".join(f"{r['path']}\0{r['size']}\0{r['sha256']}\n" for r in sorted(records, key=lambda r: r["path"]))
    assert hashlib.sha256(lines.encode()).hexdigest() == version.top_hash
    by_path = {record["path"]: record for record in records}
    assert by_path["first.bin"]["sha256"] == hashlib.sha256(b"the first bytes").hexdigest()
    assert by_path["first.bin"]["md5"] == hashlib.md5(b"the first bytes", usedforsecurity=False).hexdigest()


def test_drifted_objects_are_refused_after_verify(
    client: Any, owner: Any, seaweed: S3Server, s3_bucket: str, s3_source: Source
) -> None:
    package = packages.package_create(owner=owner, name="Drift")
    packages.package_add_objects(package=package, source=s3_source, paths=["first.bin", "second.bin"])
    version = publish(package)
    share = shares.share_create(package=package, created_by=owner)
    s3 = seaweed.client()
    s3.put_object(Bucket=s3_bucket, Key="first.bin", Body=b"replaced")
    s3.delete_object(Bucket=s3_bucket, Key="second.bin")
    drift.version_verify_run(version_pk=version.pk)
    for path, word in (("first.bin", "changed"), ("second.bin", "gone")):
        response = client.get(f"/s/{share.token}/r/{path}")
        assert response.status_code == 409
        assert word in response.content.decode()


def test_a_versioned_bucket_serves_the_published_bytes_after_an_overwrite(
    client: Any, owner: Any, seaweed: S3Server, s3_bucket: str
) -> None:
    s3 = seaweed.client()
    s3.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=s3_bucket, Key="x.bin", Body=b"published bytes")
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    package = packages.package_create(owner=owner, name="Versioned")
    packages.package_add_objects(package=package, source=source, paths=["x.bin"])
    publish(package)
    share = shares.share_create(package=package, created_by=owner)
    s3.put_object(Bucket=s3_bucket, Key="x.bin", Body=b"overwritten later")
    assert fetch(client, share, "x.bin") == b"published bytes"
