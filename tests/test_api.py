"""The JSON API: auth, sources, objects, packages, entries, shares, and JSON errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from packager.models import ApiToken, Package
from packager.services import api_token_create
from sources.models import Source
from tests.conftest import API, Api, AzureServer, S3Server
from tests.factories import make_local_source, write_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_source(owner: Any, tmp_path: Path) -> Source:
    write_files(tmp_path, {f"d/f{index:03d}.csv": b"x" * index for index in range(25)} | {"top.txt": b"t"})
    return make_local_source(owner, tmp_path)


def test_tokens_are_stored_hashed_and_anonymous_calls_get_401(owner: Any) -> None:
    record, token = api_token_create(user=owner, name="laptop")
    assert token not in record.token_hash and record.token_hash == ApiToken.hash(token)
    anonymous = Api(Client(), None)
    for method, path in [("get", "/sources"), ("post", "/packages"), ("get", "/packages")]:
        response = anonymous.call(method, path, {} if method == "post" else None)
        assert response.status_code == 401
        assert "Authentication required" in response.json()["detail"]
    assert Api(Client(), "pk_wrong").call("get", "/packages").status_code == 401


def test_the_browser_session_works_with_csrf(owner: Any) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.get(f"{API}/packages").status_code == 200
    refused = browser.post(f"{API}/packages", data=json.dumps({"name": "x"}), content_type="application/json")
    assert refused.status_code in {401, 403}
    assert not Package.objects.exists()


def test_openapi_is_published(client: Client) -> None:
    schema = client.get(f"{API}/openapi.json").json()
    assert "/api/v1/sources/{source_id}/objects" in schema["paths"]
    assert "/api/v1/packages/{package_id}/entries" in schema["paths"]
    docs = client.get(f"{API}/docs").content.decode()
    assert '<script src="/static/ninja/swagger-ui-bundle.js">' in docs
    assert "cdn" not in docs.lower()


def test_it_creates_reads_updates_and_deletes_an_s3_source_without_leaking_secrets(
    api: Api, seaweed: S3Server, s3_bucket: str
) -> None:
    seaweed.client().put_object(Bucket=s3_bucket, Key="k/a.csv", Body=b"abc")
    # The server checks session tokens: a made-up one is refused, and not echoed back.
    refused = api.call("post", "/sources", seaweed.source_fields(s3_bucket, session_token="tok-123"))
    assert refused.status_code == 422, refused.content
    assert "tok-123" not in refused.content.decode()
    assert seaweed.secret_access_key not in refused.content.decode()
    created = api.call("post", "/sources", seaweed.source_fields(s3_bucket))
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["credentials"] == ["access_key_id", "secret_access_key"]
    assert seaweed.secret_access_key not in created.content.decode()
    source_id = body["id"]
    listing = api.call("get", "/sources").json()
    assert [item["id"] for item in listing] == [source_id]
    patched = api.call("patch", f"/sources/{source_id}", {"name": "renamed", "presign_ttl": 120})
    assert patched.json()["name"] == "renamed" and patched.json()["presign_ttl"] == 120
    assert api.call("post", f"/sources/{source_id}/test").json() == {"ok": True, "message": "Connection test passed."}
    assert api.call("delete", f"/sources/{source_id}").status_code == 204
    assert api.call("get", f"/sources/{source_id}").status_code == 404


def test_it_creates_an_azure_source(api: Api, azurite: AzureServer, azure_container: str) -> None:
    response = api.call("post", "/sources", azurite.source_fields(azure_container))
    assert response.status_code == 201, response.content
    assert response.json()["bucket"] == azure_container
    assert azurite.account_key not in response.content.decode()


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"secret_access_key": "wrong"}, 422, "refused these credentials (SignatureDoesNotMatch)"),
        ({"access_key_id": "unknown"}, 422, "refused these credentials (InvalidAccessKeyId)"),
        ({"bucket": "missing-bucket"}, 422, "does not exist"),
        ({"endpoint_url": "http://127.0.0.1:9"}, 502, "Could not connect"),
        ({"endpoint_url": "http://192.168.1.1"}, 422, "internal address"),
        ({"kind": "ftp"}, 400, "not valid"),
        ({"presign_ttl": 10}, 400, "not valid"),
        ({"access_key_id": None}, 422, "both needed"),
    ],
)
def test_bad_source_input_gets_a_json_error(
    api: Api, seaweed: S3Server, s3_bucket: str, change: dict[str, Any], status: int, message: str | None
) -> None:
    response = api.call("post", "/sources", {**seaweed.source_fields(s3_bucket), **change})
    assert response.status_code == status, response.content
    if message:
        assert message in response.json()["detail"]


def test_malformed_bodies_get_400(api: Api) -> None:
    response = api.client.post(f"{API}/packages", data="{not json", content_type="application/json", **api.headers)
    assert response.status_code == 400
    assert api.call("post", "/packages", {"description": "no name"}).status_code == 400
    assert api.call("post", "/packages", {"name": "   "}).status_code == 400
    assert not Package.objects.exists()


def test_bodies_that_are_not_json_objects_get_400(api: Api) -> None:
    pid = api.call("post", "/packages", {"name": "Kept"}).json()["id"]
    for body in (5, [None, None], "name", None):
        response = api.client.patch(
            f"{API}/packages/{pid}", data=json.dumps(body), content_type="application/json", **api.headers
        )
        assert response.status_code == 400, body
        assert "Cannot parse request body" in response.json()["detail"]
        response = api.client.post(
            f"{API}/packages/{pid}/shares", data=json.dumps(body), content_type="application/json", **api.headers
        )
        assert response.status_code == 400, body
    assert Package.objects.get().name == "Kept"
    assert not Package.objects.get().shares.exists()


def test_a_malformed_id_in_an_api_address_gets_a_json_404(api: Api) -> None:
    response = api.call("get", "/packages/not-a-uuid")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_pages_of_more_than_1000_objects_are_refused(api: Api, local_source: Source) -> None:
    response = api.call("get", f"/sources/{local_source.public_id}/objects", limit=1_000_000)
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == ["query", "limit"]


def test_the_openapi_document_lists_every_error_status(client: Client) -> None:
    schema = client.get(f"{API}/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"400", "401", "422"} <= statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)
    assert "409" in schema["paths"]["/api/v1/sources/{source_id}"]["delete"]["responses"]
    ttl = schema["components"]["schemas"]["SourceIn"]["properties"]["presign_ttl"]
    assert {"minimum": 60, "maximum": 604800}.items() <= ttl["anyOf"][0].items()


def test_local_sources_are_for_admins_only(api: Api, tmp_path: Path) -> None:
    response = api.call("post", "/sources", {"name": "nfs", "kind": "local", "path": str(tmp_path)})
    assert response.status_code == 422
    assert "administrator" in response.json()["detail"]


def test_it_lists_objects_a_page_at_a_time(api: Api, local_source: Source) -> None:
    top = api.call("get", f"/sources/{local_source.public_id}/objects").json()
    assert top["prefix"] == ""
    assert [(entry["key"], entry["is_dir"]) for entry in top["entries"]] == [("d/", True), ("top.txt", False)]
    keys: list[str] = []
    cursor = ""
    pages = 0
    while True:
        page = api.call(
            "get", f"/sources/{local_source.public_id}/objects", prefix="d/", limit=10, cursor=cursor
        ).json()
        keys += [entry["key"] for entry in page["entries"]]
        pages += 1
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert pages == 3
    assert keys == [f"d/f{index:03d}.csv" for index in range(25)]
    assert page["entries"][-1]["size"] == 24


def test_it_curates_a_package_through_the_api(api: Api, local_source: Source) -> None:
    package = api.call("post", "/packages", {"name": "API set", "description": "made by a script"}).json()
    pid = package["id"]
    sid = str(local_source.public_id)
    by_keys = api.call("post", f"/packages/{pid}/entries", {"source": sid, "keys": ["top.txt"], "target": "docs"})
    assert by_keys.status_code == 201
    assert [entry["path"] for entry in by_keys.json()["added"]] == ["docs/top.txt"]
    by_prefix = api.call("post", f"/packages/{pid}/entries", {"source": sid, "prefix": "d/", "target": "data"})
    assert len(by_prefix.json()["added"]) == 25
    assert by_prefix.json()["added"][0]["path"] == "data/f000.csv"
    text = api.call("post", f"/packages/{pid}/entries", {"path": "README.md", "text": "# API"})
    assert text.json()["added"][0]["kind"] == "text"
    conflict = api.call("post", f"/packages/{pid}/entries", {"path": "docs/top.txt", "text": "clash"})
    assert conflict.status_code == 409
    moved = api.call("patch", f"/packages/{pid}/entries/data", {"path": "measurements"})
    assert moved.status_code == 200 and len(moved.json()) == 25
    assert api.call("delete", f"/packages/{pid}/entries/measurements/f001.csv").status_code == 204
    assert api.call("delete", f"/packages/{pid}/entries/nothing/here").status_code == 404
    entries = api.call("get", f"/packages/{pid}/entries").json()
    assert len(entries["items"]) == 26 and entries["next_cursor"] is None
    assert api.call("get", f"/packages/{pid}").json()["entry_count"] == 26
    bad = api.call("post", f"/packages/{pid}/entries", {"source": sid, "keys": ["../etc/passwd"], "target": ""})
    assert bad.status_code == 422
    renamed = api.call("patch", f"/packages/{pid}", {"name": "Renamed set"}).json()
    assert renamed["slug"] == "renamed-set"


def test_it_shares_and_revokes_through_the_api(api: Api, local_source: Source, client: Client) -> None:
    pid = api.call("post", "/packages", {"name": "S"}).json()["id"]
    api.call("post", f"/packages/{pid}/entries", {"source": str(local_source.public_id), "keys": ["top.txt"]})
    share = api.call(
        "post", f"/packages/{pid}/shares", {"password": "s3cret!-long", "expires_at": "2099-01-01T00:00:00Z"}
    )
    assert share.status_code == 201
    body = share.json()
    assert body["url"] == f"http://testserver/s/{body['token']}/" and body["has_password"]
    assert "s3cret!-long" not in share.content.decode()
    assert api.call("get", f"/packages/{pid}/shares").json()[0]["token"] == body["token"]
    expired = api.call("post", f"/packages/{pid}/shares", {"expires_at": "2001-01-01T00:00:00Z"})
    assert expired.status_code == 422
    assert api.call("delete", f"/shares/{body['token']}").status_code == 204
    assert client.get(f"/s/{body['token']}/").status_code == 410


def test_an_outsider_gets_404_on_every_route(api: Api, outsider_api: Api, local_source: Source) -> None:
    pid = api.call("post", "/packages", {"name": "mine"}).json()["id"]
    api.call("post", f"/packages/{pid}/entries", {"path": "README.md", "text": "hi"})
    token = api.call("post", f"/packages/{pid}/shares", {}).json()["token"]
    sid = local_source.public_id
    calls = [
        ("get", f"/sources/{sid}", None),
        ("patch", f"/sources/{sid}", {"name": "x"}),
        ("delete", f"/sources/{sid}", None),
        ("post", f"/sources/{sid}/test", None),
        ("post", f"/sources/{sid}/index", None),
        ("get", f"/sources/{sid}/objects", None),
        ("get", f"/packages/{pid}", None),
        ("patch", f"/packages/{pid}", {"name": "x"}),
        ("delete", f"/packages/{pid}", None),
        ("get", f"/packages/{pid}/entries", None),
        ("post", f"/packages/{pid}/entries", {"path": "x.md", "text": "x"}),
        ("patch", f"/packages/{pid}/entries/README.md", {"path": "y.md"}),
        ("delete", f"/packages/{pid}/entries/README.md", None),
        ("get", f"/packages/{pid}/shares", None),
        ("post", f"/packages/{pid}/shares", {}),
        ("delete", f"/shares/{token}", None),
    ]
    for method, path, body in calls:
        response = outsider_api.call(method, path, body)
        assert response.status_code == 404, (method, path, response.content)
        assert response.json() == {"detail": "Not found."}
    # Nor may an outsider add someone else's source to their own package.
    own = outsider_api.call("post", "/packages", {"name": "theirs"}).json()["id"]
    response = outsider_api.call("post", f"/packages/{own}/entries", {"source": str(sid), "keys": ["top.txt"]})
    assert response.status_code == 404
    assert api.call("get", f"/packages/{pid}/entries").json()["items"][0]["path"] == "README.md"


def test_a_search_date_must_be_iso_text_not_a_number(api: Api) -> None:
    pid = api.call("post", "/packages", {"name": "Dated"}).json()["id"]
    for search in ({"modified_before": 0}, {"max_size": "5"}, {"min_size": True}, {"modified_after": "soon"}):
        body = {"path": "a.txt", "text": "", "search": search}
        assert api.call("post", f"/packages/{pid}/entries", body).status_code == 400, search
    assert not Package.objects.get().entries.exists()
