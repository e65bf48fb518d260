"""Publishing a version to a bucket: versioned SeaweedFS, Azurite, refused writes, idempotence, UI and API."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
import zipfile
from typing import Any

import pytest
from django.urls import reverse

from packager import publications
from packager import services as packages
from packager.models import Package, PackageVersion, VersionPublication
from sources.models import Source
from tests.conftest import AzureServer, S3Server
from tests.factories import make_source, publish
from tests.s3_servers import SeaweedS3

pytestmark = pytest.mark.django_db

README = "# Results\n\nThe summer campaign.\n"
NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
TEMPLATE = "releases/{package}/v{version}-{date}/"


@pytest.fixture
def data_source(owner: Any, seaweed: S3Server, s3_bucket: str) -> Source:
    client = seaweed.client()
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=s3_bucket, Key="raw/readings.csv", Body=b"a,b\n1,2\n")
    client.put_object(Bucket=s3_bucket, Key="raw/big.bin", Body=b"\0" * 5000)
    return make_source(owner, seaweed.source_fields(s3_bucket, name="data"))


@pytest.fixture
def version(owner: Any, data_source: Source) -> PackageVersion:
    package = packages.package_create(owner=owner, name="Summer set")
    packages.package_add_objects(package=package, source=data_source, paths=["raw/"], target="data")
    packages.package_write_text(package=package, path="README.md", content=README)
    packages.package_write_text(package=package, path="notebooks/look.ipynb", content=NOTEBOOK)
    return publish(package, created_by=owner)


@pytest.fixture
def versioned_destination(owner: Any, seaweed: S3Server) -> Source:
    bucket = f"releases-{uuid.uuid4().hex[:10]}"
    client = seaweed.client()
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return make_source(owner, seaweed.source_fields(bucket, name="releases"), index=False)


def run(version: PackageVersion, destination: Source, capture: Any, **options: Any) -> VersionPublication:
    with capture(execute=True):
        publication = publications.publication_request(
            version=version, source=destination, key_template=options.pop("template", TEMPLATE), **options
        )
    publication.refresh_from_db()
    return publication


def test_it_publishes_to_a_versioned_s3_bucket_with_checked_checksums(
    version: PackageVersion,
    versioned_destination: Source,
    data_source: Source,
    seaweed: S3Server,
    django_capture_on_commit_callbacks: Any,
) -> None:
    publication = run(version, versioned_destination, django_capture_on_commit_callbacks, include_zip=True)
    assert publication.state == "done", publication.error
    day = version.published_at.strftime("%Y%m%d")  # type: ignore[union-attr]
    prefix = f"releases/summer-set/v1-{day}/"
    assert publication.prefix == prefix
    assert (publication.bucket, publication.region, publication.endpoint) == (
        versioned_destination.bucket,
        "us-east-1",
        seaweed.endpoint_url,
    )
    names = [item["key"][len(prefix) :] for item in publication.written]
    assert names == ["manifest.jsonl", "datapackage.json", "README.md", "notebooks/look.ipynb", "summer-set-v1.zip"]
    assert publication.progress_done == publication.progress_total == 5

    client = seaweed.client()
    listed = client.list_objects_v2(Bucket=versioned_destination.bucket)["Contents"]
    assert sorted(item["Key"] for item in listed) == sorted(prefix + name for name in names)  # never the data
    for item in publication.written:
        stored = client.get_object(
            Bucket=versioned_destination.bucket, Key=item["key"], VersionId=item["version_id"], ChecksumMode="ENABLED"
        )
        body = stored["Body"].read()
        assert hashlib.sha256(body).hexdigest() == item["sha256"]
        assert (
            stored["ChecksumSHA256"]
            == item["checksum_sha256"]
            == base64.b64encode(hashlib.sha256(body).digest()).decode()
        )
        assert item["version_id"] and stored["VersionId"] == item["version_id"]
        if item["key"].endswith("README.md"):
            assert body.decode() == README

    manifest = [
        json.loads(line)
        for line in client.get_object(Bucket=versioned_destination.bucket, Key=prefix + "manifest.jsonl")[
            "Body"
        ].iter_lines()
    ]
    by_path = {line["path"]: line for line in manifest}
    readings = by_path["data/raw/readings.csv"]
    source_version = client.head_object(Bucket=data_source.bucket, Key="raw/readings.csv")["VersionId"]
    assert readings["url"] == f"s3://{data_source.bucket}/raw/readings.csv?versionId={source_version}"
    assert readings["sha256"] == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert by_path["README.md"]["url"] == "README.md"
    described = json.loads(
        client.get_object(Bucket=versioned_destination.bucket, Key=prefix + "datapackage.json")["Body"].read()
    )
    assert [resource["path"] for resource in described["resources"]] == [line["url"] for line in manifest]
    archive = client.get_object(Bucket=versioned_destination.bucket, Key=prefix + "summer-set-v1.zip")["Body"].read()
    assert sorted(zipfile.ZipFile(io.BytesIO(archive)).namelist()) == [
        "summer-set/README.md",
        "summer-set/datapackage.json",
        "summer-set/manifest.jsonl",
        "summer-set/notebooks/look.ipynb",
    ]


@pytest.mark.postgres  # the publication row is taken under a lock (select_for_update) before it is reused
def test_publishing_again_to_the_same_place_is_idempotent(
    version: PackageVersion,
    versioned_destination: Source,
    seaweed: S3Server,
    django_capture_on_commit_callbacks: Any,
) -> None:
    first = run(version, versioned_destination, django_capture_on_commit_callbacks)
    again = run(version, versioned_destination, django_capture_on_commit_callbacks)
    assert again.pk == first.pk and again.state == "done"
    assert all(item["skipped"] for item in again.written)
    assert [item["version_id"] for item in again.written] == [item["version_id"] for item in first.written]
    versions = seaweed.client().list_object_versions(Bucket=versioned_destination.bucket)["Versions"]
    assert len(versions) == len(first.written)  # no new object versions
    assert VersionPublication.objects.count() == 1


def test_it_publishes_to_azurite_with_store_checked_md5(
    owner: Any,
    version: PackageVersion,
    azurite: AzureServer,
    azure_container: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    destination = make_source(owner, azurite.source_fields(azure_container, name="azure releases"), index=False)
    publication = run(version, destination, django_capture_on_commit_callbacks, template="{package}/{top_hash}")
    assert publication.state == "done", publication.error
    assert publication.prefix == f"summer-set/{version.top_hash}/"
    assert publication.endpoint == azurite.account_url
    container = azurite.service().get_container_client(azure_container)
    assert sorted(blob.name for blob in container.list_blobs()) == sorted(item["key"] for item in publication.written)
    for item in publication.written:
        blob = container.get_blob_client(item["key"])
        body = blob.download_blob().readall()
        properties = blob.get_blob_properties()
        assert hashlib.sha256(body).hexdigest() == item["sha256"] == properties.metadata["sha256"]
        assert base64.b64encode(bytes(properties.content_settings.content_md5)).decode() == item["content_md5"]
        assert base64.b64encode(hashlib.md5(body).digest()).decode() == item["content_md5"]


@pytest.fixture
def read_only_s3(seaweed: SeaweedS3, s3_bucket: str) -> tuple[S3Server, str]:
    """The identity of the S3 server that may read and list every bucket but not write, and a bucket."""
    return seaweed.reader(), s3_bucket


def test_missing_write_permission_is_a_clear_error(
    owner: Any, version: PackageVersion, read_only_s3: tuple[S3Server, str], django_capture_on_commit_callbacks: Any
) -> None:
    server, bucket = read_only_s3
    destination = make_source(owner, server.source_fields(bucket, name="read only"), index=False)
    publication = run(version, destination, django_capture_on_commit_callbacks)
    assert publication.state == "failed"
    assert publication.error.startswith(f"This source's credentials may not write to “{bucket}/releases/summer-set/v1-")
    assert "s3:PutObject" in publication.error
    assert publication.written == []


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("releases/{name}/", "Unknown placeholder “{name}”"),
        ("releases/{version!r}/", "Unknown placeholder “{version}”"),
        ("releases/{package/", "unmatched"),
        ("releases/../{package}/", "must not name"),
    ],
)
def test_bad_key_templates_are_refused(version: PackageVersion, template: str, message: str) -> None:
    with pytest.raises(publications.PublicationError) as error:
        publications.render_key_template(template, version=version)
    assert message in error.value.message


def test_key_templates_fill_every_placeholder(version: PackageVersion) -> None:
    moment = version.published_at
    assert moment is not None
    rendered = publications.render_key_template("{package}/{version}/{top_hash}/{date}-{time}", version=version)
    assert rendered == f"summer-set/1/{version.top_hash}/{moment:%Y%m%d}-{moment:%H%M%S}/"


def test_only_published_versions_and_writable_sources_are_destinations(
    owner: Any, version: PackageVersion, data_source: Source, tmp_path: Any
) -> None:
    draft = PackageVersion.objects.create(package=version.package, number=2)
    with pytest.raises(publications.PublicationError, match="Only a published version"):
        publications.publication_request(version=draft, source=data_source, key_template=TEMPLATE)
    folder = make_source(owner, {"name": "folder", "kind": "local", "path": str(tmp_path)}, index=False)
    with pytest.raises(publications.PublicationError, match="S3 or Azure source"):
        publications.publication_request(version=version, source=folder, key_template=TEMPLATE)


# Pages and API ---------------------------------------------------------------------------


def test_the_owner_publishes_from_the_version_page(
    client: Any,
    owner: Any,
    outsider: Any,
    version: PackageVersion,
    versioned_destination: Source,
    django_capture_on_commit_callbacks: Any,
) -> None:
    url = reverse("version_publications", args=[version.package.public_id, version.number])
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    assert (
        client.post(url, {"destination": versioned_destination.public_id, "key_template": TEMPLATE}).status_code == 404
    )
    client.force_login(owner)
    assert client.put(url).status_code == 405
    page = client.get(url)
    assert page.status_code == 200 and b"releases/{package}/v{version}-{date}/" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"destination": versioned_destination.public_id, "key_template": TEMPLATE})
    assert response.status_code == 302
    shown = client.get(url).content.decode()
    assert "Published" in shown and "manifest.jsonl" in shown and "ChecksumSHA256" in shown
    record = VersionPublication.objects.get()
    assert record.written[0]["checksum_sha256"] in shown and record.written[0]["version_id"] in shown
    refused = client.post(url, {"destination": versioned_destination.public_id, "key_template": "{nope}/"})
    assert refused.status_code == 400 and "Unknown placeholder" in refused.content.decode()


def test_the_api_publishes_and_lists_records(
    client: Any,
    owner: Any,
    outsider: Any,
    version: PackageVersion,
    versioned_destination: Source,
    django_capture_on_commit_callbacks: Any,
    django_assert_num_queries: Any,
) -> None:
    package: Package = version.package
    url = f"/api/v1/packages/{package.public_id}/versions/{version.number}/publications"
    body = json.dumps({"destination": str(versioned_destination.public_id), "key_template": "api/{version}"})
    client.force_login(outsider)
    assert client.post(url, body, content_type="application/json").status_code == 404
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(url, body, content_type="application/json")
    assert created.status_code == 202 and created.json()["key"] == "api/1/"
    other = json.dumps({"destination": str(versioned_destination.public_id), "key_template": "other/{version}"})
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, other, content_type="application/json")
    with django_assert_num_queries(4):  # session, user, version, records with their sources: not one per record
        listed = client.get(url).json()
    assert [(record["key"], record["state"]) for record in listed] == [("other/1/", "done"), ("api/1/", "done")]
    assert listed[1]["bucket"] == versioned_destination.bucket and len(listed[1]["objects"]) == 4
    assert all(item["checksum_sha256"] and item["version_id"] for item in listed[1]["objects"])


def test_a_publication_stops_when_its_requester_lost_the_role_meanwhile(
    owner: Any, version: PackageVersion, versioned_destination: Source, django_user_model: Any, seaweed: S3Server
) -> None:
    from teams import services as teams
    from teams.models import Membership

    curator = django_user_model.objects.create_user("carla")
    team = teams.team_create(name="Lake lab", creator=owner)
    teams.member_add(team=team, user=curator, role="curator", actor=owner)
    Package.objects.filter(pk=version.package_id).update(team=team)
    Source.objects.filter(pk=versioned_destination.pk).update(team=team)
    version.refresh_from_db()
    versioned_destination.refresh_from_db()
    publication = publications.publication_request(
        version=version, source=versioned_destination, key_template=TEMPLATE, created_by=curator
    )  # (the task waits for the commit, which this test never makes)
    Membership.objects.filter(team=team, user=curator).update(role="viewer")
    assert publications.publication_run(publication_pk=publication.pk) is True
    publication.refresh_from_db()
    assert publication.state == "failed" and "carla may no longer write this package" in publication.error
    assert seaweed.client().list_objects_v2(Bucket=versioned_destination.bucket).get("KeyCount", 0) == 0
