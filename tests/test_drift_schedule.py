"""Drift is seen before a collaborator meets it: scheduled, cheap verification; clear pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from packager import drift, tasks
from packager import services as packages
from packager.models import PackageVersion
from shares import services as shares
from sources import clients
from sources.indexing import source_index
from tests.conftest import S3Server
from tests.factories import make_source, publish

pytestmark = pytest.mark.django_db

# Large enough for a two-part upload (every part but the last at least 5 MiB).
RESAVED = b"r" * (5 * 1024 * 1024 + 10)


@pytest.fixture
def drifting(owner: Any, seaweed: S3Server, s3_bucket: str) -> tuple[Any, Any, Any]:
    client = seaweed.client()
    for key in ("kept.bin", "changed.bin", "gone.bin"):
        client.put_object(Bucket=s3_bucket, Key=key, Body=key.encode() * 10)
    client.put_object(Bucket=s3_bucket, Key="resaved.bin", Body=RESAVED)
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    package = packages.package_create(owner=owner, name="Drift")
    packages.package_add_objects(
        package=package, source=source, paths=["kept.bin", "resaved.bin", "changed.bin", "gone.bin"]
    )
    return client, source, publish(package)


def test_beat_queues_versions_not_verified_lately(
    drifting: tuple[Any, Any, PackageVersion], monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    _, _, version = drifting
    queued: list[int] = []
    monkeypatch.setattr(tasks.verify_version, "delay", queued.append)
    settings.DRIFT_VERIFY_HOURS = 24
    assert drift.versions_verify_due() == 0  # just published
    PackageVersion.objects.filter(pk=version.pk).update(published_at=timezone.now() - dt.timedelta(hours=25))
    assert drift.versions_verify_due() == 1
    assert queued == [version.pk]
    PackageVersion.objects.filter(pk=version.pk).update(drift_checked_at=timezone.now() - dt.timedelta(hours=1))
    assert drift.versions_verify_due() == 0  # verified an hour ago: not due
    assert queued == [version.pk]


def test_it_asks_storage_only_where_the_index_does_not_vouch(
    drifting: tuple[Any, Any, PackageVersion], s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, source, version = drifting
    client.put_object(Bucket=s3_bucket, Key="changed.bin", Body=b"other bytes")
    client.delete_object(Bucket=s3_bucket, Key="gone.bin")
    # Same bytes again as a two-part upload: another ETag, same size and sha256.
    body = RESAVED
    upload = client.create_multipart_upload(Bucket=s3_bucket, Key="resaved.bin")["UploadId"]
    parts = []
    for number, piece in ((1, body[: 5 * 1024 * 1024]), (2, body[5 * 1024 * 1024 :])):
        etag = client.upload_part(Bucket=s3_bucket, Key="resaved.bin", UploadId=upload, PartNumber=number, Body=piece)[
            "ETag"
        ]
        parts.append({"PartNumber": number, "ETag": etag})
    client.complete_multipart_upload(
        Bucket=s3_bucket, Key="resaved.bin", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    source_index(source_pk=source.pk)  # the index has seen storage since the version was published

    asked: list[str] = []
    real = clients.backend_for

    def counting(of: Any) -> Any:
        backend = real(of)
        stat = backend.stat

        def counted(key: str, version_id: str = "") -> Any:
            asked.append(key)
            return stat(key, version_id)

        backend.stat = counted  # type: ignore[method-assign]
        return backend

    monkeypatch.setattr(clients, "backend_for", counting)
    drift.version_verify_run(version_pk=version.pk)
    version.refresh_from_db()
    assert set(asked) == {"changed.bin", "gone.bin", "resaved.bin"}  # kept.bin: the index vouched
    assert version.drift_missing == ["gone.bin"]
    assert version.drift_changed == ["changed.bin"]  # resaved.bin: read, and the same bytes
    assert (version.verify_done, version.verify_total) == (4, 4)
    assert version.drift_checked_at is not None


def test_a_collaborator_gets_a_clear_page_for_a_file_known_to_be_gone(
    drifting: tuple[Any, Any, PackageVersion], s3_bucket: str, owner: Any, client: Any
) -> None:
    storage, _, version = drifting
    storage.delete_object(Bucket=s3_bucket, Key="gone.bin")
    drift.version_verify_run(version_pk=version.pk)
    share = shares.share_create(package=version.package, created_by=owner)
    page = client.get(f"/s/{share.token}/").content.decode()
    assert "Files last verified against storage" in page
    assert "1 missing, 0 changed" in page
    assert "missing from storage" in page  # the file's row says it
    clicked = client.get(f"/s/{share.token}/r/gone.bin", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert clicked.status_code == 409
    assert "Location" not in clicked
    assert "This file is not available" in clicked.content.decode()
    assert "gone.bin" in clicked.content.decode()
    scripted = client.get(f"/s/{share.token}/r/gone.bin")
    assert scripted.status_code == 409 and scripted["Content-Type"].startswith("text/plain")
