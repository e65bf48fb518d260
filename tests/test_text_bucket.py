"""The text bucket: created by `manage.py create_text_bucket`, checked by /readyz."""

from __future__ import annotations

import uuid
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from tests.conftest import S3Server

pytestmark = pytest.mark.django_db


@pytest.fixture
def text_bucket(settings: Any, seaweed: S3Server) -> str:
    """TEXT_STORAGE=s3 on a bucket that does not exist yet."""
    bucket = f"text-{uuid.uuid4().hex[:12]}"
    settings.TEXT_STORAGE = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": seaweed.endpoint_url,
                "access_key": seaweed.access_key_id,
                "secret_key": seaweed.secret_access_key,
                "region_name": seaweed.region,
                "addressing_style": "path",
                "default_acl": None,
            },
        },
    }
    return bucket


def _bucket_exists(seaweed: S3Server, bucket: str) -> bool:
    return bucket in {item["Name"] for item in seaweed.client().list_buckets()["Buckets"]}


def test_it_creates_the_text_bucket_once(text_bucket: str, seaweed: S3Server) -> None:
    output = StringIO()
    call_command("create_text_bucket", stdout=output)
    assert f"Created the text bucket '{text_bucket}'" in output.getvalue()
    assert _bucket_exists(seaweed, text_bucket)
    output = StringIO()
    call_command("create_text_bucket", stdout=output)
    assert "exists" in output.getvalue()


def test_it_is_ready_only_once_the_text_bucket_exists(client: Any, text_bucket: str) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["status"] == "fail"
    call_command("create_text_bucket", stdout=StringIO())
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["storage"]["status"] == "ok"


def test_it_has_no_bucket_to_create_for_local_text_storage() -> None:
    output = StringIO()
    call_command("create_text_bucket", stdout=output)
    assert "TEXT_STORAGE=local" in output.getvalue()
