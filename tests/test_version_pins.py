"""A version pins storage as it is when published, not as the index saw it when files were added."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests

from packager import services as packages
from packager import versions
from shares import services as shares
from sources.indexing import source_index
from tests.conftest import S3Server
from tests.factories import make_source, publish

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_overwritten_object_is_pinned_to_its_new_version(
    owner: Any, seaweed: S3Server, s3_bucket: str, live_server: Any
) -> None:
    client = seaweed.client()
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    first = client.put_object(Bucket=s3_bucket, Key="lake/temps.csv", Body=b"day,temp\n1,4\n")["VersionId"]
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    package = packages.package_create(owner=owner, name="Lake")
    packages.package_add_objects(package=package, source=source, paths=["lake/temps.csv"])
    v1 = publish(package)
    share = shares.share_create(package=package, created_by=owner)  # follows the latest version
    assert v1.entries.get().version_id == first

    new_bytes = b"day,temp\n1,4\n2,5\n"
    second = client.put_object(Bucket=s3_bucket, Key="lake/temps.csv", Body=new_bytes)["VersionId"]
    assert second != first
    source_index(source_pk=source.pk)  # the index learns of it (the draft itself is untouched)
    package.refresh_from_db()
    v2 = publish(package)

    entry = v2.entries.get()
    assert entry.version_id == second
    assert entry.sha256 == hashlib.sha256(new_bytes).hexdigest()
    assert entry.size == len(new_bytes)
    assert v2.top_hash != v1.top_hash
    assert v1.entries.get().version_id == first  # v1 stays what it was

    served = requests.get(f"{live_server.url}/s/{share.token}/r/temps.csv", timeout=10)
    assert served.status_code == 200
    assert served.content == new_bytes
    pinned = requests.get(
        f"{live_server.url}/s/{shares.share_create(package=package, created_by=owner, version=1).token}/r/temps.csv",
        timeout=10,
    )
    assert pinned.content == b"day,temp\n1,4\n"


def test_an_unchanged_draft_is_not_published_again(owner: Any, seaweed: S3Server, s3_bucket: str, api: Any) -> None:
    client = seaweed.client()
    client.put_object(Bucket=s3_bucket, Key="a.csv", Body=b"1\n")
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    package = packages.package_create(owner=owner, name="Lake")
    packages.package_add_objects(package=package, source=source, paths=["a.csv"])
    assert versions.draft_changes(package).added_count == 1
    publish(package)
    assert versions.draft_changes(package).is_empty
    refused = api.call("post", f"/packages/{package.public_id}/versions", {"message": "again"})
    assert refused.status_code == 409
    assert "Nothing to publish" in refused.json()["detail"]
    assert package.versions.count() == 1

    # Overwritten in storage: once the index has seen it, that is a change to publish.
    client.put_object(Bucket=s3_bucket, Key="a.csv", Body=b"1\n2\n")
    source_index(source_pk=source.pk)
    changes = versions.draft_changes(package)
    assert [(change["kind"], change["path"]) for change in changes.changes] == [("storage", "a.csv")]
    assert api.call("post", f"/packages/{package.public_id}/versions", {"message": "new bytes"}).status_code == 202


def test_the_diffs_page_through_every_change_with_a_cursor(owner: Any, owner_client: Any, tmp_path: Any) -> None:
    package = packages.package_create(owner=owner, name="Notes")
    for index in range(5):
        packages.package_write_text(package=package, path=f"n{index}.txt", content="x")
    pages = []
    after = ""
    while True:
        diff = versions.draft_changes(package, after=after, page=2)
        pages.append([change["path"] for change in diff.changes])
        if not diff.next_after:
            break
        after = diff.next_after
    assert pages == [["n0.txt", "n1.txt"], ["n2.txt", "n3.txt"], ["n4.txt"]]
    response = owner_client.get(f"/packages/{package.public_id}/changes/", {"after": "n1.txt"})
    assert response.status_code == 200
    assert "n2.txt" in response.content.decode() and "n1.txt" not in response.content.decode()
