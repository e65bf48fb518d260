"""Published versions: snapshot, checksums (cache, store, streamed read), top hash, diff, drift, API and pages."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from packager import checksumming, drift, versions
from packager import services as packages
from packager.models import Package, PackageVersion, VersionEntry
from shares import services as shares
from sources.models import ObjectChecksum, Source
from tests.conftest import S3Server
from tests.factories import make_local_source, make_source, publish, write_files

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

FILES = {
    "raw/a.csv": b"alpha,beta\n1,2\n",
    "raw/deep/b #1.bin": bytes(range(256)) * 40,
    "z\u00e9ta.txt": "caf\u00e9".encode(),
    "empty.dat": b"",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def recomputed_top_hash(records: list[dict[str, Any]]) -> str:
    """The top hash as the README tells a collaborator to compute it."""
    lines = "".join(f"{r['path']}\0{r['size']}\0{r['sha256']}\n" for r in sorted(records, key=lambda r: r["path"]))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


@pytest.fixture
def local_package(owner: Any, tmp_path: Path) -> Package:
    write_files(tmp_path / "data", FILES)
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Lake")
    packages.package_add_objects(package=package, source=source, paths=[""], target="data", keep_folder_names=False)
    packages.package_write_text(package=package, path="README.md", content="# Lake\n")
    return package


def test_it_publishes_every_file_with_both_hashes_and_a_top_hash(local_package: Package, owner: Any) -> None:
    version = publish(local_package, "first", created_by=owner)
    assert version.number == 1
    assert (version.entry_count, version.file_count) == (5, 4)
    assert version.total_size == sum(len(data) for data in FILES.values()) + len(b"# Lake\n")
    entries = {entry.path: entry for entry in version.entries.all()}
    for key, data in FILES.items():
        entry = entries[f"data/{key}"]
        assert entry.sha256 == sha256(data)
        assert entry.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    records = [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in entries.values()]
    assert version.top_hash == recomputed_top_hash(records)
    # Positions follow code-point order (uppercase before lowercase, "é" after "z").
    ordered = list(version.entries.order_by("position").values_list("path", flat=True))
    assert ordered == sorted(ordered)
    local_package.refresh_from_db()
    assert local_package.latest_version == version


def test_it_keeps_the_snapshot_when_the_draft_changes(local_package: Package) -> None:
    version = publish(local_package)
    packages.package_write_text(package=local_package, path="README.md", content="# Changed\n")
    packages.package_remove(package=local_package, path="data/raw")
    assert version.entries.count() == 5
    readme = version.entries.get(path="README.md")
    assert readme.read_text() == "# Lake\n"  # the draft's new text did not replace the version's file


def test_it_lists_what_changed_between_versions(local_package: Package) -> None:
    first = publish(local_package)
    packages.package_remove(package=local_package, path="data/empty.dat")
    packages.package_write_text(package=local_package, path="README.md", content="# Lake, second\n")
    packages.package_write_text(package=local_package, path="notes.txt", content="new")
    second = publish(local_package)
    diff = versions.version_diff(second, versions.previous_version(second))
    assert [item["path"] for item in diff.added] == ["notes.txt"]
    assert [item["path"] for item in diff.removed] == ["data/empty.dat"]
    assert diff.changed == [{"path": "README.md", "size": 15, "previous_size": 7}]
    assert versions.previous_version(second) == first


def test_it_refuses_to_publish_an_empty_package(owner: Any) -> None:
    package = packages.package_create(owner=owner, name="Empty")
    with pytest.raises(versions.VersionError):
        versions.package_publish(package=package)


def test_it_reuses_checksums_of_objects_it_has_read(local_package: Package, owner: Any, tmp_path: Path) -> None:
    publish(local_package)
    rows = ObjectChecksum.objects.count()
    assert rows == len(FILES)
    other = packages.package_create(owner=owner, name="Other")
    source = Source.objects.get(owner=owner)
    packages.package_add_objects(package=other, source=source, paths=["raw/a.csv"])
    version = publish(other)
    assert version.entries.get().sha256 == sha256(FILES["raw/a.csv"])
    assert ObjectChecksum.objects.count() == rows
    # The cache gave its hashes: publishing read nothing (it only asked storage for the pin).
    assert (version.bytes_to_read, version.progress_bytes_done) == (0, 0)


def test_a_file_gone_from_storage_fails_the_version_with_its_path(
    local_package: Package, owner: Any, tmp_path: Path
) -> None:
    (tmp_path / "data" / "raw" / "a.csv").unlink()
    version = versions.package_publish(package=local_package)
    checksumming.version_publish_run(version_pk=version.pk)
    version.refresh_from_db()
    assert version.state == "failed"
    assert [failure["path"] for failure in version.failed_paths] == ["data/raw/a.csv"]
    assert "not found" in version.failed_paths[0]["reason"]


def test_it_takes_what_s3_vouches_for_without_reading(owner: Any, seaweed: S3Server, s3_bucket: str) -> None:
    client = seaweed.client()
    body = b"vouched for" * 100
    client.put_object(Bucket=s3_bucket, Key="vouched.bin", Body=body, ChecksumAlgorithm="SHA256")
    client.put_object(Bucket=s3_bucket, Key="plain.bin", Body=b"plain")
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    package = packages.package_create(owner=owner, name="S3")
    packages.package_add_objects(package=package, source=source, paths=["vouched.bin", "plain.bin"])
    version = publish(package)
    origins = dict(ObjectChecksum.objects.values_list("key", "origin"))
    assert origins == {"vouched.bin": "store", "plain.bin": "read"}
    assert version.entries.get(path="vouched.bin").sha256 == sha256(body)
    assert version.bytes_to_read == len(b"plain")


def test_it_waits_for_a_confirmation_before_reading_much(
    local_package: Package, owner: Any, owner_client: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CHECKSUM_CONFIRM_BYTES = 1000
    version = versions.package_publish(package=local_package)
    checksumming.version_publish_run(version_pk=version.pk)
    version.refresh_from_db()
    assert version.state == PackageVersion.State.CHECKSUMMING
    assert version.awaiting_confirmation
    assert version.bytes_to_read == sum(len(data) for data in FILES.values())
    assert not version.entries.exclude(kind="text").exclude(sha256="").exists()  # nothing read yet
    page = owner_client.get(reverse("version_detail", args=[local_package.public_id, 1]))
    assert "Read 10.0\xa0KB and publish" in page.content.decode()
    url = f"/api/v1/packages/{local_package.public_id}/versions/1/confirm"
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(url)
    assert response.status_code == 202
    version.refresh_from_db()
    assert version.state == PackageVersion.State.PUBLISHED
    assert owner_client.post(url).status_code == 409


def test_it_fails_with_the_paths_it_could_not_read(local_package: Package, tmp_path: Path) -> None:
    (tmp_path / "data" / "raw" / "a.csv").unlink()
    version = versions.package_publish(package=local_package)
    checksumming.version_publish_run(version_pk=version.pk)
    version.refresh_from_db()
    assert version.state == PackageVersion.State.FAILED
    assert [failed["path"] for failed in version.failed_paths] == ["data/raw/a.csv"]
    assert "data/raw/a.csv" in version.error
    local_package.refresh_from_db()
    assert local_package.latest_version is None


def test_verify_reports_missing_and_changed_objects(owner: Any, seaweed: S3Server, s3_bucket: str) -> None:
    client = seaweed.client()
    for key in ("kept.bin", "changed.bin", "gone.bin"):
        client.put_object(Bucket=s3_bucket, Key=key, Body=key.encode())
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    package = packages.package_create(owner=owner, name="Drift")
    packages.package_add_objects(package=package, source=source, paths=["kept.bin", "changed.bin", "gone.bin"])
    version = publish(package)
    client.put_object(Bucket=s3_bucket, Key="changed.bin", Body=b"other bytes")
    client.delete_object(Bucket=s3_bucket, Key="gone.bin")
    drift.version_verify_run(version_pk=version.pk)
    version.refresh_from_db()
    assert version.drift_missing == ["gone.bin"]
    assert version.drift_changed == ["changed.bin"]
    assert dict(version.entries.values_list("path", "drift")) == {
        "kept.bin": "",
        "changed.bin": VersionEntry.Drift.CHANGED,
        "gone.bin": VersionEntry.Drift.MISSING,
    }


def test_a_versioned_bucket_pins_the_object_version(owner: Any, seaweed: S3Server, s3_bucket: str) -> None:
    client = seaweed.client()
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    first = client.put_object(Bucket=s3_bucket, Key="x.bin", Body=b"first bytes")
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    package = packages.package_create(owner=owner, name="Versioned")
    packages.package_add_objects(package=package, source=source, paths=["x.bin"])
    version = publish(package)
    client.put_object(Bucket=s3_bucket, Key="x.bin", Body=b"second bytes, longer")
    entry = version.entries.get()
    assert entry.version_id == first["VersionId"]
    assert entry.sha256 == sha256(b"first bytes")
    drift.version_verify_run(version_pk=version.pk)
    version.refresh_from_db()
    assert (version.drift_missing, version.drift_changed) == ([], [])  # the pinned version is still there


# Shares and versions --------------------------------------------------------------------


def test_a_pinned_share_keeps_its_version_and_latest_moves_on(local_package: Package, owner: Any) -> None:
    first = publish(local_package)
    pinned = shares.share_create(package=local_package, created_by=owner, version=1)
    latest = shares.share_create(package=local_package, created_by=owner)
    packages.package_write_text(package=local_package, path="README.md", content="# v2\n")
    second = versions.package_publish(package=local_package)
    latest.refresh_from_db()
    assert latest.serving_version == first  # v2 is still checksumming
    checksumming.version_publish_run(version_pk=second.pk)
    pinned.refresh_from_db()
    latest.refresh_from_db()
    assert pinned.serving_version == first
    assert latest.serving_version == second


def test_sharing_a_package_never_published_publishes_v1(
    local_package: Package, owner: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        share = shares.share_create(package=local_package, created_by=owner)
    share.refresh_from_db()
    assert share.serving_version is not None
    assert share.serving_version.number == 1
    assert share.serving_version.message.startswith("First version")


def test_a_share_cannot_pin_a_version_that_does_not_exist(local_package: Package, owner: Any) -> None:
    with pytest.raises(shares.ShareError, match="no version 7"):
        shares.share_create(package=local_package, created_by=owner, version=7)


# API --------------------------------------------------------------------------------------


def test_the_api_publishes_and_reports_versions(
    local_package: Package, owner_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    base = f"/api/v1/packages/{local_package.public_id}/versions"
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(base, {"message": "first"}, content_type="application/json")
    assert response.status_code == 202
    assert response.json()["number"] == 1
    assert response.json()["state"] == "checksumming"
    body = owner_client.get(f"{base}/1").json()
    assert body["state"] == "published"
    assert body["progress"] == {
        "done": 4,
        "total": 4,
        "bytes_done": body["progress"]["bytes_total"],
        "bytes_total": 10260,
    }
    assert body["entry_count"] == 5
    assert len(body["top_hash"]) == 64
    assert [item["number"] for item in owner_client.get(base).json()] == [1]
    diff = owner_client.get(f"{base}/1/diff").json()
    assert diff["previous"] is None
    assert diff["added_count"] == 5
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.post(f"{base}/1/verify").status_code == 202
    assert owner_client.get(f"{base}/1").json()["drift"]["missing"] == []
    assert owner_client.get(f"{base}/9").status_code == 404


def test_the_api_creates_pinned_and_latest_shares(local_package: Package, owner_client: Any) -> None:
    publish(local_package)
    url = f"/api/v1/packages/{local_package.public_id}/shares"
    pinned = owner_client.post(url, {"version": 1}, content_type="application/json")
    assert pinned.status_code == 201
    assert (pinned.json()["version"], pinned.json()["serving_version"]) == (1, 1)
    latest = owner_client.post(url, {}, content_type="application/json").json()
    assert (latest["version"], latest["serving_version"]) == ("latest", 1)
    assert owner_client.post(url, {"version": 5}, content_type="application/json").status_code == 422  # no version 5
    assert owner_client.post(url, {"version": "newest"}, content_type="application/json").status_code == 400


def test_outsiders_and_anonymous_users_get_nothing(local_package: Package, outsider_client: Any, client: Any) -> None:
    publish(local_package)
    base = f"/api/v1/packages/{local_package.public_id}/versions"
    assert outsider_client.get(base).status_code == 404
    assert outsider_client.get(f"{base}/1").status_code == 404
    assert outsider_client.post(f"{base}/1/verify").status_code == 404
    assert outsider_client.get(reverse("version_detail", args=[local_package.public_id, 1])).status_code == 404
    assert outsider_client.post(reverse("package_versions", args=[local_package.public_id])).status_code == 404
    client.logout()
    assert client.get(base).status_code == 401
    page = client.get(reverse("package_versions", args=[local_package.public_id]))
    assert page.status_code == 302
    assert "/login/" in page["Location"]


# Pages ------------------------------------------------------------------------------------


def test_the_package_page_publishes_and_shows_progress(
    local_package: Package, owner_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    url = reverse("package_versions", args=[local_package.public_id])
    response = owner_client.post(url, {"message": "from the page"})
    assert response.status_code == 302
    version = local_package.versions.get()
    assert version.state == "checksumming"  # the task has not run: on_commit was not executed
    page = owner_client.get(reverse("package_detail", args=[local_package.public_id])).content.decode()
    assert "checksumming" in page
    assert "<progress" in page
    assert 'hx-trigger="every 2s"' in page  # the versions card refreshes itself
    partial = owner_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and "<progress" in partial
    checksumming.version_publish_run(version_pk=version.pk)
    partial = owner_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "published" in partial and "hx-trigger" not in partial


def test_the_version_page_shows_the_top_hash_and_changes(local_package: Package, owner_client: Any) -> None:
    publish(local_package)
    packages.package_write_text(package=local_package, path="more.md", content="more")
    second = publish(local_package)
    page = owner_client.get(reverse("version_detail", args=[local_package.public_id, 2])).content.decode()
    assert second.top_hash in page
    assert "1 added" in page and "more.md" in page
    assert owner_client.get(reverse("version_verify", args=[local_package.public_id, 2])).status_code == 405


def test_the_share_form_offers_latest_and_each_version(local_package: Package, owner_client: Any) -> None:
    publish(local_package)
    url = reverse("package_shares", args=[local_package.public_id])
    page = owner_client.get(url).content.decode()
    assert 'value="latest"' in page and 'value="1"' in page
    owner_client.post(url, {"version": "1", "label": "pinned"})
    share = local_package.shares.get()
    assert share.version is not None and share.version.number == 1
    assert json.loads(json.dumps(share.label)) == "pinned"


def test_a_store_checksum_of_parts_is_not_taken_for_the_object() -> None:
    from sources.backends.s3 import _store_md5, _store_sha256

    digest = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    assert _store_sha256({"ChecksumSHA256": digest, "ChecksumType": "FULL_OBJECT"}) == sha256(b"x")
    assert _store_sha256({"ChecksumSHA256": digest + "-3", "ChecksumType": "COMPOSITE"}) == ""
    assert _store_md5({}, "0cc175b9c0f1b6a831c399e269772661") == "0cc175b9c0f1b6a831c399e269772661"
    assert _store_md5({}, "0cc175b9c0f1b6a831c399e269772661-2") == ""
    assert _store_md5({"ServerSideEncryption": "aws:kms"}, "0cc175b9c0f1b6a831c399e269772661") == ""


def test_a_text_file_gone_from_storage_fails_the_version_with_a_reason(local_package: Package) -> None:
    from django.core.files.storage import default_storage

    readme = local_package.entries.get(path="README.md")
    default_storage.delete(readme.text_file.name)
    version = versions.package_publish(package=local_package)
    checksumming.version_publish_run(version_pk=version.pk)
    version.refresh_from_db()
    assert version.state == PackageVersion.State.FAILED
    assert version.failed_paths[0]["path"] == "(text files and exports)"
    assert version.error
