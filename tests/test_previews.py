"""Data previews read from real SeaweedFS (S3) and Azurite (Azure Blob) objects."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from packager import services as packages
from shares import services as shares
from sources.models import Source
from sources.previews import indent_json_prefix, object_preview
from tests import previews_data as data
from tests.conftest import AzureServer, S3Server
from tests.factories import make_source, publish

pytestmark = pytest.mark.django_db

Store = tuple[Source, Callable[[str, bytes], None]]


@pytest.fixture(params=["s3", "azure"])
def store(
    request: pytest.FixtureRequest,
    owner: Any,
    seaweed: S3Server,
    azurite: AzureServer,
    s3_bucket: str,
    azure_container: str,
) -> Store:
    """A source on a real server, and a function that puts an object into it."""
    if request.param == "s3":
        client = seaweed.client()

        def put(key: str, body: bytes) -> None:
            client.put_object(Bucket=s3_bucket, Key=key, Body=body)

        return make_source(owner, seaweed.source_fields(s3_bucket), index=False), put
    container = azurite.service().get_container_client(azure_container)

    def put_blob(key: str, body: bytes) -> None:
        container.upload_blob(key, body, overwrite=True)

    return make_source(owner, azurite.source_fields(azure_container), index=False), put_blob


def preview_of(store: Store, key: str, body: bytes) -> Any:
    source, put = store
    put(key, body)
    info = source_backend(source).stat(key)
    return object_preview(source=source, key=key, size=info.size, etag=info.etag, version_id=info.version_id)


def source_backend(source: Source) -> Any:
    from sources.clients import backend_for

    return backend_for(source)


def test_it_previews_csv_with_its_delimiter_and_header(store: Store) -> None:
    preview = preview_of(store, "tables/weather.csv", data.CSV)
    assert preview.kind == "table"
    assert preview.delimiter == "," and preview.has_header
    assert preview.columns == ["city", "temperature", "day"]
    assert len(preview.rows) == 100 and preview.truncated
    assert preview.rows[0] == ["Town 0", "0.5", "2024-07-01"]


def test_it_previews_tsv_and_semicolon_files(store: Store) -> None:
    tsv = preview_of(store, "counts.tsv", data.TSV)
    assert tsv.delimiter == "\t" and tsv.columns == ["name", "count"] and tsv.rows == [["alpha", "1"], ["beta", "2"]]
    semicolons = preview_of(store, "werte.csv", data.SEMICOLON)
    assert (
        semicolons.delimiter == ";"
        and semicolons.columns == ["Stadt", "Einwohner", "Anteil"]
        and semicolons.rows[0] == ["Köln", "1084831", "1,5"]
    )


def test_it_reads_a_few_pages_of_a_large_parquet_file(store: Store) -> None:
    body = data.parquet()
    preview = preview_of(store, "big/table.parquet", body)
    assert preview.kind == "parquet", preview.error
    assert preview.row_count == 240_000
    assert [rows for rows, _ in preview.row_groups] == [40_000] * 6
    assert preview.schema == [("id", "int64"), ("label", "string"), ("score", "double")]
    assert preview.rows[:2] == [["0", "row 0 ", "0.0"], ["1", "row 1 x", "91.9"]]
    assert len(preview.rows) == 50 and preview.truncated
    # The footer and the first page of each column: far below the file and its first row group.
    assert preview.bytes_read < len(body) / 10
    assert preview.bytes_read < preview.row_groups[0][1] / 2
    assert preview.requests <= 10


def test_it_caches_a_preview_per_object_version(store: Store) -> None:
    source, put = store
    first = preview_of(store, "notes.txt", b"first words\n")
    first_etag = source_backend(source).stat("notes.txt").etag
    assert first.text == "first words\n"
    put("notes.txt", b"other words\n")
    # The version packager pinned is answered from the cache without reading storage again...
    pinned = object_preview(source=source, key="notes.txt", size=first.size, etag=first_etag)
    assert pinned.text == "first words\n"
    # ...and a new version (a new ETag) is read afresh.
    assert preview_of(store, "notes.txt", b"other words\n").text == "other words\n"


@pytest.mark.parametrize(
    ("key", "body", "image_format"),
    [
        ("img/dot.png", data.png(), "PNG"),
        ("img/photo.jpg", data.JPEG_HEAD, "JPEG"),
        ("img/anim.gif", data.GIF, "GIF"),
        ("img/pic.webp", data.WEBP_HEAD, "WebP"),
        ("img/logo.svg", data.SVG, "SVG"),
    ],
)
def test_it_shows_images_from_a_short_lived_signed_url(store: Store, key: str, body: bytes, image_format: str) -> None:
    preview = preview_of(store, key, body)
    assert preview.kind == "image" and preview.image_format == image_format
    assert preview.bytes_read <= 4096  # the signature, never the picture
    with urllib.request.urlopen(preview.image_url, timeout=10) as answer:
        assert answer.read() == body


def test_it_pretty_prints_json_and_renders_markdown_safely(store: Store) -> None:
    document = preview_of(store, "meta.json", data.JSON_DOC)
    assert document.kind == "json" and json.loads(document.text) == json.loads(data.JSON_DOC)
    assert '\n  "items": [' in document.text
    notes = preview_of(store, "NOTES.md", data.MARKDOWN)
    assert notes.kind == "markdown" and "<h1>Notes</h1>" in notes.html and "<script" not in notes.html


def test_it_indents_the_first_256_kb_of_a_large_json_file(store: Store) -> None:
    rows = [{"id": i, "text": "a, b: {c}"} for i in range(20_000)]
    preview = preview_of(store, "large.json", json.dumps({"rows": rows}).encode())
    assert preview.kind == "json" and preview.truncated
    assert preview.text.startswith('{\n  "rows": [\n    {\n      "id": 0,\n      "text": "a, b: {c}"\n    },')
    assert preview.bytes_read == 256 * 1024


def test_it_shows_other_files_as_type_and_hex(store: Store) -> None:
    preview = preview_of(store, "blob.bin", data.BINARY)
    assert preview.kind == "hex" and preview.truncated
    assert preview.text.splitlines()[0].startswith("00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f")
    text = preview_of(store, "run.log", data.TEXT)
    assert text.kind == "text" and text.text == "line one\nline two\n"


@pytest.mark.parametrize(
    ("key", "body", "sentence"),
    [
        ("broken.csv", b"a,b\n1,\x00\x01\x02\n", "This file holds binary data, not comma- or tab-separated text."),
        ("quote.csv", b'a,b\n1,"never closed\n2,3\n', "This file is not well-formed CSV"),
        ("broken.parquet", b"PAR1" + b"\x07" * 2000, "This file could not be read as Parquet"),
        ("broken.png", b"<html>not a picture</html>", "This file is not a valid PNG image."),
        ("broken.jpg", b"GIF89a", "This file is not a valid JPEG image."),
        ("broken.gif", b"\x89PNG", "This file is not a valid GIF image."),
        ("broken.webp", b"RIFF0000WAVE", "This file is not a valid WebP image."),
        ("broken.svg", b"\x00\x01binary", "This file is not a valid SVG image."),
        ("broken.json", b'{"a": }', "This file is not valid JSON (Expecting value at line 1, column 7)."),
        ("broken.md", b"# title\x00\x00", "This file holds binary data, not Markdown text."),
    ],
)
def test_a_broken_file_says_so_in_one_sentence(store: Store, key: str, body: bytes, sentence: str) -> None:
    preview = preview_of(store, key, body)
    assert preview.kind == "failed"
    assert preview.error.startswith(sentence) and preview.error.endswith(".")
    assert preview.error.count(". ") == 0


def test_a_file_gone_from_storage_says_so(store: Store) -> None:
    source, _ = store
    preview = object_preview(source=source, key="never/there.csv", size=100, etag="abc")
    assert preview.kind == "failed"
    assert preview.error == "This file is no longer in storage, so there is no preview."


def test_a_parquet_file_past_the_byte_budget_is_refused(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import sources.previews as previews

    monkeypatch.setattr(previews, "PARQUET_BYTES", 100 * 1024)  # less than the footer and first pages need
    preview = preview_of(store, "budget.parquet", data.parquet(row_groups=2))
    assert preview.kind == "failed"
    assert preview.error == "This file is too large to preview here: download it to see its rows."


def test_indenting_a_json_prefix_keeps_strings_whole() -> None:
    assert indent_json_prefix('{"a": "x, y: [z]", "b": [1, 2') == '{\n  "a": "x, y: [z]",\n  "b": [\n    1,\n    2'


# Pages -------------------------------------------------------------------------------


def test_the_share_page_of_a_file_shows_its_preview(client: Any, owner: Any, seaweed: S3Server, s3_bucket: str) -> None:
    seaweed.client().put_object(Bucket=s3_bucket, Key="data/weather.csv", Body=data.CSV)
    seaweed.client().put_object(Bucket=s3_bucket, Key="data/dot.png", Body=data.png(), ContentType="image/png")
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    package = packages.package_create(owner=owner, name="previews")
    packages.package_add_objects(package=package, source=source, paths=["data/"])
    publish(package)
    share = shares.share_create(package=package, created_by=owner, password="open sesame")
    client.post(reverse("share_page", args=[share.token]), {"password": "open sesame"})
    table = client.get(reverse("share_view_entry", args=[share.token, "data/weather.csv"]))
    assert table.status_code == 200
    assert b'<th scope="col">temperature</th>' in table.content and b"<td>Town 99</td>" in table.content
    image = client.get(reverse("share_view_entry", args=[share.token, "data/dot.png"]))
    body = image.content.decode()
    assert 'class="preview-image"' in body and "X-Amz-Signature" in body
    origin = urlsplit(seaweed.endpoint_url)
    assert image._csp_update == {"img-src": [f"{origin.scheme}://{origin.netloc}"]}


def test_the_source_browser_shows_previews_to_the_owner_only(
    client: Any, owner: Any, outsider: Any, seaweed: S3Server, s3_bucket: str
) -> None:
    seaweed.client().put_object(Bucket=s3_bucket, Key="table.parquet", Body=data.parquet(row_groups=2))
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    url = reverse("source_object", args=[source.public_id, "table.parquet"])
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(owner)
    response = client.get(url)
    assert response.status_code == 200
    assert b"80,000 rows in 2 row groups" in response.content and b"<td>row 1 x</td>" in response.content
