"""Packages: curating entries from sources and text files; the owner's pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from packager import services
from packager.models import Package
from packager.paths import InvalidPath, normalize_path
from packager.render import markdown_to_html, notebook_to_html
from sources.models import Source
from tests.conftest import S3Server
from tests.factories import make_local_source, make_source, write_files

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOTEBOOK = json.dumps(
    {
        "cells": [
            {"cell_type": "markdown", "source": ["# Results\n", "<script>alert(1)</script>"]},
            {
                "cell_type": "code",
                "execution_count": 3,
                "source": "print(1 + 1)",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": "2\n"},
                    {
                        "output_type": "display_data",
                        "data": {"text/html": "<b onclick='x()'>bold</b><script>bad()</script>"},
                    },
                ],
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)


@pytest.fixture
def source(owner: Any, tmp_path: Path) -> Source:
    write_files(
        tmp_path,
        {
            "raw/2024/jan.csv": b"jan",
            "raw/2024/feb.csv": b"february",
            "raw/2024/deep/x.bin": b"xx",
            "raw/notes.txt": b"notes",
            "top.csv": b"top",
        },
    )
    return make_local_source(owner, tmp_path)


@pytest.fixture
def package(owner: Any) -> Package:
    return services.package_create(owner=owner, name="Climate data")


def paths(package: Package) -> list[str]:
    return list(package.entries.order_by("path").values_list("path", flat=True))


def test_it_normalizes_logical_paths() -> None:
    assert normalize_path("/a//b/c.csv/") == "a/b/c.csv"
    assert normalize_path("Cafe\u0301.txt") == "Café.txt"
    for bad in [
        "",
        "/",
        "a/../b",
        "./a",
        "a\\b",
        "a/\x00b",
        "urls.txt",
        "manifest.jsonl",
        "x.pointer.json",
        "a/" + "b" * 300,
    ]:
        with pytest.raises(InvalidPath):
            normalize_path(bad)


def test_it_adds_single_objects_and_whole_folders_under_a_target(package: Package, source: Source) -> None:
    added = services.package_add_objects(package=package, source=source, paths=["top.csv", "raw/2024/"], target="data")
    assert len(added) == 4
    assert paths(package) == ["data/2024/deep/x.bin", "data/2024/feb.csv", "data/2024/jan.csv", "data/top.csv"]
    entry = package.entries.get(path="data/2024/feb.csv")
    assert (entry.kind, entry.key, entry.size, entry.source_id) == ("pointer", "raw/2024/feb.csv", 8, source.pk)
    assert entry.etag
    # Adding the same objects again changes nothing.
    assert services.package_add_objects(package=package, source=source, paths=["top.csv"], target="data") == []


def test_it_refuses_colliding_paths_and_adds_nothing(package: Package, source: Source) -> None:
    services.package_add_objects(package=package, source=source, paths=["top.csv"], target="")
    services.package_write_text(package=package, path="notes.txt", content="my own notes")
    with pytest.raises(services.PathConflict) as conflict:
        services.package_add_objects(
            package=package, source=source, paths=["raw/2024/jan.csv", "raw/notes.txt"], target=""
        )
    assert "notes.txt" in conflict.value.message
    assert "already taken" in conflict.value.message
    services.package_remove(package=package, path="notes.txt")
    services.package_add_objects(package=package, source=source, paths=["raw/notes.txt"], target="notes")
    # A file cannot stand where a folder is, nor under a file.
    with pytest.raises(services.PathConflict):
        services.package_write_text(package=package, path="notes", content="x")
    with pytest.raises(services.PathConflict):
        services.package_write_text(package=package, path="top.csv/readme.md", content="x")
    assert paths(package) == ["notes/notes.txt", "top.csv"]


def test_it_adds_objects_that_the_index_has_not_seen_yet(package: Package, source: Source) -> None:
    Path(source.local_path, "late.csv").write_bytes(b"arrived late")
    [entry] = services.package_add_objects(package=package, source=source, paths=["late.csv"])
    assert entry.size == len(b"arrived late")
    with pytest.raises(services.PackageError) as missing:
        services.package_add_objects(package=package, source=source, paths=["never.csv"])
    assert "not found" in missing.value.message


def test_it_records_the_version_of_objects_in_a_versioned_bucket(
    owner: Any, package: Package, seaweed: S3Server, s3_bucket: str
) -> None:
    client = seaweed.client()
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    version = client.put_object(Bucket=s3_bucket, Key="v.csv", Body=b"v1")["VersionId"]
    s3_source = make_source(owner, seaweed.source_fields(s3_bucket))
    [entry] = services.package_add_objects(package=package, source=s3_source, paths=["v.csv"])
    assert entry.version_id == version


def test_it_writes_replaces_moves_and_removes_text_and_folders(package: Package, source: Source) -> None:
    services.package_add_objects(package=package, source=source, paths=["raw/2024/"], target="data")
    readme = services.package_write_text(package=package, path="README.md", content="# Hello")
    assert readme.size == 7 and len(readme.sha256) == 64
    first_file = readme.text_file.name
    readme = services.package_write_text(package=package, path="README.md", content="# Hello again")
    assert readme.read_text() == "# Hello again"
    assert readme.text_file.name != first_file

    services.package_move(package=package, path="data/2024", new_path="archive/y2024")
    services.package_move(package=package, path="README.md", new_path="docs/README.md")
    assert paths(package) == [
        "archive/y2024/deep/x.bin",
        "archive/y2024/feb.csv",
        "archive/y2024/jan.csv",
        "docs/README.md",
    ]
    with pytest.raises(services.PathConflict):
        services.package_move(package=package, path="archive/y2024/feb.csv", new_path="archive/y2024/jan.csv")
    assert services.package_remove(package=package, path="archive/y2024/deep") == 1
    assert services.package_remove(package=package, path="docs/README.md") == 1
    assert paths(package) == ["archive/y2024/feb.csv", "archive/y2024/jan.csv"]


@pytest.mark.parametrize(
    ("path", "content", "message"),
    [
        ("bad.ipynb", b"not json", "not JSON"),
        ("bad.ipynb", b'{"no": "cells"}', "no list of cells"),
        ("binary.txt", b"\xff\xfe\x00\x01", "not UTF-8"),
        ("../escape.md", b"x", "not allowed"),
    ],
)
def test_it_refuses_malformed_text_files(package: Package, path: str, content: bytes, message: str) -> None:
    with pytest.raises(services.PackageError) as error:
        services.package_write_text(package=package, path=path, content=content)
    assert message in error.value.message
    assert not package.entries.exists()


def test_it_sanitizes_markdown_and_notebooks() -> None:
    html = markdown_to_html(
        "# Title\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )
    assert "<h1>Title</h1>" in html
    assert "<script" not in html and "javascript:" not in html and "onerror" not in html
    notebook = notebook_to_html(NOTEBOOK)
    assert "<h1>Results</h1>" in notebook and '<span class="nb">print</span>' in notebook and "<pre" in notebook
    assert "<b>bold</b>" in notebook
    assert "<script" not in notebook and "onclick" not in notebook


def test_the_package_page_shows_the_tree_totals_and_rendered_readme(
    owner: Any, owner_client: Any, package: Package, source: Source
) -> None:
    services.package_add_objects(package=package, source=source, paths=["raw/"], target="")
    services.package_write_text(package=package, path="README.md", content="# Climate\n\n*Read me* <script>x</script>")
    response = owner_client.get(reverse("package_detail", args=[package.public_id]))
    body = response.content.decode()
    assert "<h1>Climate</h1>" in body and "<em>Read me</em>" in body and "<script>x" not in body
    assert "5 files" in body  # 4 data files and the README
    assert "raw" in body
    folder = owner_client.get(reverse("package_detail", args=[package.public_id]), {"path": "raw/2024/"})
    assert b"feb.csv" in folder.content and b"deep" in folder.content
    assert owner_client.get(reverse("package_detail", args=[package.public_id]), {"path": "nope/"}).status_code == 404


def test_the_owner_adds_files_from_the_browser_to_a_new_package(owner: Any, owner_client: Any, source: Source) -> None:
    response = owner_client.post(
        reverse("package_add_objects"),
        {
            "source": source.public_id,
            "paths": ["top.csv", "raw/2024/"],
            "new_package_name": "From browse",
            "target": "in",
        },
    )
    package = Package.objects.get(name="From browse")
    assert response["Location"] == reverse("package_detail", args=[package.public_id])
    assert paths(package) == ["in/2024/deep/x.bin", "in/2024/feb.csv", "in/2024/jan.csv", "in/top.csv"]
    # Nothing selected: a clear message, nothing created.
    response = owner_client.post(
        reverse("package_add_objects"), {"source": source.public_id, "new_package_name": "X"}, follow=True
    )
    assert b"Select at least one" in response.content
    assert not Package.objects.filter(name="X").exists()


def test_the_owner_writes_uploads_moves_and_removes_in_the_browser(owner_client: Any, package: Package) -> None:
    pid = package.public_id
    response = owner_client.post(reverse("entry_write", args=[pid]), {"path": "README.md", "content": "# Hi"})
    assert response.status_code == 302
    upload = SimpleUploadedFile("analysis.ipynb", NOTEBOOK.encode(), content_type="application/x-ipynb+json")
    owner_client.post(reverse("entry_upload", args=[pid]), {"folder": "notebooks", "uploads": [upload]})
    assert paths(package) == ["README.md", "notebooks/analysis.ipynb"]
    view = owner_client.get(reverse("entry_view", args=[pid, "notebooks/analysis.ipynb"]))
    assert b"<h1>Results</h1>" in view.content and b"<script" not in view.content.split(b"</head>")[1]
    bad = SimpleUploadedFile("broken.ipynb", b"{oops", content_type="application/json")
    response = owner_client.post(reverse("entry_upload", args=[pid]), {"folder": "", "uploads": [bad]}, follow=True)
    assert b"not a valid notebook" in response.content
    owner_client.post(reverse("entry_edit", args=[pid, "README.md"]), {"path": "docs/README.md", "content": "# Moved"})
    assert paths(package) == ["docs/README.md", "notebooks/analysis.ipynb"]
    owner_client.post(reverse("entry_move", args=[pid, "notebooks/"]), {"new_path": "nb"})
    owner_client.post(reverse("entry_remove", args=[pid, "docs/README.md"]))
    assert paths(package) == ["nb/analysis.ipynb"]


def test_packages_are_renamed_and_deleted(owner_client: Any, package: Package) -> None:
    owner_client.post(reverse("package_edit", args=[package.public_id]), {"name": "Renamed", "description": "d"})
    package.refresh_from_db()
    assert (package.name, package.slug) == ("Renamed", "renamed")
    owner_client.post(reverse("package_delete", args=[package.public_id]))
    assert not Package.objects.filter(pk=package.pk).exists()


def test_an_outsider_gets_404_on_every_package_page(outsider_client: Any, package: Package, source: Source) -> None:
    services.package_write_text(package=package, path="README.md", content="secret plans")
    pid = package.public_id
    for name, args in [
        ("package_detail", [pid]),
        ("package_delete", [pid]),
        ("entry_write", [pid]),
        ("entry_edit", [pid, "README.md"]),
        ("entry_view", [pid, "README.md"]),
        ("entry_move", [pid, "README.md"]),
    ]:
        assert outsider_client.get(reverse(name, args=args)).status_code == 404, name
    for name, args in [
        ("package_edit", [pid]),
        ("package_delete", [pid]),
        ("entry_upload", [pid]),
        ("entry_remove", [pid, "README.md"]),
        ("entry_move", [pid, "README.md"]),
    ]:
        assert outsider_client.post(reverse(name, args=args), {"name": "x", "new_path": "y"}).status_code == 404, name
    response = outsider_client.post(
        reverse("package_add_objects"), {"source": source.public_id, "paths": ["top.csv"], "package": pid}
    )
    assert response.status_code == 404
    assert package.entries.count() == 1
    assert b"secret plans" not in outsider_client.get(reverse("packages")).content


def test_anonymous_visitors_are_sent_to_log_in(client: Any, package: Package) -> None:
    for url in [reverse("packages"), reverse("package_detail", args=[package.public_id]), reverse("api_tokens")]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_wrong_methods_are_refused(owner_client: Any, package: Package) -> None:
    assert owner_client.get(reverse("package_edit", args=[package.public_id])).status_code == 405
    assert owner_client.get(reverse("package_add_objects")).status_code == 405
    assert owner_client.get(reverse("entry_remove", args=[package.public_id, "x"])).status_code == 405
