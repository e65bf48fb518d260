"""What HTTP clients need from a share: CORS for browsers (open shares and key links only),
text files served like files (length, validators, ranges), and folder indexes to walk."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from packager import services as packages
from packager.models import Package
from shares import services
from shares.models import Share
from tests.factories import make_local_source, publish, write_files

pytestmark = pytest.mark.django_db

PASSWORD = "http headers pass"
README = "# Headers\n\nSome text to read in ranges.\n"
FILES = {"a.csv": b"a,b\n1,2\n", "sub/b #1.bin": b"\x01" * 50, "sub/x:y.txt": b"colon\n"}


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"anyone:{password}".encode()).decode()


@pytest.fixture
def package(owner: Any, tmp_path: Path) -> Package:
    write_files(tmp_path / "data", FILES)
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Headers")
    packages.package_add_objects(package=package, source=source, paths=["a.csv", "sub/"], target="data")
    packages.package_write_text(package=package, path="README.md", content=README)
    publish(package)
    return package


@pytest.fixture
def open_share(owner: Any, package: Package) -> Share:
    return services.share_create(package=package, created_by=owner)


@pytest.fixture
def password_share(owner: Any, package: Package) -> Share:
    return services.share_create(package=package, created_by=owner, password=PASSWORD)


DOWNLOADS = ["r/data/a.csv", "r/README.md", "urls.txt", "manifest.jsonl", "datapackage.json", "download.zip", "r/"]


def test_open_shares_and_key_links_allow_any_origin_on_downloads(open_share: Share, password_share: Share) -> None:
    client = Client()
    for base in (f"/s/{open_share.token}/", f"/s/{password_share.token}/k/{password_share.link_key}/"):
        for path in DOWNLOADS:
            response = client.get(base + path, HTTP_ORIGIN="https://observablehq.com")
            assert response.status_code in (200, 307), path
            assert response["Access-Control-Allow-Origin"] == "*", path
            exposed = {name.strip() for name in response["Access-Control-Expose-Headers"].split(",")}
            assert {"Content-Length", "Content-Range", "ETag"} <= exposed
        for page in ("", "view/README.md"):
            assert "Access-Control-Allow-Origin" not in client.get(base + page), page


def test_no_cors_for_a_password_given_as_basic_auth_nor_for_the_owner(
    password_share: Share, owner_client: Client
) -> None:
    base = f"/s/{password_share.token}/"
    for path in DOWNLOADS:
        response = Client().get(base + path, HTTP_AUTHORIZATION=basic(PASSWORD))
        assert response.status_code in (200, 307), path
        assert "Access-Control-Allow-Origin" not in response, path
        assert "Access-Control-Allow-Origin" not in owner_client.get(base + path), path
    assert "Access-Control-Allow-Origin" not in Client().get(base + "r/data/a.csv")  # the 401
    assert "Access-Control-Allow-Origin" not in Client().get(base + "key", HTTP_AUTHORIZATION=basic(PASSWORD))


def test_the_preflight_for_a_range_request_is_answered_for_open_shares_and_key_links(
    open_share: Share, password_share: Share
) -> None:
    client = Client()
    preflight = {"HTTP_ORIGIN": "https://example.org", "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET"}
    for base in (f"/s/{open_share.token}/", f"/s/{password_share.token}/k/{password_share.link_key}/"):
        response = client.options(base + "r/data/a.csv", HTTP_ACCESS_CONTROL_REQUEST_HEADERS="range", **preflight)
        assert response.status_code == 204
        assert response["Access-Control-Allow-Origin"] == "*"
        assert "Range" in response["Access-Control-Allow-Headers"]
        assert set(response["Access-Control-Allow-Methods"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    assert client.options(f"/s/{password_share.token}/r/data/a.csv", **preflight).status_code == 405
    assert client.options(f"/s/{open_share.token}/", **preflight).status_code == 405  # a page
    assert client.options(f"/s/{open_share.token}/r/data/a.csv").status_code == 405  # not a preflight
    assert client.options("/s/no-such-token/r/data/a.csv", **preflight).status_code == 405


@pytest.mark.parametrize("lane", ["open", "key link", "basic auth", "owner"])
def test_text_files_carry_validators_and_answer_ranges_on_every_lane(
    lane: str, open_share: Share, password_share: Share, owner_client: Client
) -> None:
    client, headers = Client(), {}
    if lane == "open":
        url = f"/s/{open_share.token}/r/README.md"
    elif lane == "key link":
        url = f"/s/{password_share.token}/k/{password_share.link_key}/r/README.md"
    else:
        url = f"/s/{password_share.token}/r/README.md"
        if lane == "basic auth":
            headers = {"HTTP_AUTHORIZATION": basic(PASSWORD)}
        else:
            client = owner_client
    body = README.encode()
    whole = client.get(url, **headers)
    assert whole.status_code == 200 and whole.content == body
    assert whole["Content-Length"] == str(len(body)) and whole["Accept-Ranges"] == "bytes"
    etag = whole["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{64}"', etag)
    assert whole["Last-Modified"].endswith("GMT")
    part = client.get(url, HTTP_RANGE="bytes=2-9", **headers)
    assert part.status_code == 206 and part.content == body[2:10]
    assert part["Content-Range"] == f"bytes 2-9/{len(body)}" and part["Content-Length"] == "8"
    tail = client.get(url, HTTP_RANGE="bytes=-5", **headers)
    assert tail.status_code == 206 and tail.content == body[-5:]
    past = client.get(url, HTTP_RANGE=f"bytes={len(body)}-", **headers)
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{len(body)}"
    unchanged = client.get(url, HTTP_IF_NONE_MATCH=etag, **headers)
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged["ETag"] == etag
    assert client.get(url, HTTP_IF_NONE_MATCH='"other"', **headers).status_code == 200
    since = client.get(url, HTTP_IF_MODIFIED_SINCE=whole["Last-Modified"], **headers)
    assert since.status_code == 304
    stale_range = client.get(url, HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE='"old"', **headers)
    assert stale_range.status_code == 200 and stale_range.content == body


def _hrefs(response: Any) -> list[str]:
    return re.findall(r'href="([^"]*)"', b"".join(response.streaming_content).decode())


def test_every_folder_under_r_has_an_index_of_relative_links(
    open_share: Share, password_share: Share, django_assert_max_num_queries: Any
) -> None:
    client = Client()
    for base in (f"/s/{open_share.token}/r/", f"/s/{password_share.token}/k/{password_share.link_key}/r/"):
        top = client.get(base)
        assert top.status_code == 200 and top["Content-Type"] == "text/html; charset=utf-8"
        assert _hrefs(top) == ["data/", "README.md"]
        with django_assert_max_num_queries(6):  # the share, its version, the folder, its folders and files
            data = client.get(base + "data/")
            hrefs = _hrefs(data)
        assert hrefs == ["sub/", "a.csv"]
        assert _hrefs(client.get(base + "data/sub/")) == ["b%20%231.bin", "x%3Ay.txt"]
        # Each link leads where it says: the file's resolve link, or the next index.
        assert client.get(base + "data/sub/b%20%231.bin").status_code == 307
        assert client.get(base + "data/sub/x%3Ay.txt").status_code == 307
        assert client.get(base + "nowhere/").status_code == 404
        assert client.head(base + "data/").status_code == 200
    assert Client().get(f"/s/{password_share.token}/r/").status_code == 401
    assert Client().get(f"/s/{password_share.token}/r/", HTTP_AUTHORIZATION=basic(PASSWORD)).status_code == 200
