"""The source form's "Test connection" button: which part failed, typed values kept, no stored secret shown."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from sources.models import Source
from tests.conftest import S3Server
from tests.test_sources_views import form_data

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.parametrize(
    ("change", "part"),
    [
        ({"endpoint_url": "http://storage.invalid:9000"}, "DNS"),
        ({"secret_access_key": "not-the-secret"}, "Credentials"),
        ({"access_key_id": "AKIAUNKNOWN0000000000"}, "Credentials"),
        ({"bucket": "no-such-bucket"}, "Bucket or container"),
    ],
)
def test_it_answers_which_part_of_the_connection_failed(
    owner_client: Any, seaweed: S3Server, s3_bucket: str, change: dict[str, str], part: str
) -> None:
    data = {**form_data(seaweed, s3_bucket), **change, "action": "test"}
    response = owner_client.post(reverse("source_add"), data, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert f"Failed at: {part}" in body
    assert "<form" not in body  # only the outcome: the fields in the browser stay as typed
    assert "no-store" in response["Cache-Control"]
    assert not Source.objects.exists()


def test_it_names_tls_when_https_meets_a_plain_http_endpoint(
    owner_client: Any, seaweed: S3Server, s3_bucket: str
) -> None:
    endpoint = seaweed.endpoint_url.replace("http://", "https://")
    data = {**form_data(seaweed, s3_bucket, endpoint_url=endpoint), "action": "test"}
    body = owner_client.post(reverse("source_add"), data, **HTMX).content.decode()
    assert "Failed at: TLS" in body


def test_a_passing_test_answers_passed_and_saves_nothing(owner_client: Any, seaweed: S3Server, s3_bucket: str) -> None:
    data = {**form_data(seaweed, s3_bucket), "action": "test"}
    body = owner_client.post(reverse("source_add"), data, **HTMX).content.decode()
    assert "Connection test passed" in body
    assert not Source.objects.exists()


def test_validation_errors_keep_the_secret_typed_in_this_request(
    owner_client: Any, seaweed: S3Server, s3_bucket: str
) -> None:
    # Without script: the whole form comes back, with what was just typed in it.
    data = {**form_data(seaweed, s3_bucket), "presign_ttl": "5"}
    response = owner_client.post(reverse("source_add"), data)
    body = response.content.decode()
    assert "Ensure this value is greater than or equal to 60" in body
    field = re.search(r'<input type="password" name="secret_access_key"[^>]*>', body)
    assert field and f'value="{seaweed.secret_access_key}"' in field.group(0)
    assert "no-store" in response["Cache-Control"]


def test_a_stored_secret_is_never_rendered_back(owner_client: Any, seaweed: S3Server, s3_bucket: str) -> None:
    assert owner_client.post(reverse("source_add"), form_data(seaweed, s3_bucket)).status_code == 302
    source = Source.objects.get()
    url = reverse("source_edit", args=[source.public_id])
    # Credentials left empty keep the stored ones; an error elsewhere re-renders the form.
    data = {**form_data(seaweed, s3_bucket), "access_key_id": "", "secret_access_key": "", "presign_ttl": "5"}
    for response in (
        owner_client.get(url),
        owner_client.post(url, data),
        owner_client.post(url, {**data, "presign_ttl": 900, "action": "test"}, **HTMX),
    ):
        assert seaweed.secret_access_key.encode() not in response.content
        assert seaweed.access_key_id.encode() not in response.content
    tested = owner_client.post(url, {**data, "presign_ttl": 900, "action": "test"}, **HTMX)
    assert b"Connection test passed" in tested.content  # tested with the stored secret
