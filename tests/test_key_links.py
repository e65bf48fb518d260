"""A password share's key link, /s/<token>/k/<key>/: everything under the share with no
password, links that stay on it, the endpoint that gives it for the password, its end
with a new password, a revoke or an expiry, and no lockout."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from packager import services as packages
from packager.models import Package, VersionEntry
from shares import services
from shares.models import Share, ShareRepository
from tests.factories import make_local_source, publish, write_files

pytestmark = pytest.mark.django_db

PASSWORD = "key link secret"
FILES = {"a.csv": b"alpha,beta\n1,2\n", "sub/b #1.bin": bytes(range(256)) * 4}


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"anyone:{password}".encode()).decode()


@pytest.fixture
def package(owner: Any, tmp_path: Path) -> Package:
    write_files(tmp_path / "data", FILES)
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Keyed set")
    packages.package_add_objects(package=package, source=source, paths=["a.csv", "sub/"], target="data")
    packages.package_write_text(package=package, path="README.md", content="# Keyed\n")
    publish(package)
    return package


@pytest.fixture
def share(owner: Any, package: Package) -> Share:
    return services.share_create(package=package, created_by=owner, password=PASSWORD)


def key_base(share: Share) -> str:
    return f"/s/{share.token}/k/{share.link_key}/"


def test_the_key_is_long_and_derived_from_the_share_and_its_password(share: Share, owner: Any) -> None:
    key = share.link_key
    assert len(base64.urlsafe_b64decode(key + "=")) == 32
    assert key == Share.objects.get(pk=share.pk).link_key  # stable
    other = services.share_create(package=share.package, created_by=owner, password=PASSWORD)
    assert other.link_key != key
    open_share = services.share_create(package=share.package, created_by=owner)
    assert open_share.link_key == ""


def test_every_path_of_the_share_works_under_the_key_link_with_no_credentials(share: Share) -> None:
    client = Client()
    base = key_base(share)
    entry = VersionEntry.objects.get(path="data/a.csv")

    page = client.get(base)
    assert page.status_code == 200
    text = page.content.decode()
    assert f'href="{base}download.zip"' in text and f'href="{base}view/README.md"' in text
    assert f"http://testserver{base}" in text  # the key link with its copy button
    assert "needs no password" in text and "--ask-password" not in text and "--cut-dirs=5 -i urls.txt" in text
    folder = client.get(base + "?path=data")
    assert folder.status_code == 200 and f'href="{base}r/data/a.csv"' in folder.content.decode()

    resolved = client.get(base + "r/data/a.csv")
    assert resolved.status_code == 307
    assert client.head(base + "r/data/a.csv").status_code == 307
    readme = client.get(base + "r/README.md")
    assert readme.status_code == 200 and readme.content == b"# Keyed\n"
    for path in (f"sha256/{entry.sha256}", f"md5/{entry.md5}", f"dvc/files/md5/{entry.md5[:2]}/{entry.md5[2:]}"):
        assert client.get(base + path).status_code == 307, path
    assert client.get(base + "view/data/a.csv").status_code == 200
    assert client.get(base + "direct.txt").status_code == 200
    assert client.get(base + "direct.tsv").status_code == 200

    absolute = f"http://testserver{base}r/"
    urls = b"".join(client.get(base + "urls.txt").streaming_content).decode().splitlines()
    assert urls == [absolute + "data/a.csv", absolute + "data/sub/b%20%231.bin"]
    manifest = [
        json.loads(line) for line in b"".join(client.get(base + "manifest.jsonl").streaming_content).splitlines()
    ]
    assert {row["url"] for row in manifest} == {absolute + "README.md", *urls}
    described = json.loads(b"".join(client.get(base + "datapackage.json").streaming_content))
    assert {resource["path"] for resource in described["resources"]} == {row["url"] for row in manifest}
    archive = zipfile.ZipFile(io.BytesIO(b"".join(client.get(base + "download.zip").streaming_content)))
    guide = archive.read("keyed-set/HOW-TO-DOWNLOAD.md").decode()
    assert f"http://testserver{base}" in guide and "needs no password" in guide
    assert "wget -c -x -nH --cut-dirs=5 -i urls.txt" in guide  # s/<token>/k/<key>/r
    assert archive.read("keyed-set/urls.txt").decode().splitlines() == urls
    assert "sessionid" not in client.cookies  # no unlock was needed, so none was kept


def test_without_the_key_the_share_still_asks_and_basic_auth_still_works(share: Share) -> None:
    client = Client()
    plain = f"/s/{share.token}/"
    assert client.get(plain + "r/data/a.csv").status_code == 401
    assert client.get(plain + "urls.txt").status_code == 401
    assert b'name="password"' in client.get(plain).content
    assert client.get(plain + "r/data/a.csv", HTTP_AUTHORIZATION=basic(PASSWORD)).status_code == 307
    urls = b"".join(client.get(plain + "urls.txt", HTTP_AUTHORIZATION=basic(PASSWORD)).streaming_content).decode()
    assert urls.startswith(f"http://testserver{plain}r/")  # Basic auth keeps the plain links
    zipped = client.get(plain + "download.zip", HTTP_AUTHORIZATION=basic(PASSWORD))
    guide = zipfile.ZipFile(io.BytesIO(b"".join(zipped.streaming_content))).read("keyed-set/HOW-TO-DOWNLOAD.md")
    assert f"http://testserver{key_base(share)}".encode() in guide and b"--user=share --ask-password -i" in guide


@pytest.mark.parametrize("key", ["", "x", "A" * 43, "A" * 44])
def test_a_wrong_key_is_not_found(share: Share, key: str) -> None:
    client = Client()
    for suffix in ("", "r/data/a.csv", "urls.txt", "annex.git/info/refs", "key"):
        assert client.get(f"/s/{share.token}/k/{key}/{suffix}").status_code == 404, suffix


def test_an_open_share_and_an_unknown_token_have_no_key_link(share: Share, owner: Any) -> None:
    open_share = services.share_create(package=share.package, created_by=owner)
    client = Client()
    assert client.get(f"/s/{open_share.token}/k/{share.link_key}/r/data/a.csv").status_code == 404
    assert client.get(f"/s/no-such-token/k/{share.link_key}/").status_code == 404
    assert client.get(f"/s/{share.token}/k/{share.link_key}").status_code == 301  # the folder's slash


@pytest.mark.parametrize("end", ["revoke", "expire"])
def test_a_revoked_or_expired_share_ends_its_key_link(share: Share, end: str) -> None:
    base = key_base(share)
    if end == "revoke":
        services.share_revoke(share=share)
    else:
        Share.objects.filter(pk=share.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    client = Client()
    for suffix in ("", "r/data/a.csv", "urls.txt", "download.zip"):
        assert client.get(base + suffix).status_code == 410, suffix


def test_a_new_password_ends_the_old_key_link(share: Share) -> None:
    old = key_base(share)
    assert Client().get(old + "r/data/a.csv").status_code == 307
    Share.objects.filter(pk=share.pk).update(password_hash=share.password_hash + "x")  # as a new password would
    share.refresh_from_db()
    client = Client()
    assert client.get(old + "r/data/a.csv").status_code == 404
    assert client.get(old).status_code == 404
    assert client.get(key_base(share) + "r/data/a.csv").status_code == 307


def test_the_key_link_is_never_locked_out(share: Share, settings: Any) -> None:
    settings.SHARE_UNLOCK_SHARE_ATTEMPTS = 3
    client = Client()
    for index in range(3):
        assert client.get(f"/s/{share.token}/urls.txt", HTTP_AUTHORIZATION=basic(f"guess {index}")).status_code == 401
    locked = client.get(f"/s/{share.token}/r/data/a.csv", HTTP_AUTHORIZATION=basic(PASSWORD))
    assert locked.status_code == 429
    assert client.get(f"/s/{share.token}/key", HTTP_AUTHORIZATION=basic(PASSWORD)).status_code == 429
    assert client.get(key_base(share) + "r/data/a.csv").status_code == 307
    assert client.get(key_base(share)).status_code == 200


def test_the_key_endpoint_gives_the_key_link_for_the_password(share: Share, owner: Any) -> None:
    client = Client()
    url = f"/s/{share.token}/key"
    refused = client.get(url)
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Basic ")
    assert client.get(url, HTTP_AUTHORIZATION=basic("wrong password")).status_code == 401
    given = client.get(url, HTTP_AUTHORIZATION=basic(PASSWORD))
    assert given.status_code == 200 and given["Content-Type"].startswith("text/plain")
    assert given.content.decode() == f"http://testserver{key_base(share)}\n"
    assert given["Cache-Control"] == "private, no-store"
    assert client.post(url, HTTP_AUTHORIZATION=basic(PASSWORD)).status_code == 405
    open_share = services.share_create(package=share.package, created_by=owner)
    assert client.get(f"/s/{open_share.token}/key").status_code == 404
    assert client.get("/s/no-such-token/key").status_code == 404
    services.share_revoke(share=share)
    assert client.get(url, HTTP_AUTHORIZATION=basic(PASSWORD)).status_code == 410


def test_the_owner_sees_the_key_link_in_the_api_and_others_do_not(
    share: Share, owner: Any, api: Any, outsider_api: Any
) -> None:
    open_share = services.share_create(package=share.package, created_by=owner)
    listed = {item["token"]: item for item in api.call("get", f"/packages/{share.package.public_id}/shares").json()}
    assert listed[share.token]["key_link"] == f"http://testserver{key_base(share)}"
    assert listed[open_share.token]["key_link"] is None
    assert outsider_api.call("get", f"/packages/{share.package.public_id}/shares").status_code == 404
    created = api.call("post", f"/packages/{share.package.public_id}/shares", {"password": "another secret"})
    assert created.status_code == 201 and "/k/" in created.json()["key_link"]


def test_anyone_with_the_key_link_gets_in_signed_in_or_not(share: Share, outsider_client: Client) -> None:
    assert outsider_client.get(key_base(share)).status_code == 200
    assert outsider_client.get(key_base(share) + "r/data/a.csv").status_code == 307


def test_a_key_link_download_costs_the_queries_of_an_open_one(
    share: Share, owner: Any, settings: Any, django_assert_num_queries: Any
) -> None:
    settings.RESOLVE_CACHE_SECONDS = 60
    open_share = services.share_create(package=share.package, created_by=owner)
    client = Client()
    for url in (f"/s/{open_share.token}/r/data/a.csv", key_base(share) + "r/data/a.csv"):
        with django_assert_num_queries(1):
            assert client.get(url).status_code == 307
        with django_assert_num_queries(0):
            assert client.get(url).status_code == 307
    settings.RESOLVE_CACHE_SECONDS = 0
    for url in (f"/s/{open_share.token}/r/data/a.csv", key_base(share) + "r/data/a.csv"):
        with django_assert_num_queries(1):
            assert client.get(url).status_code == 307


def test_the_repositories_under_a_key_link_hold_key_links(
    share: Share, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    base = key_base(share)
    for kind in ("annex", "dvc"):
        with django_capture_on_commit_callbacks(execute=True):  # the build task (eager in tests)
            first = client.get(f"{base}{kind}.git/info/refs")
        assert first.status_code in (200, 503)
        assert client.get(f"{base}{kind}.git/info/refs").status_code == 200
        assert client.get(f"/s/{share.token}/{kind}.git/info/refs").status_code == 401  # the plain one asks
    keyed = ShareRepository.objects.filter(share=share).exclude(key_marker="")
    assert {repository.kind for repository in keyed} == {"annex", "dvc"}
    assert share.link_key not in {repository.key_marker for repository in keyed}  # a digest, not the key
    for repository in keyed:
        objects = _repository_objects(repository, tmp_path / repository.kind)
        wanted = f"http://testserver{base}r/data/a.csv" if repository.kind == "annex" else f"http://testserver{base}dvc"
        assert wanted in objects, repository.kind
        assert f"/s/{share.token}/r/" not in objects


def _repository_objects(repository: ShareRepository, folder: Path) -> str:
    """Every object of a stored repository, as text (git cat-file on a copy of its pack)."""
    import subprocess

    from django.core.files.storage import default_storage

    subprocess.run(["git", "init", "--quiet", "--bare", str(folder)], check=True)
    _, packs = default_storage.listdir(f"{repository.storage_prefix}/objects/pack")
    for name in packs:
        with default_storage.open(f"{repository.storage_prefix}/objects/pack/{name}", "rb") as handle:
            (folder / "objects" / "pack" / name).write_bytes(handle.read())
    listed = subprocess.run(
        ["git", "--git-dir", str(folder), "cat-file", "--batch-all-objects", "--batch"],
        check=True,
        capture_output=True,
    )
    return listed.stdout.decode("utf-8", errors="replace")


@pytest.mark.django_db(transaction=True)
def test_curl_sending_the_password_on_to_s3_is_refused_and_the_key_link_gets_the_bytes(
    live_server: Any, owner: Any, seaweed: Any, s3_bucket: str, tmp_path: Path
) -> None:
    import hashlib
    import subprocess

    from tests.factories import make_source

    content = bytes(range(256)) * 300
    seaweed.client().put_object(Bucket=s3_bucket, Key="survey/data.bin", Body=content)
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    package = packages.package_create(owner=owner, name="Strict")
    packages.package_add_objects(package=package, source=source, paths=["survey/data.bin"], target="data")
    publish(package)
    share = services.share_create(package=package, created_by=owner, password=PASSWORD)
    assert live_server.url.startswith("http://127.0.0.1:")  # storage is on localhost: another host name

    def curl(*args: str) -> tuple[str, Path]:
        output = tmp_path / f"out-{len(list(tmp_path.iterdir()))}"
        done = subprocess.run(
            ["curl", "-sS", "-o", str(output), "-w", "%{http_code}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.stdout, output

    # The password as Basic auth, sent on after the 307 as --location-trusted does: the
    # strict proxy answers as AWS does (a query signature and an Authorization header).
    status, output = curl(
        "--location-trusted", "-u", f"x:{PASSWORD}", f"{live_server.url}/s/{share.token}/r/data/data.bin"
    )
    assert status == "400" and b"InvalidArgument" in output.read_bytes()
    # The key link needs no header at all: the same file, every byte.
    status, output = curl("-L", f"{live_server.url}{key_base(share)}r/data/data.bin")
    assert status == "200"
    assert hashlib.sha256(output.read_bytes()).hexdigest() == hashlib.sha256(content).hexdigest()
    # And the key endpoint gives that link for the password.
    status, output = curl("-u", f"x:{PASSWORD}", f"{live_server.url}/s/{share.token}/key")
    assert status == "200" and output.read_text().strip() == f"{live_server.url}{key_base(share)}"
