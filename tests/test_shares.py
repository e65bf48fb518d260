"""Share links: the public pages, passwords, expiry, revocation, downloads and resolving."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from packager import services as packages
from packager.models import Package
from shares import access_log, services
from shares.models import Share, ShareEvent
from sources.models import Source
from tests.conftest import S3Server
from tests.factories import make_local_source, make_source, publish, write_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(owner: Any, tmp_path: Path) -> Source:
    write_files(tmp_path / "data", {"a.csv": b"alpha,beta\n1,2\n", "sub/b #1.bin": bytes(range(256)) * 40})
    return make_local_source(owner, tmp_path / "data")


@pytest.fixture
def package(owner: Any, source: Source) -> Package:
    package = packages.package_create(owner=owner, name="Shared set", description="About *this* set")
    packages.package_add_objects(package=package, source=source, paths=["a.csv", "sub/"], target="data")
    packages.package_write_text(package=package, path="README.md", content="# Welcome\n\n<script>alert(1)</script>")
    publish(package, "first")
    return package


@pytest.fixture
def open_share(owner: Any, package: Package) -> Share:
    return services.share_create(package=package, created_by=owner)


@pytest.fixture
def locked_share(owner: Any, package: Package) -> Share:
    return services.share_create(package=package, created_by=owner, password="correct horse")


def s3_share(owner: Any, seaweed: S3Server, bucket: str) -> Share:
    """An open share of a package holding one S3 object, "x.bin"."""
    seaweed.client().put_object(Bucket=bucket, Key="x.bin", Body=b"12345")
    source = make_source(owner, seaweed.source_fields(bucket))
    package = packages.package_create(owner=owner, name="s3")
    packages.package_add_objects(package=package, source=source, paths=["x.bin"])
    publish(package)
    return services.share_create(package=package, created_by=owner)


def basic(password: str) -> dict[str, str]:
    token = base64.b64encode(f"anyone:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def test_the_share_page_shows_the_tree_and_the_sanitized_readme(client: Any, open_share: Share) -> None:
    response = client.get(reverse("share_page", args=[open_share.token]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Welcome</h1>" in body and "<script>alert" not in body
    assert "<em>this</em>" in body
    assert "data" in body and "download.zip" in body and "wget -c" in body
    assert response["Cache-Control"] == "private, no-store"
    access_log.access_log_flush()
    open_share.refresh_from_db()
    assert open_share.view_count == 1


def test_unknown_tokens_are_404(client: Any) -> None:
    for name in ("share_page", "share_download_zip", "share_urls", "share_manifest"):
        assert client.get(reverse(name, args=["not-a-token"])).status_code == 404


def test_the_zip_streams_text_pointers_urls_and_manifest(client: Any, open_share: Share) -> None:
    response = client.get(reverse("share_download_zip", args=[open_share.token]))
    assert response.status_code == 200
    assert response.streaming
    data = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(data)
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = sorted(archive.namelist())
    assert names == [
        "shared-set/CITATION.cff",
        "shared-set/HOW-TO-DOWNLOAD.md",
        "shared-set/README.md",
        "shared-set/citation.bib",
        "shared-set/citation.ris",
        "shared-set/data/a.csv.pointer.json",
        "shared-set/data/sub/b #1.bin.pointer.json",
        "shared-set/datacite.xml",
        "shared-set/datapackage.json",
        "shared-set/manifest.jsonl",
        "shared-set/ro-crate-metadata.json",
        "shared-set/urls.txt",
    ]
    assert archive.read("shared-set/README.md").startswith(b"# Welcome")
    pointer = json.loads(archive.read("shared-set/data/sub/b #1.bin.pointer.json"))
    base = f"http://testserver/s/{open_share.token}/r/"
    assert pointer["resolve"] == "r/data/sub/b%20%231.bin"
    assert pointer["size"] == 256 * 40
    assert "credentials" not in json.dumps(pointer)
    urls = archive.read("shared-set/urls.txt").decode().split()
    assert urls == [base + "data/a.csv", base + "data/sub/b%20%231.bin"]
    manifest = [json.loads(line) for line in archive.read("shared-set/manifest.jsonl").decode().splitlines()]
    assert [record["path"] for record in manifest] == ["README.md", "data/a.csv", "data/sub/b #1.bin"]
    assert manifest[0]["sha256"] and manifest[0]["kind"] == "text"
    access_log.access_log_flush()
    open_share.refresh_from_db()
    assert open_share.zip_count == 1


def test_urls_and_manifest_endpoints_match_the_zip(client: Any, open_share: Share) -> None:
    urls = b"".join(client.get(reverse("share_urls", args=[open_share.token])).streaming_content).decode().split()
    assert len(urls) == 2 and all(url.startswith("http://testserver/s/") for url in urls)
    manifest = b"".join(client.get(reverse("share_manifest", args=[open_share.token])).streaming_content)
    assert len(manifest.decode().splitlines()) == 3


def test_resolve_redirects_to_a_signed_link_that_serves_ranges(client: Any, open_share: Share) -> None:
    response = client.get(reverse("share_resolve", args=[open_share.token, "data/sub/b #1.bin"]))
    assert response.status_code == 307
    location = response["Location"]
    assert response["Cache-Control"] == "private, no-store"
    served = client.get(location)
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == bytes(range(256)) * 40
    partial = client.get(location, HTTP_RANGE="bytes=10-19")
    assert partial.status_code == 206
    assert partial["Content-Range"] == f"bytes 10-19/{256 * 40}"
    assert b"".join(partial.streaming_content) == bytes(range(10, 20))
    tail = client.get(location, HTTP_RANGE="bytes=10000-")
    assert b"".join(tail.streaming_content) == (bytes(range(256)) * 40)[10000:]
    assert client.get(location, HTTP_RANGE="bytes=99999-").status_code == 416
    head = client.head(location)
    assert head.status_code == 200 and head["Content-Length"] == str(256 * 40)
    # A forged or altered link is refused.
    assert client.get(location.replace("/files/", "/files/x")).status_code == 404
    assert client.get(reverse("share_resolve", args=[open_share.token, "data/missing.csv"])).status_code == 404
    access_log.access_log_flush()
    open_share.refresh_from_db()
    assert open_share.resolve_count == 1


def test_local_links_expire(client: Any, open_share: Share, source: Source, monkeypatch: pytest.MonkeyPatch) -> None:
    location = client.get(reverse("share_resolve", args=[open_share.token, "data/a.csv"]))["Location"]
    import time as time_module

    real_time = time_module.time
    monkeypatch.setattr("sources.backends.local.time.time", lambda: real_time() + source.presign_ttl + 5)
    assert client.get(location).status_code == 410


def test_a_head_request_gets_a_url_signed_for_head(client: Any, owner: Any, seaweed: S3Server, s3_bucket: str) -> None:
    share = s3_share(owner, seaweed, s3_bucket)
    url = reverse("share_resolve", args=[share.token, "x.bin"])
    get_location = client.get(url)["Location"]
    head_location = client.head(url)["Location"]
    assert get_location.startswith(seaweed.endpoint_url)
    assert get_location != head_location
    # Both are signatures over their own method; botocore makes them differ only in that.
    from urllib.parse import parse_qs, urlsplit

    assert (
        parse_qs(urlsplit(get_location).query)["X-Amz-Signature"]
        != parse_qs(urlsplit(head_location).query)["X-Amz-Signature"]
    )


def test_a_password_share_asks_once_per_session(client: Any, locked_share: Share) -> None:
    page = reverse("share_page", args=[locked_share.token])
    response = client.get(page)
    assert b"protected by a password" in response.content
    assert b"Welcome" not in response.content
    wrong = client.post(page, {"password": "wrong"})
    assert wrong.status_code == 403 and b"not right" in wrong.content
    assert client.post(page, {"password": "correct horse"}).status_code == 302
    assert b"Welcome" in client.get(page).content
    assert client.get(reverse("share_download_zip", args=[locked_share.token])).status_code == 200
    assert "correct horse" not in str(client.session.items())


def test_download_endpoints_take_basic_auth_and_challenge_without_it(client: Any, locked_share: Share) -> None:
    for name, args in [
        ("share_download_zip", [locked_share.token]),
        ("share_urls", [locked_share.token]),
        ("share_manifest", [locked_share.token]),
        ("share_resolve", [locked_share.token, "data/a.csv"]),
    ]:
        url = reverse(name, args=args)
        refused = client.get(url)
        assert refused.status_code == 401, name
        assert refused["WWW-Authenticate"].startswith("Basic")
        assert client.get(url, **basic("nope")).status_code == 401
        assert client.get(url, **basic("correct horse")).status_code in {200, 307}, name


def test_password_guessing_is_rate_limited(client: Any, locked_share: Share, settings: Any) -> None:
    settings.SHARE_UNLOCK_ATTEMPTS = 3
    page = reverse("share_page", args=[locked_share.token])
    for _ in range(3):
        assert client.post(page, {"password": "guess"}).status_code == 403
    blocked = client.post(page, {"password": "correct horse"})
    assert blocked.status_code == 429
    assert b"Too many wrong passwords" in blocked.content
    assert client.get(reverse("share_urls", args=[locked_share.token]), **basic("correct horse")).status_code == 429
    access_log.access_log_flush()
    assert locked_share.events.filter(kind=ShareEvent.Kind.UNLOCK_FAILED).count() == 3


def test_the_owner_sees_a_password_share_without_the_password(owner_client: Any, locked_share: Share) -> None:
    assert b"Welcome" in owner_client.get(reverse("share_page", args=[locked_share.token])).content


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_revoked_and_expired_links_answer_410(client: Any, open_share: Share, state: str) -> None:
    if state == "revoked":
        services.share_revoke(share=open_share)
    else:
        Share.objects.filter(pk=open_share.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    for name, args in [
        ("share_page", [open_share.token]),
        ("share_download_zip", [open_share.token]),
        ("share_urls", [open_share.token]),
        ("share_resolve", [open_share.token, "data/a.csv"]),
    ]:
        response = client.get(reverse(name, args=args))
        assert response.status_code == 410, name
        assert b"no longer available" in response.content


def test_text_and_notebooks_render_on_the_share(client: Any, owner: Any, open_share: Share) -> None:
    notebook = json.dumps({"cells": [{"cell_type": "markdown", "source": "## Plot"}], "metadata": {}})
    packages.package_write_text(package=open_share.package, path="nb/plot.ipynb", content=notebook)
    publish(open_share.package)
    response = client.get(reverse("share_view_entry", args=[open_share.token, "nb/plot.ipynb"]))
    assert b"<h2>Plot</h2>" in response.content
    data = client.get(reverse("share_view_entry", args=[open_share.token, "data/a.csv"]))
    assert b"Download" in data.content


def test_the_owner_creates_and_revokes_shares(owner_client: Any, package: Package) -> None:
    url = reverse("package_shares", args=[package.public_id])
    response = owner_client.post(
        url, {"password": "pw12-secret", "label": "for Ana", "expires_at": "2099-01-01T10:00"}, follow=True
    )
    share = package.shares.get()
    assert share.has_password and share.password_hash != "pw12-secret" and share.label == "for Ana"
    assert f"/s/{share.token}/".encode() in response.content
    assert b"pw12-secret" not in response.content
    past = owner_client.post(url, {"expires_at": "2000-01-01T10:00"})
    assert b"must be in the future" in past.content
    owner_client.post(reverse("share_revoke", args=[share.token]))
    share.refresh_from_db()
    assert share.is_revoked


def test_an_outsider_cannot_manage_shares(outsider_client: Any, open_share: Share, package: Package) -> None:
    assert outsider_client.get(reverse("package_shares", args=[package.public_id])).status_code == 404
    assert outsider_client.post(reverse("package_shares", args=[package.public_id]), {}).status_code == 404
    assert outsider_client.post(reverse("share_revoke", args=[open_share.token])).status_code == 404
    open_share.refresh_from_db()
    assert open_share.is_active


def test_wrong_methods_are_refused(client: Any, owner_client: Any, open_share: Share) -> None:
    assert client.post(reverse("share_download_zip", args=[open_share.token])).status_code == 405
    assert client.delete(reverse("share_resolve", args=[open_share.token, "data/a.csv"])).status_code == 405
    assert owner_client.get(reverse("share_revoke", args=[open_share.token])).status_code == 405


def test_behind_a_proxy_links_use_the_public_host_and_guesses_count_per_client(
    client: Any, locked_share: Share, settings: Any
) -> None:
    settings.BEHIND_PROXY = True
    settings.USE_X_FORWARDED_HOST = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["data.example.org", "testserver"]
    settings.SHARE_UNLOCK_ATTEMPTS = 2
    proxy = {"HTTP_X_FORWARDED_HOST": "data.example.org", "HTTP_X_FORWARDED_PROTO": "https"}
    urls = client.get(reverse("share_urls", args=[locked_share.token]), **proxy, **basic("correct horse"))
    assert b"".join(urls.streaming_content).decode().startswith(f"https://data.example.org/s/{locked_share.token}/r/")
    page = reverse("share_page", args=[locked_share.token])
    for _ in range(2):
        client.post(page, {"password": "guess"}, HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
    assert client.post(page, {"password": "guess"}, HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy).status_code == 429
    other = client.post(page, {"password": "correct horse"}, HTTP_X_FORWARDED_FOR="198.51.100.9", **proxy)
    assert other.status_code == 302


def test_a_source_whose_secrets_cannot_be_decrypted_gives_a_clear_error(
    client: Any, owner: Any, owner_client: Any, seaweed: S3Server, s3_bucket: str, settings: Any
) -> None:
    share = s3_share(owner, seaweed, s3_bucket)
    s3_source = share.package.entries.get().source
    assert s3_source is not None
    settings.CREDENTIALS_KEYS = ["a-new-key-without-the-old-one"]
    from sources import clients

    clients.forget(s3_source.pk)
    response = client.get(reverse("share_resolve", args=[share.token, "x.bin"]))
    assert response.status_code == 409
    assert b"cannot be decrypted" in response.content
    page = owner_client.get(reverse("source_object", args=[s3_source.public_id, "x.bin"]))
    assert page.status_code == 502 and b"cannot be decrypted" in page.content


def test_a_basic_auth_password_is_hashed_once_for_many_files(
    client: Any, locked_share: Share, owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shares.models

    calls: list[str] = []
    real_check = shares.models.check_password

    def counting_check(raw: str, encoded: str) -> bool:
        calls.append(raw)
        return real_check(raw, encoded)

    monkeypatch.setattr(shares.models, "check_password", counting_check)
    url = reverse("share_resolve", args=[locked_share.token, "data/a.csv"])
    for _ in range(5):
        assert client.get(url, **basic("correct horse")).status_code == 307
    assert calls == ["correct horse"]
    assert client.get(url, **basic("wrong")).status_code == 401
    # A new password makes the remembered one worthless.
    from django.contrib.auth.hashers import make_password

    Share.objects.filter(pk=locked_share.pk).update(password_hash=make_password("new one"))
    assert client.get(url, **basic("correct horse")).status_code == 401
    assert client.get(url, **basic("new one")).status_code == 307


def test_a_readme_is_read_and_rendered_once_per_content(client: Any, open_share: Share) -> None:
    """The second visitor gets the cached HTML: the stored file is not read again."""
    from django.core.files.storage import default_storage

    page = reverse("share_page", args=[open_share.token])
    readme = open_share.package.entries.get(path="README.md")
    assert b"<h1>Welcome</h1>" in client.get(page).content
    default_storage.delete(readme.text_file.name)  # a read now would fail
    assert b"<h1>Welcome</h1>" in client.get(page).content
    entry_page = reverse("share_view_entry", args=[open_share.token, "README.md"])
    assert b"<h1>Welcome</h1>" in client.get(entry_page).content
    # A new version with new content has a new hash: rendered afresh, never served stale.
    packages.package_write_text(package=open_share.package, path="README.md", content="# Changed\n")
    publish(open_share.package, "changed readme")  # the share serves published versions only
    body = client.get(page).content
    assert b"<h1>Changed</h1>" in body and b"Welcome" not in body
