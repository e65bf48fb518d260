"""direct.txt and direct.tsv: freshly signed storage URLs for clients that cannot come back
to packager, downloaded for real with aria2c from S3 (SeaweedFS), Azure (Azurite) and a local
folder (packager's own signed links)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from packager import checksumming
from packager import services as packages
from packager.models import Package, VersionEntry
from shares import services
from shares.models import Share
from sources.backends import content_disposition
from sources.models import Source
from tests.conftest import AzureServer, S3Server
from tests.factories import make_local_source, make_source, publish, write_files

PASSWORD = "direct pass"
S3_FILES = {"survey/temps.csv": b"t,v\n1,2\n" * 50, "survey/with space #1+.bin": bytes(range(256)) * 9}
AZURE_FILES = {"images/scan ü 01.raw": b"\x01\x02" * 3000, "images/sub/notes.txt": b"notes"}
LOCAL_FILES = {"local one.txt": b"from the folder\n"}


def expected() -> dict[str, bytes]:
    files = {f"s3/{key}": content for key, content in S3_FILES.items()}
    files.update({f"azure/{key}": content for key, content in AZURE_FILES.items()})
    files.update({f"local/{key}": content for key, content in LOCAL_FILES.items()})
    return files


@pytest.fixture
def mixed_package(
    owner: Any,
    seaweed: S3Server,
    s3_bucket: str,
    azurite: AzureServer,
    azure_container: str,
    tmp_path: Path,
) -> Package:
    s3 = seaweed.client()
    for key, content in S3_FILES.items():
        s3.put_object(Bucket=s3_bucket, Key=key, Body=content)
    container = azurite.service().get_container_client(azure_container)
    for key, content in AZURE_FILES.items():
        container.upload_blob(key, content)
    write_files(tmp_path / "folder", LOCAL_FILES)
    package = packages.package_create(owner=owner, name="mixed")
    s3_source = make_source(owner, seaweed.source_fields(s3_bucket, presign_ttl=600))
    azure_source = make_source(owner, azurite.source_fields(azure_container))
    local_source = make_local_source(owner, tmp_path / "folder")
    packages.package_add_objects(package=package, source=s3_source, paths=["survey/"], target="s3")
    packages.package_add_objects(package=package, source=azure_source, paths=["images/"], target="azure")
    packages.package_add_objects(package=package, source=local_source, paths=list(LOCAL_FILES), target="local")
    packages.package_write_text(package=package, path="README.md", content="# Mixed\n")
    publish(package)
    return package


def basic() -> str:
    return "Basic " + base64.b64encode(f"anyone:{PASSWORD}".encode()).decode()


def fetch(url: str, authorization: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": authorization} if authorization else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # the live server on 127.0.0.1
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.system
@pytest.mark.django_db(transaction=True)
def test_aria2c_rebuilds_a_mixed_share_from_direct_txt(
    live_server: Any, owner: Any, mixed_package: Package, tmp_path: Path
) -> None:
    aria2c = shutil.which("aria2c")
    assert aria2c is not None, "aria2c is not installed: run `make install-test`."
    share = services.share_create(package=mixed_package, created_by=owner, password=PASSWORD)
    url = f"{live_server.url}/s/{share.token}/direct.txt"
    assert fetch(url)[0] == 401
    status, body = fetch(url, basic())
    assert status == 200, body
    listing = body.decode()
    assert listing.count("\n  out=") == len(expected())
    assert "README.md" not in listing  # text files come with the ZIP, not from storage
    (tmp_path / "direct.txt").write_text(listing)
    target = tmp_path / "download"
    completed = subprocess.run(
        [aria2c, "-c", "-i", str(tmp_path / "direct.txt"), "-d", str(target), "--console-log-level=warn"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for path, content in expected().items():
        fetched = target / path
        assert fetched.is_file(), path
        assert hashlib.sha256(fetched.read_bytes()).hexdigest() == hashlib.sha256(content).hexdigest(), path
    # Again with -c: everything is there already, nothing is fetched twice or appended to.
    again = subprocess.run(
        [aria2c, "-c", "-i", str(tmp_path / "direct.txt"), "-d", str(target), "--console-log-level=warn"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert all((target / path).read_bytes() == content for path, content in expected().items())


@pytest.mark.django_db
def test_direct_tsv_lists_path_size_sha256_and_a_signed_url(client: Any, owner: Any, mixed_package: Package) -> None:
    share = services.share_create(package=mixed_package, created_by=owner)
    response = client.get(reverse("share_direct_tsv", args=[share.token]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/tab-separated-values")
    assert response["Cache-Control"] == "private, no-store"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "path\tsize\tsha256\turl"
    rows = {path: (int(size), sha256, url) for path, size, sha256, url in (line.split("\t") for line in lines[1:])}
    assert set(rows) == set(expected())
    for path, content in expected().items():
        size, sha256, url = rows[path]
        assert size == len(content) and sha256 == hashlib.sha256(content).hexdigest()
        assert url.startswith("http://")
    assert "X-Amz-Expires=600" in rows["s3/survey/temps.csv"][2]  # the source's link lifetime
    assert rows["local/local one.txt"][2].startswith("http://testserver/")


@pytest.mark.django_db
def test_expires_in_is_bounded_and_clearly_refused(client: Any, owner: Any, mixed_package: Package) -> None:
    share = services.share_create(package=mixed_package, created_by=owner)
    url = reverse("share_direct_txt", args=[share.token])
    body = b"".join(client.get(url, {"expires_in": "120"}).streaming_content).decode()
    s3_url = next(line for line in body.splitlines() if "X-Amz-Signature" in line)
    assert parse_qs(urlsplit(s3_url).query)["X-Amz-Expires"] == ["120"]
    for bad in ("abc", "59", "-5", str(7 * 24 * 3600 + 1)):
        refused = client.get(url, {"expires_in": bad})
        assert refused.status_code == 400 and b"expires_in must be" in refused.content


def _s3_expires(client: Any, url: str, **params: str) -> int:
    body = b"".join(client.get(url, params).streaming_content).decode()
    s3_url = next(line for line in body.splitlines() if "X-Amz-Signature" in line)
    return int(parse_qs(urlsplit(s3_url).query)["X-Amz-Expires"][0])


@pytest.mark.django_db
def test_links_never_live_longer_than_the_source_allows(client: Any, owner: Any, mixed_package: Package) -> None:
    share = services.share_create(package=mixed_package, created_by=owner)
    url = reverse("share_direct_txt", args=[share.token])
    # The S3 source's link lifetime is 600 s and it allows nothing longer.
    assert _s3_expires(client, url, expires_in="604800") == 600
    assert _s3_expires(client, url) == 600
    source = Source.objects.get(kind="s3")
    source.max_presign_ttl = 3600
    source.save()
    assert _s3_expires(client, url, expires_in="604800") == 3600
    assert _s3_expires(client, url, expires_in="1800") == 1800


@pytest.mark.django_db
def test_links_never_outlive_the_share(client: Any, owner: Any, mixed_package: Package) -> None:
    Source.objects.filter(kind="s3").update(max_presign_ttl=7 * 24 * 3600)
    share = services.share_create(
        package=mixed_package, created_by=owner, expires_at=timezone.now() + dt.timedelta(seconds=300)
    )
    url = reverse("share_direct_txt", args=[share.token])
    assert 290 <= _s3_expires(client, url, expires_in="604800") <= 300
    assert 290 <= _s3_expires(client, url) <= 300  # shorter than the source's own 600 s too


@pytest.mark.django_db
def test_a_resolve_redirect_never_outlives_the_share(client: Any, owner: Any, mixed_package: Package) -> None:
    """r/ (and the hash lanes behind it) sign like direct.txt: not past the share's expiry."""
    forever = services.share_create(package=mixed_package, created_by=owner)
    soon = services.share_create(
        package=mixed_package, created_by=owner, expires_at=timezone.now() + dt.timedelta(seconds=300)
    )
    for share, lifetimes in ((forever, range(600, 601)), (soon, range(290, 301))):
        response = client.get(reverse("share_resolve", args=[share.token, "s3/survey/temps.csv"]))
        assert response.status_code == 307
        assert int(parse_qs(urlsplit(response["Location"]).query)["X-Amz-Expires"][0]) in lifetimes


@pytest.mark.django_db
def test_the_longest_link_lifetime_is_checked_when_a_source_is_saved(
    api: Any, seaweed: S3Server, s3_bucket: str
) -> None:
    fields = seaweed.source_fields(s3_bucket, presign_ttl=600)
    refused = api.call("post", "/sources", {**fields, "max_presign_ttl": 300})
    assert refused.status_code == 422 and "max_presign_ttl" in refused.text
    created = api.call("post", "/sources", {**fields, "max_presign_ttl": 86400})
    assert created.status_code == 201 and created.json()["max_presign_ttl"] == 86400
    cleared = api.call("patch", f"/sources/{created.json()['id']}", {"max_presign_ttl": None})
    assert cleared.json()["max_presign_ttl"] is None


@pytest.mark.django_db
def test_drifted_files_are_left_out_and_said_so(client: Any, owner: Any, mixed_package: Package) -> None:
    share = services.share_create(package=mixed_package, created_by=owner)
    VersionEntry.objects.filter(path="s3/survey/temps.csv").update(drift=VersionEntry.Drift.MISSING)
    body = b"".join(client.get(reverse("share_direct_txt", args=[share.token])).streaming_content).decode()
    assert "out=s3/survey/temps.csv" not in body and "# left out: s3/survey/temps.csv" in body


@pytest.mark.django_db
def test_direct_lists_take_a_fixed_number_of_queries(
    client: Any, owner: Any, tmp_path: Path, django_assert_num_queries: Any
) -> None:
    counts = []
    for size in (3, 60):
        folder = tmp_path / f"set{size}"
        write_files(folder, {f"f{index:03d}.txt": b"x" for index in range(size)})
        source = make_local_source(owner, folder, name=f"local {size}")
        package = packages.package_create(owner=owner, name=f"set {size}")
        packages.package_add_objects(
            package=package, source=source, paths=[f"f{index:03d}.txt" for index in range(size)]
        )
        publish(package)
        share = services.share_create(package=package, created_by=owner)
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("share_direct_txt", args=[share.token]))
            text = b"".join(response.streaming_content).decode()
        assert text.count("\n  out=") == size
        counts.append(len([query for query in queries.captured_queries if 'shares_share" SET' not in query["sql"]]))
    assert counts[0] == counts[1]


@pytest.mark.django_db
def test_unpublished_revoked_and_locked_shares(client: Any, owner: Any, tmp_path: Path) -> None:
    write_files(tmp_path / "d", {"a.txt": b"a"})
    source = make_local_source(owner, tmp_path / "d")
    package = packages.package_create(owner=owner, name="draft")
    packages.package_add_objects(package=package, source=source, paths=["a.txt"])
    share = services.share_create(package=package, created_by=owner)
    assert client.get(reverse("share_direct_txt", args=[share.token])).status_code == 503
    # Sharing the never-published package published its first version; its checksums finish.
    checksumming.version_publish_run(version_pk=package.versions.get(number=1).pk)
    locked = services.share_create(package=package, created_by=owner, password=PASSWORD)
    assert client.get(reverse("share_direct_tsv", args=[locked.token])).status_code == 401
    assert client.get(reverse("share_direct_tsv", args=[locked.token]), HTTP_AUTHORIZATION=basic()).status_code == 200
    services.share_revoke(share=locked)
    assert client.get(reverse("share_direct_tsv", args=[locked.token]), HTTP_AUTHORIZATION=basic()).status_code == 410
    assert client.post(reverse("share_direct_txt", args=[share.token])).status_code == 405
    assert Share.objects.get(pk=share.pk).revoked_at is None


@pytest.mark.django_db
def test_the_share_page_says_when_to_use_which_list(client: Any, owner: Any, mixed_package: Package) -> None:
    share = services.share_create(package=mixed_package, created_by=owner, password=PASSWORD)
    client.post(reverse("share_page", args=[share.token]), {"password": PASSWORD})
    page = client.get(reverse("share_page", args=[share.token])).content.decode()
    assert reverse("share_direct_txt", args=[share.token]) in page
    assert reverse("share_direct_tsv", args=[share.token]) in page
    assert "aria2c -c -i direct.txt" in page and "curl -u share" in page
    assert "never expire" in page  # urls.txt first, where packager is reachable


@pytest.mark.django_db
def test_signed_urls_name_the_file_as_the_package_does(client: Any, owner: Any, mixed_package: Package) -> None:
    """Every kind of link saves under the entry's own name, not the storage key's: S3 with
    response-content-disposition, Azure with rscd (SeaweedFS and Azurite check the signature
    and answer with it), a local-folder link from packager itself."""
    renamed = {
        "s3/survey/temps.csv": 's3/temperatures 2024 "final".csv',
        "azure/images/sub/notes.txt": "azure/notes – ü.txt",
        "local/local one.txt": "local/réadme; copy.txt",
    }
    for path, new_path in renamed.items():
        packages.package_move(package=mixed_package, path=path, new_path=new_path)
    publish(mixed_package)
    share = services.share_create(package=mixed_package, created_by=owner)
    lines = b"".join(client.get(reverse("share_direct_tsv", args=[share.token])).streaming_content).decode()
    urls = {line.split("\t")[0]: line.split("\t")[3] for line in lines.splitlines()[1:]}
    names = {path: new_path.rpartition("/")[2] for path, new_path in renamed.items()}

    s3_query = parse_qs(urlsplit(urls[renamed["s3/survey/temps.csv"]]).query)
    assert s3_query["response-content-disposition"] == [content_disposition(names["s3/survey/temps.csv"])]
    with urllib.request.urlopen(urls[renamed["s3/survey/temps.csv"]], timeout=10) as fetched:
        assert fetched.read() == S3_FILES["survey/temps.csv"]
        assert fetched.headers["Content-Disposition"] == content_disposition(names["s3/survey/temps.csv"])

    with urllib.request.urlopen(urls[renamed["azure/images/sub/notes.txt"]], timeout=10) as fetched:
        assert fetched.read() == b"notes"
        assert fetched.headers["Content-Disposition"] == content_disposition(names["azure/images/sub/notes.txt"])

    local = urlsplit(urls[renamed["local/local one.txt"]])
    served = client.get(f"{local.path}?{local.query}")
    assert served.status_code == 200 and b"".join(served.streaming_content) == LOCAL_FILES["local one.txt"]
    assert served["Content-Disposition"] == content_disposition(names["local/local one.txt"])

    # The resolver signs the same way, for GET and for HEAD.
    for method in ("get", "head"):
        resolved = getattr(client, method)(reverse("share_resolve", args=[share.token, renamed["s3/survey/temps.csv"]]))
        assert resolved.status_code == 307
        location = parse_qs(urlsplit(resolved["Location"]).query)
        assert location["response-content-disposition"] == [content_disposition(names["s3/survey/temps.csv"])]
