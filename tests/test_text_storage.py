"""Text files go through Django's storage API, so django-storages can keep them in S3."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from django.urls import reverse

from packager import services
from shares.services import share_create
from tests.conftest import S3Server
from tests.factories import publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def s3_text_storage(settings: Any, seaweed: S3Server, s3_bucket: str) -> str:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": s3_bucket,
                "endpoint_url": seaweed.endpoint_url,
                "access_key": seaweed.access_key_id,
                "secret_key": seaweed.secret_access_key,
                "region_name": seaweed.region,
                "location": "packager-text",
                "addressing_style": "path",
                "default_acl": None,
                "file_overwrite": False,
            },
        },
    }
    return s3_bucket


def test_text_entries_live_in_the_bucket_and_reach_the_zip(
    s3_text_storage: str, seaweed: S3Server, owner: Any, client: Any
) -> None:
    package = services.package_create(owner=owner, name="Stored remotely")
    entry = services.package_write_text(package=package, path="README.md", content="# Kept in S3")
    keys = [item["Key"] for item in seaweed.client().list_objects_v2(Bucket=s3_text_storage)["Contents"]]
    assert keys == [f"packager-text/{entry.text_file.name}"]
    publish(package)  # reads the text back from the bucket for the ZIP
    share = share_create(package=package, created_by=owner)
    body = b"".join(client.get(reverse("share_download_zip", args=[share.token])).streaming_content)
    assert zipfile.ZipFile(io.BytesIO(body)).read("stored-remotely/README.md") == b"# Kept in S3"
    assert b"<h1>Kept in S3</h1>" in client.get(reverse("share_page", args=[share.token])).content
    services.package_remove(package=package, path="README.md")
