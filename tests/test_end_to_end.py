"""The whole path, over real HTTP: S3 (SeaweedFS behind the strict proxy) and Azure (Azurite) sources, a package mixing
both plus a README, a password share, the ZIP, and real wget fetching every urls.txt line
with Basic auth, straight from storage. Once through the JSON API, once through the pages.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from packager.models import Package
from packager.services import api_token_create
from sources.models import Source
from tests.conftest import AzureServer, S3Server
from tests.factories import publish, store_objects

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

PASSWORD = "share pass 42"
S3_OBJECTS = {
    "survey/2024/temps.csv": b"t,c\n" + b"1,2\n" * 5000,
    "survey/2024/with space #1.bin": bytes(range(256)) * 64,
    "survey/odd/dätä+100%?.txt": "unicode ü and symbols".encode(),
}
AZURE_OBJECTS = {
    "images/scan 01.raw": bytes(reversed(range(256))) * 128,
    "images/sub/notes.txt": b"azure notes\n",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def basic_header(password: str) -> str:
    return "Basic " + base64.b64encode(f"collaborator:{password}".encode()).decode()


def http(method: str, url: str, *, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


@pytest.fixture
def stored(seaweed: S3Server, s3_bucket: str, azurite: AzureServer, azure_container: str) -> None:
    container = azurite.service().get_container_client(azure_container)
    store_objects(seaweed.client(), s3_bucket, S3_OBJECTS, container, AZURE_OBJECTS)


def expected_files() -> dict[str, bytes]:
    files = {f"s3data/{key.removeprefix('survey/')}": content for key, content in S3_OBJECTS.items()}
    files.update({f"azure/{key.removeprefix('images/')}": content for key, content in AZURE_OBJECTS.items()})
    return files


def download_and_check(live_url: str, token: str, wget: str, workdir: Path) -> None:
    """What a collaborator does: ZIP, then wget every data file with the share password."""
    share_url = f"{live_url}/s/{token}/"
    status, _, headers = http("GET", share_url + "download.zip")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    status, body, headers = http("GET", share_url + "download.zip", headers={"Authorization": basic_header(PASSWORD)})
    assert status == 200 and headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(body))
    names = sorted(archive.namelist())
    top = names[0].split("/")[0]
    expected_pointers = sorted(f"{top}/{path}.pointer.json" for path in expected_files())
    listings = [
        "CITATION.cff",
        "HOW-TO-DOWNLOAD.md",
        "README.md",
        "citation.bib",
        "citation.ris",
        "datacite.xml",
        "datapackage.json",
        "manifest.jsonl",
        "ro-crate-metadata.json",
        "urls.txt",
    ]
    assert names == sorted([*(f"{top}/{name}" for name in listings), *expected_pointers])
    assert archive.read(f"{top}/README.md").decode().startswith("# Survey")
    archive.extractall(workdir)
    folder = workdir / top
    urls = (folder / "urls.txt").read_text().split()
    assert len(urls) == len(expected_files())

    completed = subprocess.run(
        [
            wget,
            "--no-verbose",
            "-c",
            "-x",
            "-nH",
            "--cut-dirs=3",
            "--user=collaborator",
            f"--password={PASSWORD}",
            "-i",
            "urls.txt",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    for path, content in expected_files().items():
        fetched = folder / path
        assert fetched.is_file(), f"{path} missing; wget said: {completed.stderr[-2000:]}"
        assert sha256(fetched.read_bytes()) == sha256(content), path
        pointer = json.loads((folder / f"{path}.pointer.json").read_text())
        assert pointer["size"] == len(content)

    # Resuming: a second run completes cut-short files (206) and ends at once for complete
    # ones: packager answers 416 itself for a range past the end (Azurite would answer 206).
    cut = {"azure/scan 01.raw": 1000, "s3data/2024/temps.csv": 777}
    for path, length in cut.items():
        (folder / path).write_bytes(expected_files()[path][:length])
    again = subprocess.run(
        [
            wget,
            "-c",
            "-x",
            "-nH",
            "--cut-dirs=3",
            "--user=collaborator",
            f"--password={PASSWORD}",
            "--tries=2",
            "-i",
            "urls.txt",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert again.stderr.lower().count("206 partial content") == 2
    assert again.stderr.count("already fully retrieved") == len(urls) - 2
    for path, content in expected_files().items():
        assert (folder / path).read_bytes() == content, path

    # Without the password wget gets nothing.
    refused = subprocess.run([wget, "-q", "-O", "-", urls[0]], capture_output=True, timeout=60)
    assert refused.returncode != 0 and refused.stdout == b""


def assert_tampered_sas_is_refused(live_url: str, token: str) -> None:
    path = urllib.parse.quote("azure/sub/notes.txt")
    request = urllib.request.Request(
        f"{live_url}/s/{token}/r/{path}", headers={"Authorization": basic_header(PASSWORD)}
    )

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(request, timeout=30)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as error:
        assert error.code == 307
        location = error.headers["Location"]
    assert http("GET", location)[0] == 200
    assert http("HEAD", location)[0] == 200
    tampered = location.replace("sp=r", "sp=rw") if "sp=r" in location else location + "x"
    assert http("GET", tampered)[0] == 403
    other_blob = location.replace("notes.txt", "other.txt")
    assert http("GET", other_blob)[0] == 403


def test_end_to_end_through_the_api(
    live_server: Any,
    seaweed: S3Server,
    s3_bucket: str,
    azurite: AzureServer,
    azure_container: str,
    stored: None,
    owner: Any,
    wget: str,
    tmp_path: Path,
) -> None:
    _, token = api_token_create(user=owner, name="e2e")
    auth = {"Authorization": f"Bearer {token}"}
    api = f"{live_server.url}/api/v1"

    status, body, _ = http("POST", f"{api}/sources", body=seaweed.source_fields(s3_bucket, name="lab s3"), headers=auth)
    assert status == 201, body
    s3_id = json.loads(body)["id"]
    status, body, _ = http(
        "POST", f"{api}/sources", body=azurite.source_fields(azure_container, name="lab azure"), headers=auth
    )
    assert status == 201, body
    azure_id = json.loads(body)["id"]
    # The index was built by the Celery task queued when the source was created.
    status, body, _ = http("GET", f"{api}/sources/{s3_id}/objects?prefix=survey/2024/", headers=auth)
    assert status == 200, body
    assert {entry["key"] for entry in json.loads(body)["entries"]} == {
        "survey/2024/temps.csv",
        "survey/2024/with space #1.bin",
    }

    status, body, _ = http("POST", f"{api}/packages", body={"name": "Survey"}, headers=auth)
    package_id = json.loads(body)["id"]
    entries = f"{api}/packages/{package_id}/entries"
    assert (
        http("POST", entries, body={"source": s3_id, "prefix": "survey/", "target": "s3data"}, headers=auth)[0] == 201
    )
    assert (
        http("POST", entries, body={"source": azure_id, "prefix": "images/", "target": "azure"}, headers=auth)[0] == 201
    )
    status, body, _ = http("GET", entries, headers=auth)
    assert sorted(entry["path"] for entry in json.loads(body)["items"]) == sorted(expected_files())
    assert (
        http("POST", entries, body={"path": "README.md", "text": "# Survey\n\nData from two stores."}, headers=auth)[0]
        == 201
    )

    publish(Package.objects.get(public_id=package_id))
    status, body, _ = http("POST", f"{api}/packages/{package_id}/shares", body={"password": PASSWORD}, headers=auth)
    assert status == 201
    share = json.loads(body)
    assert share["url"] == f"{live_server.url}/s/{share['token']}/"

    download_and_check(live_server.url, share["token"], wget, tmp_path)
    assert_tampered_sas_is_refused(live_server.url, share["token"])


def test_end_to_end_through_the_pages(
    live_server: Any,
    seaweed: S3Server,
    s3_bucket: str,
    azurite: AzureServer,
    azure_container: str,
    stored: None,
    owner: Any,
    wget: str,
    tmp_path: Path,
) -> None:
    browser = Client()
    browser.force_login(owner)
    s3_form = {**seaweed.source_fields(s3_bucket, name="lab s3"), "presign_ttl": 900, "key_prefix": "survey"}
    assert browser.post("/sources/add/", s3_form).status_code == 302
    azure_form = {
        "name": "lab azure",
        "kind": "azure",
        "bucket": azure_container,
        "key_prefix": "images/",
        "endpoint_url": azurite.account_url,
        "connection_string": azurite.connection_string,
        "presign_ttl": 900,
    }
    response = browser.post("/sources/add/", azure_form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    s3_source = Source.objects.get(name="lab s3")
    azure_source = Source.objects.get(name="lab azure")
    assert s3_source.status == azure_source.status == Source.Status.READY

    page = browser.get(f"/sources/{s3_source.public_id}/browse/")
    assert b"2024" in page.content and b"odd" in page.content
    response = browser.post(
        "/packages/add-objects/",
        {"source": s3_source.public_id, "paths": ["2024/", "odd/"], "new_package_name": "Survey", "target": "s3data"},
    )
    package = Package.objects.get(name="Survey")
    assert response["Location"] == f"/packages/{package.public_id}/"
    browser.post(
        "/packages/add-objects/",
        {
            "source": azure_source.public_id,
            "paths": ["scan 01.raw", "sub/"],
            "package": package.public_id,
            "target": "azure",
        },
    )
    browser.post(f"/packages/{package.public_id}/write/", {"path": "README.md", "content": "# Survey\n\nMixed."})
    detail = browser.get(f"/packages/{package.public_id}/")
    assert b"<h1>Survey</h1>" in detail.content
    assert detail.context["listing"].total_count == len(expected_files()) + 1

    publish(package)
    browser.post(f"/packages/{package.public_id}/shares/", {"password": PASSWORD, "label": "e2e"})
    token = package.shares.get().token
    download_and_check(live_server.url, token, wget, tmp_path)
