"""Source pages: connect, test, browse, object detail; errors; who may see what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sources.models import Source
from tests.conftest import S3Server
from tests.factories import make_local_source, make_source, write_files

pytestmark = pytest.mark.django_db


def form_data(server: S3Server, bucket: str, **extra: Any) -> dict[str, Any]:
    data = server.source_fields(bucket, **extra)
    data["presign_ttl"] = 900
    data["key_prefix"] = data.pop("prefix", "")
    return data


def test_it_connects_an_s3_source_and_never_shows_the_secret_again(
    owner_client: Any, seaweed: S3Server, s3_bucket: str, django_capture_on_commit_callbacks: Any
) -> None:
    seaweed.client().put_object(Bucket=s3_bucket, Key="raw/a.csv", Body=b"1,2,3\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("source_add"), form_data(seaweed, s3_bucket))
    source = Source.objects.get()
    assert response["Location"] == reverse("source_browse", args=[source.public_id])
    assert source.status == Source.Status.READY
    assert b"raw" in owner_client.get(response["Location"]).content
    secret = seaweed.secret_access_key
    assert secret not in source.encrypted_credentials
    assert source.credentials["secret_access_key"] == secret
    edit = owner_client.get(reverse("source_edit", args=[source.public_id]))
    assert secret.encode() not in edit.content
    assert seaweed.access_key_id.encode() not in edit.content
    assert b"secret_access_key" in edit.content  # the stored secret is named, not shown


def test_it_tests_a_connection_without_saving(owner_client: Any, seaweed: S3Server, s3_bucket: str) -> None:
    data = {**form_data(seaweed, s3_bucket), "action": "test"}
    response = owner_client.post(reverse("source_add"), data, follow=True)
    assert b"Connection test passed" in response.content
    assert not Source.objects.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bucket": "no-such-bucket"}, b"does not exist"),
        ({"endpoint_url": "http://127.0.0.1:9"}, b"Could not connect"),
        ({"endpoint_url": "http://169.254.169.254"}, b"internal address"),
        ({"endpoint_url": "http://10.1.2.3:9000"}, b"internal address"),
        ({"endpoint_url": "ftp://example.com"}, b"http://"),
        ({"secret_access_key": ""}, b"both needed"),
    ],
)
def test_it_refuses_a_broken_source_with_a_clear_error(
    owner_client: Any, seaweed: S3Server, s3_bucket: str, change: dict[str, str], message: bytes
) -> None:
    response = owner_client.post(reverse("source_add"), {**form_data(seaweed, s3_bucket), **change})
    assert response.status_code == 200
    assert message in response.content
    assert not Source.objects.exists()


def test_it_reports_wrong_s3_credentials(owner_client: Any, seaweed: S3Server, s3_bucket: str) -> None:
    server, bucket = seaweed, s3_bucket
    assert owner_client.post(reverse("source_add"), form_data(server, bucket)).status_code == 302
    for change, code in [
        ({"name": "wrong secret", "secret_access_key": "not-the-secret"}, b"SignatureDoesNotMatch"),
        ({"name": "unknown key", "access_key_id": "AKIAUNKNOWN0000000000"}, b"InvalidAccessKeyId"),
    ]:
        response = owner_client.post(reverse("source_add"), {**form_data(server, bucket), **change})
        assert b"refused these credentials" in response.content
        assert code in response.content
        # Only what was typed in this request comes back (so it need not be typed again),
        # in a response no cache keeps.
        assert "no-store" in response["Cache-Control"]
    assert Source.objects.count() == 1


def test_it_reports_a_timeout(owner_client: Any, seaweed: S3Server, settings: Any, silent_server: int) -> None:
    settings.SOURCE_READ_TIMEOUT = 0.5
    data = form_data(seaweed, "bucket", endpoint_url=f"http://127.0.0.1:{silent_server}")
    response = owner_client.post(reverse("source_add"), data)
    assert b"did not answer in time" in response.content
    assert not Source.objects.exists()


def test_it_reports_wrong_azure_credentials(owner_client: Any, azurite: Any, azure_container: str) -> None:
    data = {
        "name": "az",
        "kind": "azure",
        "bucket": azure_container,
        "endpoint_url": azurite.account_url,
        "account_key": "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==",
        "presign_ttl": 900,
    }
    response = owner_client.post(reverse("source_add"), data)
    assert b"Azure refused these credentials" in response.content
    assert not Source.objects.exists()


def test_only_an_admin_may_add_a_local_folder(owner_client: Any, client: Any, admin_user: Any, tmp_path: Path) -> None:
    data = {"name": "nfs", "kind": "local", "local_path": str(tmp_path), "presign_ttl": 900}
    response = owner_client.post(reverse("source_add"), data)
    assert response.status_code == 200
    assert not Source.objects.exists()
    client.force_login(admin_user)
    response = client.post(reverse("source_add"), data)
    assert response.status_code == 302
    assert Source.objects.get().kind == "local"


@pytest.mark.postgres  # pages and filters on the key column, in the "C" collation on PostgreSQL
def test_it_browses_folders_first_with_cursor_pages_and_a_filter(owner: Any, owner_client: Any, tmp_path: Path) -> None:
    files = {f"big/file-{index:05d}.csv": b"x" * index for index in range(450)}
    files.update({"big/zz-folder/inner.txt": b"inner", "big/aa-folder/inner.txt": b"inner", "top.txt": b"top"})
    write_files(tmp_path, files)
    source = make_local_source(owner, tmp_path)
    url = reverse("source_browse", args=[source.public_id, "big/"])

    with CaptureQueriesContext(connection) as queries:
        first = owner_client.get(url)
    assert len(queries) <= 8
    body = first.content.decode()
    assert body.index("aa-folder") < body.index("zz-folder") < body.index("file-00000.csv")
    assert "file-00197.csv" in body and "file-00198.csv" not in body
    cursor = first.context["next_cursor"]
    second = owner_client.get(url, {"cursor": cursor})
    assert "file-00198.csv" in second.content.decode()
    third = owner_client.get(url, {"cursor": second.context["next_cursor"]})
    assert "file-00449.csv" in third.content.decode()
    assert third.context["next_cursor"] == ""
    # htmx asks for the rows only.
    partial = owner_client.get(url, {"cursor": cursor}, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b"file-00198.csv" in partial.content

    filtered = owner_client.get(url, {"q": "00042"})
    assert [row.name for row in filtered.context["rows"]] == ["file-00042.csv"]
    assert owner_client.get(reverse("source_browse", args=[source.public_id, "nope/"])).status_code == 404


def test_it_shows_object_details_a_preview_and_a_presigned_link(
    owner: Any, owner_client: Any, seaweed: S3Server, s3_bucket: str
) -> None:
    seaweed.client().put_object(Bucket=s3_bucket, Key="docs/notes #1.txt", Body=b"hello notes")
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    response = owner_client.get(reverse("source_object", args=[source.public_id, "docs/notes #1.txt"]))
    assert response.status_code == 200
    assert b"hello notes" in response.content
    link = owner_client.post(reverse("source_object_link", args=[source.public_id, "docs/notes #1.txt"]))
    assert link.status_code == 200
    assert "X-Amz-Signature=" in link.json()["url"]
    assert "notes%20%231.txt" in link.json()["url"]
    assert (
        owner_client.get(reverse("source_object_link", args=[source.public_id, "docs/notes #1.txt"])).status_code == 405
    )


def test_a_deleted_object_gets_a_clear_404(owner: Any, owner_client: Any, seaweed: S3Server, s3_bucket: str) -> None:
    seaweed.client().put_object(Bucket=s3_bucket, Key="gone.txt", Body=b"soon gone")
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    seaweed.client().delete_object(Bucket=s3_bucket, Key="gone.txt")
    response = owner_client.get(reverse("source_object", args=[source.public_id, "gone.txt"]))
    assert response.status_code == 404
    assert b"no longer exists" in response.content


def test_an_index_run_that_cannot_list_records_the_error(owner: Any, seaweed: S3Server, s3_bucket: str) -> None:
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    seaweed.client().delete_bucket(Bucket=s3_bucket)
    from sources.backends import StorageError
    from sources.indexing import source_index

    with pytest.raises(StorageError):
        source_index(source_pk=source.pk)
    source.refresh_from_db()
    assert source.status == Source.Status.ERROR
    assert "does not exist" in source.last_error
    assert source.is_indexed  # the previous listing stays browsable


def test_an_outsider_gets_404_everywhere(owner: Any, outsider_client: Any, tmp_path: Path) -> None:
    write_files(tmp_path, {"a.txt": b"a"})
    source = make_local_source(owner, tmp_path)
    pid = source.public_id
    for name, args in [
        ("source_browse", [pid]),
        ("source_edit", [pid]),
        ("source_delete", [pid]),
        ("source_object", [pid, "a.txt"]),
    ]:
        assert outsider_client.get(reverse(name, args=args)).status_code == 404, name
    for name, args in [
        ("source_test", [pid]),
        ("source_reindex", [pid]),
        ("source_delete", [pid]),
        ("source_object_link", [pid, "a.txt"]),
    ]:
        assert outsider_client.post(reverse(name, args=args)).status_code == 404, name
    assert Source.objects.filter(pk=source.pk).exists()
    assert b"a.txt" not in outsider_client.get(reverse("source_list")).content


def test_anonymous_visitors_are_sent_to_log_in(client: Any, owner: Any, tmp_path: Path) -> None:
    source = make_local_source(owner, tmp_path)
    for url in [reverse("source_list"), reverse("source_add"), reverse("source_browse", args=[source.public_id])]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_wrong_methods_are_refused(owner: Any, owner_client: Any, tmp_path: Path) -> None:
    source = make_local_source(owner, tmp_path)
    assert owner_client.get(reverse("source_test", args=[source.public_id])).status_code == 405
    assert owner_client.get(reverse("source_reindex", args=[source.public_id])).status_code == 405
    assert owner_client.put(reverse("source_add")).status_code == 405


def test_deleting_a_source_in_use_is_refused_and_loses_nothing(owner: Any, owner_client: Any, tmp_path: Path) -> None:
    write_files(tmp_path, {"a.txt": b"a"})
    source = make_local_source(owner, tmp_path)
    from packager.services import package_add_objects, package_create

    package = package_create(owner=owner, name="p")
    package_add_objects(package=package, source=source, paths=["a.txt"])
    response = owner_client.post(reverse("source_delete", args=[source.public_id]), follow=True)
    assert b"remove those entries" in response.content
    assert Source.objects.filter(pk=source.pk).exists()
    package.entries.all().delete()
    owner_client.post(reverse("source_delete", args=[source.public_id]))
    assert not Source.objects.filter(pk=source.pk).exists()


def test_the_add_form_offers_the_teams_the_user_administers(
    owner: Any, owner_client: Any, django_user_model: Any, seaweed: S3Server, s3_bucket: str
) -> None:
    from teams import services as teams

    lab = teams.team_create(name="Lake lab", creator=owner)
    other = teams.team_create(name="Other lab", creator=django_user_model.objects.create_user("otto"))
    teams.member_add(team=other, user=owner, role="curator", actor=other.memberships.get().user)
    page = owner_client.get(reverse("source_add")).content.decode()
    assert "Lake lab" in page and "Other lab" not in page  # a curator there may not own sources
    refused = owner_client.post(reverse("source_add"), form_data(seaweed, s3_bucket, team=other.pk))
    assert refused.status_code == 200 and not Source.objects.exists()
    response = owner_client.post(reverse("source_add"), form_data(seaweed, s3_bucket, team=lab.pk))
    assert response.status_code == 302
    assert Source.objects.get().team == lab
