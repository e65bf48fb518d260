"""The exports of a share, served from its published version: download.zip (pinned to
zipstream-ng's output), urls.txt with real wget, manifest.jsonl, datapackage.json with
`frictionless validate`, the resolver's 416 and 409, and passwords on every one of them."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import time
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import zipstream.ng
from django.urls import reverse
from zipstream import ZipStream

from packager import citation, exports, versions
from packager import services as packages
from packager.exports import datapackage
from packager.exports import zip as zip_export
from packager.models import Package, PackageVersion, VersionEntry
from shares import services
from shares.models import Share
from sources.models import Source
from tests.factories import add_version_entries, make_local_source, publish, write_files

pytestmark = pytest.mark.django_db

FILES = {
    "a.csv": b"x,y\n1,2\n3,4\n",
    "sub/b #1.bin": bytes(range(256)) * 40,
    "sub/ünï código.txt": "ça va\n".encode(),
    'sub/say "hi".txt': b"hi\n",
}
EXPORTS = ["share_download_zip", "share_urls", "share_manifest", "share_datapackage"]


@pytest.fixture
def source(owner: Any, tmp_path: Path) -> Source:
    write_files(tmp_path / "data", FILES)
    return make_local_source(owner, tmp_path / "data")


@pytest.fixture
def package(owner: Any, source: Source) -> Package:
    package = packages.package_create(owner=owner, name="Field data", description="Two *stores*")
    packages.package_add_objects(package=package, source=source, paths=["a.csv", "sub/"], target="data")
    packages.package_write_text(package=package, path="README.md", content="# Field data\n")
    publish(package, "first")
    return package


@pytest.fixture
def share(owner: Any, package: Package) -> Share:
    return services.share_create(package=package, created_by=owner)


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def basic(password: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"anyone:{password}".encode()).decode()}


def zipstream_ng_archive(archive: zipfile.ZipFile, data: bytes, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """The same members, in the same order, written by bare zipstream-ng at the same time."""
    date_time = archive.infolist()[0].date_time
    frozen = time.struct_time((*date_time, 0, 1, -1))
    monkeypatch.setattr(zipstream.ng.time, "localtime", lambda *args: frozen)
    reference = ZipStream(sized=True)
    for info in archive.infolist():
        reference.add(archive.read(info), info.filename)
    made = bytes(reference)
    assert len(reference) == len(made)
    return made


def test_it_writes_the_zip_byte_for_byte_as_zipstream_ng_does(
    client: Any, share: Share, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    response = client.get(reverse("share_download_zip", args=[share.token]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    data = body(response)
    assert int(response["Content-Length"]) == len(data)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    assert archive.namelist() == [
        "field-data/README.md",
        "field-data/data/a.csv.pointer.json",
        "field-data/data/sub/b #1.bin.pointer.json",
        'field-data/data/sub/say "hi".txt.pointer.json',
        "field-data/data/sub/ünï código.txt.pointer.json",
        "field-data/urls.txt",
        "field-data/manifest.jsonl",
        "field-data/datapackage.json",
        "field-data/HOW-TO-DOWNLOAD.md",
        "field-data/ro-crate-metadata.json",
        "field-data/CITATION.cff",
        "field-data/datacite.xml",
        "field-data/citation.bib",
        "field-data/citation.ris",
    ]
    assert data == zipstream_ng_archive(archive, data, monkeypatch)
    (tmp_path / "download.zip").write_bytes(data)
    tested = subprocess.run(["unzip", "-t", str(tmp_path / "download.zip")], capture_output=True, text=True)
    assert tested.returncode == 0 and "No errors detected" in tested.stdout, tested.stdout

    for name in archive.namelist():
        if name.endswith(".pointer.json"):
            document = archive.read(name).decode()
            assert json.dumps(json.loads(document), ensure_ascii=False) + "\n" == document
    pointer = json.loads(archive.read("field-data/data/sub/b #1.bin.pointer.json"))
    assert pointer["size"] == 256 * 40 and pointer["sha256"] == hashlib.sha256(FILES["sub/b #1.bin"]).hexdigest()
    assert pointer["resolve"] == "r/data/sub/b%20%231.bin"
    assert pointer["storage"]["key"] == "sub/b #1.bin" and "credentials" not in json.dumps(pointer)
    guide = archive.read("field-data/HOW-TO-DOWNLOAD.md").decode()
    assert f"http://testserver/s/{share.token}/" in guide and "wget -c -x -nH --cut-dirs=3 -i urls.txt" in guide


@pytest.mark.slow
def test_a_zip_of_more_than_65535_files_is_zip64_like_zipstream_ngs(
    client: Any, share: Share, package: Package, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    version = package.latest_version
    assert version is not None
    template = VersionEntry.objects.filter(package_version=version, kind="pointer").first()
    assert template is not None
    # ZIP64 end records start at 65,535 members: the version's own 5 files, 4 listings, 5
    # citation files and these.
    add_version_entries(version, 65_530, source_id=template.source_id or 0, first_position=10)
    PackageVersion.objects.filter(pk=version.pk).update(exports=exports.version_prepare(version=version))
    head = client.head(reverse("share_download_zip", args=[share.token]))
    data = body(client.get(reverse("share_download_zip", args=[share.token])))
    assert int(head["Content-Length"]) == len(data)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert len(archive.infolist()) == 65_544
    assert data == zipstream_ng_archive(archive, data, monkeypatch)
    (tmp_path / "many.zip").write_bytes(data)
    tested = subprocess.run(["unzip", "-tq", str(tmp_path / "many.zip")], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout[-2000:]


@pytest.mark.parametrize("size", [10, 2**32 + 5])
@pytest.mark.parametrize("offset", [0, 2**32 + 7])
def test_zip_headers_match_zipstream_ngs_past_four_gigabytes(size: int, offset: int) -> None:
    """Members and offsets past the ZIP64 limit cannot be made in a test run: their headers are."""
    dos = zip_export._dos((2026, 11, 21, 20, 30, 10))
    entry = zip_export._Entry.of("pkg/big.bin", size, dos)
    info = zipstream.ng.ZipStreamInfo("pkg/big.bin", date_time=(2026, 11, 21, 20, 30, 10))
    info.external_attr = 0o600 << 16
    info.file_size = info.compress_size = size
    info.flag_bits |= 1 << 3
    assert entry.local_header() == info.FileHeader(entry.zip64)
    info.CRC, info.header_offset = 12345, offset
    assert entry.central_record(12345, offset) == info._central_directory_header_data()
    assert entry.data_descriptor(12345) == info.DataDescriptor(entry.zip64)


def test_the_manifest_recomputes_the_top_hash_and_matches_urls_txt(client: Any, share: Share, package: Package) -> None:
    manifest = body(client.get(reverse("share_manifest", args=[share.token]))).decode()
    records = [json.loads(line) for line in manifest.splitlines()]
    assert manifest == "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    assert [record["path"] for record in records] == [
        "README.md",
        "data/a.csv",
        "data/sub/b #1.bin",
        'data/sub/say "hi".txt',
        "data/sub/ünï código.txt",
    ]
    recomputed = hashlib.sha256(
        "".join(f"{r['path']}\0{r['size']}\0{r['sha256']}\n" for r in records).encode()
    ).hexdigest()
    assert package.latest_version is not None and recomputed == package.latest_version.top_hash
    base = f"http://testserver/s/{share.token}/r/"
    assert records[2] == {
        "path": "data/sub/b #1.bin",
        "kind": "file",
        "size": 256 * 40,
        "sha256": hashlib.sha256(FILES["sub/b #1.bin"]).hexdigest(),
        "md5": hashlib.md5(FILES["sub/b #1.bin"]).hexdigest(),
        "etag": records[2]["etag"],
        "version_id": None,
        "url": base + "data/sub/b%20%231.bin",
    }
    assert records[0]["kind"] == "text" and records[0]["url"] == base + "README.md"
    urls = body(client.get(reverse("share_urls", args=[share.token]))).decode()
    assert urls.splitlines() == [record["url"] for record in records if record["kind"] == "file"]


def test_every_export_has_its_exact_length_whatever_the_host(client: Any, share: Share, settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["testserver", "a-much-longer-public-host-name.example.org"]
    for host in ("testserver", "a-much-longer-public-host-name.example.org"):
        for name in EXPORTS:
            url = reverse(name, args=[share.token])
            head = client.head(url, HTTP_HOST=host)
            got = client.get(url, HTTP_HOST=host)
            assert got.status_code == 200 and head.status_code == 200, name
            assert int(head["Content-Length"]) == int(got["Content-Length"]) == len(body(got)), (name, host)
            assert head["Cache-Control"] == "private, no-store"


def test_exports_read_a_fixed_number_of_queries(
    client: Any, share: Share, package: Package, source: Source, django_assert_num_queries: Any
) -> None:
    # Once with three files, once with three hundred more: the same number of queries.
    # (The access log counts in memory: no write per download.)
    for round_number in range(2):
        # The ZIP: the share, its parts (ZIP entries, urls, manifest, datapackage, RO-Crate's two).
        expected = {"share_download_zip": 8, "share_urls": 2, "share_manifest": 2, "share_datapackage": 2}
        for name, count in expected.items():
            with django_assert_num_queries(count):
                assert len(body(client.get(reverse(name, args=[share.token])))) > 0
            with django_assert_num_queries(1):
                client.head(reverse(name, args=[share.token]))
        with django_assert_num_queries(1):
            assert client.get(reverse("share_resolve", args=[share.token, "data/a.csv"])).status_code == 307
        if round_number == 0:
            for index in range(300):
                packages.package_write_text(package=package, path=f"notes/n{index}.md", content=f"note {index}")
            publish(package, "more")


def test_a_password_share_guards_every_export_with_basic_auth(
    owner: Any, package: Package, client: Any, settings: Any
) -> None:
    settings.SHARE_UNLOCK_ATTEMPTS = 100
    locked = services.share_create(package=package, created_by=owner, password="correct horse")
    urls = [reverse(name, args=[locked.token]) for name in EXPORTS]
    urls.append(reverse("share_resolve", args=[locked.token, "data/a.csv"]))
    for url in urls:
        for method in (client.get, client.head):
            refused = method(url)
            assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Basic"), url
            assert method(url, **basic("wrong")).status_code == 401
            assert method(url, **basic("correct horse")).status_code in {200, 307}, url
    guide = zipfile.ZipFile(io.BytesIO(body(client.get(urls[0], **basic("correct horse"))))).read(
        "field-data/HOW-TO-DOWNLOAD.md"
    )
    assert b"--user=share --ask-password -i urls.txt" in guide


def test_a_share_without_a_published_version_says_so(owner: Any, source: Source, client: Any) -> None:
    package = packages.package_create(owner=owner, name="Unpublished")
    packages.package_add_objects(package=package, source=source, paths=["a.csv"])
    share = Share.objects.create(package=package, created_by=owner)
    for name in EXPORTS:
        response = client.get(reverse(name, args=[share.token]))
        assert response.status_code == 409 and b"no published version yet" in response.content, name
    versions.package_publish(package=package, message="on its way")
    for name in EXPORTS:
        response = client.get(reverse(name, args=[share.token]))
        assert response.status_code == 503 and response["Retry-After"] == "30", name
        assert b"Version 1 of this package is being published (0 of 1 files checksummed)" in response.content
    resolve = client.get(reverse("share_resolve", args=[share.token, "a.csv"]))
    assert resolve.status_code == 503


def test_a_pinned_share_keeps_serving_its_version(owner: Any, package: Package, source: Source, client: Any) -> None:
    first = package.latest_version
    assert first is not None
    pinned = Share.objects.create(package=package, created_by=owner, version=first)
    latest = services.share_create(package=package, created_by=owner)
    packages.package_remove(package=package, path="data/a.csv")
    packages.package_write_text(package=package, path="NEW.md", content="new")
    publish(package, "second")

    def paths(share: Share) -> list[str]:
        manifest = body(client.get(reverse("share_manifest", args=[share.token]))).decode()
        return [json.loads(line)["path"] for line in manifest.splitlines()]

    assert "data/a.csv" in paths(pinned) and "NEW.md" not in paths(pinned)
    assert "data/a.csv" not in paths(latest) and "NEW.md" in paths(latest)
    assert client.get(reverse("share_resolve", args=[pinned.token, "data/a.csv"])).status_code == 307
    assert client.get(reverse("share_resolve", args=[latest.token, "data/a.csv"])).status_code == 404
    zipped = zipfile.ZipFile(io.BytesIO(body(client.get(reverse("share_download_zip", args=[pinned.token])))))
    assert "field-data/data/a.csv.pointer.json" in zipped.namelist()


def test_the_resolver_answers_416_past_the_end_and_409_for_drift(client: Any, share: Share, package: Package) -> None:
    url = reverse("share_resolve", args=[share.token, "data/sub/b #1.bin"])
    for header in (f"bytes={256 * 40}-", f"bytes={256 * 40 + 5}-{256 * 40 + 9}", "bytes=99999-,20000-"):
        refused = client.get(url, HTTP_RANGE=header)
        assert refused.status_code == 416 and refused["Content-Range"] == f"bytes */{256 * 40}", header
        assert "Location" not in refused
    for header in ("bytes=10-19", "bytes=-5", "bytes=99999-,0-1", "items=99999-", "bytes=x-"):
        assert client.get(url, HTTP_RANGE=header).status_code == 307, header
    VersionEntry.objects.filter(path="data/sub/b #1.bin").update(drift=VersionEntry.Drift.CHANGED)
    VersionEntry.objects.filter(path="data/a.csv").update(drift=VersionEntry.Drift.MISSING)
    changed = client.get(url)
    assert changed.status_code == 409 and "Location" not in changed
    assert "has changed in storage since version 1 was published" in changed.content.decode()
    missing = client.get(reverse("share_resolve", args=[share.token, "data/a.csv"]))
    assert missing.status_code == 409 and "is gone from storage" in missing.content.decode()


@pytest.mark.system
def test_wget_fetches_everything_and_a_second_run_ends_at_once(
    live_server: Any, share: Share, wget: str, tmp_path: Path
) -> None:
    share_url = f"{live_server.url}/s/{share.token}/"
    with urllib.request.urlopen(share_url + "download.zip", timeout=30) as response:
        zip_bytes = response.read()
    zipfile.ZipFile(io.BytesIO(zip_bytes)).extractall(tmp_path)
    folder = tmp_path / "field-data"
    guide = (folder / "HOW-TO-DOWNLOAD.md").read_text()
    commands = re.findall(r"```\n(.*?)\n```", guide, re.S)
    fetch = commands[0]
    assert fetch.startswith("wget ")
    first = subprocess.run(fetch.split(), cwd=folder, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    for path, content in FILES.items():
        assert (folder / "data" / path).read_bytes() == content, path
    again = subprocess.run(fetch.split(), cwd=folder, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    # Ended at once: one request per file, answered 416 by packager; no redirect, no bytes.
    assert again.stderr.count("416 Requested Range Not Satisfiable") == len(FILES)
    assert again.stderr.count("already fully retrieved") == len(FILES)
    assert "307" not in again.stderr and "206" not in again.stderr
    for path, content in FILES.items():
        assert (folder / "data" / path).read_bytes() == content, path
    # The guide's checks pass on what wget fetched (jq comes with `make install-test`).
    check = subprocess.run(["bash", "-c", commands[1]], cwd=folder, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    top = subprocess.run(["bash", "-c", commands[2]], cwd=folder, capture_output=True, text=True)
    assert top.stdout.split()[0] == share.package.latest_version.top_hash


def png_image() -> bytes:
    """A 2×2 red PNG, written by hand (packager has no imaging library)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


def parquet_table() -> bytes:
    import pyarrow
    import pyarrow.parquet

    out = io.BytesIO()
    pyarrow.parquet.write_table(pyarrow.table({"depth": [1.5, 2.5], "site": ["a", "b"]}), out)
    return out.getvalue()


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("inner/readings.csv", "x,y\n1,2\n")
    return out.getvalue()


# One of each kind a package holds, with names the Data Package name pattern refuses.
KINDS = {
    "table.csv": b"x,y\n1,2\n3,4\n",
    "Tabellen/Größe ünï.CSV": "a;b\n1;é\n".encode(),
    "empty.csv": b"",
    "table.tsv": b"a\tb\n1\t2\n",
    "table.parquet": parquet_table(),
    "object.json": b'{"a": [1, 2]}',
    "lines.json": b'{"a": 1}\n{"a": 2}\n',
    "image.png": png_image(),
    "photo.JPG": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9",
    "sheet.xlsx": b"PK\x03\x04 not a workbook",
    "b #1.bin": bytes(range(256)) * 4,
    "Case.bin": b"upper",
    "case.bin": b"lower",
    "no-extension": b"\x00\x01",
    "archive.zip": zip_archive(),
    "readings.csv.gz": gzip.compress(b"x,y\n1,2\n"),
}
TEXTS = {
    "README.md": "# Every kind\n",
    "analysis.ipynb": json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
    "notes/summary.csv": "name,value\nça,1\n",
}


@pytest.mark.system
def test_frictionless_validates_every_kind_of_file(owner: Any, live_server: Any, tmp_path: Path) -> None:
    """Through an open share and a password share's key link, with the CLI and the Python API:
    frictionless fetches every file through the resolver's 307 and checks its size and hash,
    parses the tables and nothing else, and finds the whole package valid."""
    import frictionless
    import requests

    write_files(tmp_path / "data", KINDS)
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Every kind", description="One file of each kind")
    top = [path for path in KINDS if "/" not in path]
    packages.package_add_objects(package=package, source=source, paths=[*top, "Tabellen/"], target="data")
    for path, content in TEXTS.items():
        packages.package_write_text(package=package, path=path, content=content)
    citation.package_metadata_set(
        package=package,
        metadata={
            "title": "Every kind",
            "creators": [{"name": "Carberry, Josiah", "orcid": "0000-0002-1825-0097", "affiliation": "Brown"}],
            "contributors": [{"name": "Ada Lovelace"}],
            "license": "cc-by-4.0",
            "keywords": ["kinds"],
        },
    )
    publish(package, "first")
    shared = services.share_create(package=package, created_by=owner)
    locked = services.share_create(package=package, created_by=owner, password="correct horse")
    content = {f"data/{path}": data for path, data in KINDS.items()} | {
        path: text.encode() for path, text in TEXTS.items()
    }
    command = shutil.which("frictionless") or str(Path(sys.executable).parent / "frictionless")
    for share_url in (
        f"{live_server.url}/s/{shared.token}/",
        f"{live_server.url}/s/{locked.token}/k/{locked.link_key}/",
    ):
        url = share_url + "datapackage.json"
        with urllib.request.urlopen(url, timeout=30) as response:
            descriptor = json.loads(response.read())
        assert descriptor["licenses"] == [
            {"name": "CC-BY-4.0", "path": "https://spdx.org/licenses/CC-BY-4.0.html", "title": "CC-BY-4.0"}
        ]
        assert [person["title"] for person in descriptor["contributors"]] == ["Carberry, Josiah", "Ada Lovelace"]
        resources = {unquote(r["path"].removeprefix(share_url + "r/")): r for r in descriptor["resources"]}
        assert sorted(resources) == sorted(content)
        names = [r["name"] for r in descriptor["resources"]]
        assert len(set(names)) == len(names) and all(re.fullmatch(r"[-a-z0-9._/]+", name) for name in names)
        for path, data in content.items():
            described = resources[path]
            assert described["hash"] == "sha256:" + hashlib.sha256(data).hexdigest(), path
            assert described["profile"] == "data-resource" and described["mediatype"], path
            assert described.get("bytes") == (None if path.endswith((".zip", ".gz")) else len(data)), path
            tabular = path.lower().endswith((".csv", ".tsv")) and data
            assert described["type"] == ("table" if tabular else "file"), path
            assert described.get("encoding") == ("utf-8" if path in TEXTS else None), path
        assert resources["data/table.parquet"]["mediatype"] == "application/vnd.apache.parquet"
        assert resources["data/Tabellen/Größe ünï.CSV"]["format"] == "csv"
        assert resources["data/photo.JPG"]["mediatype"] == "image/jpeg"
        assert resources["analysis.ipynb"]["mediatype"] == "application/x-ipynb+json"
        assert "format" not in resources["data/no-extension"]

        validated = subprocess.run(
            [command, "validate", "--json", url], capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        report = json.loads(validated.stdout)
        assert validated.returncode == 0 and report["valid"], validated.stdout[-3000:]
        tasks = {task["name"]: task for task in report["tasks"]}
        assert len(tasks) == len(content)
        for path, data in content.items():
            task = tasks[resources[path]["name"]]
            assert task["valid"] and task["type"] == resources[path]["type"], (path, task)
            if not path.endswith((".zip", ".gz")):
                # Fetched in full, through the 307, and checked.
                assert task["stats"]["sha256"] == hashlib.sha256(data).hexdigest(), path
        assert tasks[resources["data/table.csv"]["name"]]["stats"]["rows"] == 2
        assert tasks[resources["data/Tabellen/Größe ünï.CSV"]["name"]]["stats"]["fields"] == 2

        # A session of the test's own, closed at the end, so that no kept-alive connection
        # holds a live-server thread (and its database connection) past the test.
        with requests.Session() as session, frictionless.system.use_context(http_session=session):
            api_report = frictionless.validate(url)
            assert api_report.valid, api_report.flatten(["type", "note"])
            # A hash that does not match the bytes storage serves is caught: frictionless checks.
            resources["data/table.parquet"]["hash"] = "sha256:" + "0" * 64
            tampered = frictionless.validate(descriptor)
            assert tampered.flatten(["type"]) == [["hash-count"]]


def test_resource_names_match_the_pattern_and_never_collide() -> None:
    renamed = datapackage.frictionless_name("A b")
    paths = ["A b", "a-b", renamed, "README.md", "readme.md", "Größe/ünï.csv", "\u212a.csv", "k.csv", "日本", "-"]
    names = [datapackage.frictionless_name(path) for path in paths]
    assert len(set(names)) == len(paths)
    assert all(re.fullmatch(r"[-a-z0-9._/]+", name) for name in names)
    assert names[1] == "a-b" and names[4] == "readme.md"


def test_a_version_published_before_the_exports_existed_gets_them_on_first_download(
    client: Any, share: Share, package: Package
) -> None:
    version = package.latest_version
    assert version is not None
    expected = body(client.get(reverse("share_manifest", args=[share.token])))
    PackageVersion.objects.filter(pk=version.pk).update(exports={})
    version.export_parts.all().delete()
    assert body(client.get(reverse("share_manifest", args=[share.token]))) == expected
    version.refresh_from_db()
    assert version.exports["format"] == exports.FORMAT and version.export_parts.exists()
