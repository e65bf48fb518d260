"""Folder pages of drafts and versions read folder aggregates; paginated entry lists."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from packager import services
from packager.models import Package, PackageEntry, PackageFolder, PackageVersion, VersionEntry
from packager.paths import add_to_folders
from packager.tree import PAGE_SIZE
from packager.versions import package_publish
from shares import services as shares
from shares.models import Share
from sources.models import Source
from tests.factories import make_local_source, publish, write_files
from web.cursors import InvalidCursor, decode_cursor, encode_cursor

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def source(owner: Any, tmp_path: Path) -> Source:
    write_files(
        tmp_path / "data",
        {
            "top.csv": b"1,2\n",
            "raw/2024/jan.csv": b"a" * 10,
            "raw/2024/feb.csv": b"b" * 20,
            "raw/2024/deep/x.bin": b"c" * 30,
            "raw/notes.txt": b"d" * 5,
        },
    )
    return make_local_source(owner, tmp_path / "data")


@pytest.fixture
def package(owner: Any, source: Source) -> Package:
    package = services.package_create(owner=owner, name="Climate")
    services.package_add_objects(package=package, source=source, paths=["top.csv", "raw/"])
    services.package_write_text(package=package, path="README.md", content="# Top readme")
    return package


def recount(package: Package) -> dict[str, list[int]]:
    totals: dict[str, list[int]] = {}
    for path, size in package.entries.values_list("path", "size"):
        add_to_folders(totals, path, size)
    return totals


def stored(package: Package) -> dict[str, list[int]]:
    return {row.path: [row.size, row.file_count] for row in PackageFolder.objects.filter(package=package)}


def bulk_package(package: Package, paths: list[str], size: int = 7) -> None:
    """Many entries at once, with their folder aggregates (as a bulk import would)."""
    from web.paths import folder_of

    PackageEntry.objects.bulk_create(
        PackageEntry(
            package=package, path=path, parent=folder_of(path), kind="pointer", size=size, sha256="0" * 64, md5="0" * 32
        )
        for path in paths
    )
    services.package_folders_rebuild(package=package)


# Aggregates kept up to date by the services -------------------------------------------


def test_it_keeps_folder_aggregates_equal_to_a_recount_after_every_write(package: Package, source: Source) -> None:
    assert stored(package) == recount(package)
    assert stored(package)["raw/2024/"] == [60, 3]
    assert stored(package)[""] == [4 + 60 + 5 + len("# Top readme"), 6]
    services.package_write_text(package=package, path="raw/2024/README.md", content="longer " * 10)
    services.package_write_text(package=package, path="raw/2024/README.md", content="short")
    assert stored(package)["raw/2024/"] == [65, 4]
    services.package_move(package=package, path="raw/2024", new_path="archive/y2024")
    assert "raw/2024/" not in stored(package) and "raw/2024/deep/" not in stored(package)
    assert stored(package)["archive/y2024/deep/"] == [30, 1]
    assert stored(package) == recount(package)
    services.package_remove(package=package, path="archive")
    assert stored(package) == recount(package)
    assert set(stored(package)) == {"", "raw/"}
    services.package_add_objects(package=package, source=source, paths=["raw/2024/"], target="again")
    assert stored(package) == recount(package)
    for path in list(package.entries.values_list("path", flat=True)):
        services.package_remove(package=package, path=path)
    assert stored(package) == {}


def test_it_refuses_a_conflicting_write_without_touching_the_aggregates(package: Package, source: Source) -> None:
    before = stored(package)
    with pytest.raises(services.PathConflict):
        services.package_add_objects(package=package, source=source, paths=["raw/2024/jan.csv"], target="top.csv")
    assert stored(package) == before


def test_it_fills_the_aggregates_of_existing_packages_in_the_migration(package: Package) -> None:
    expected = stored(package)
    PackageFolder.objects.all().delete()
    migration = importlib.import_module("packager.migrations.0004_package_folders")
    migration.fill_folders(apps, None)
    assert stored(package) == expected


# The package page -----------------------------------------------------------------------


def test_it_shows_a_folder_of_the_draft_from_its_aggregates(owner_client: Any, package: Package) -> None:
    url = reverse("package_detail", args=[package.public_id])
    body = owner_client.get(url).content.decode()
    assert "6 files" in body and "Top readme" in body
    folder = owner_client.get(url, {"path": "raw/"}).content.decode()
    assert "this folder: 4 files" in folder and "2024" in folder and "notes.txt" in folder
    assert "3 files" in folder  # the subfolder 2024/ and everything below it
    assert owner_client.get(url, {"path": "nope/"}).status_code == 404


def test_it_pages_the_draft_with_a_cursor_and_the_same_queries_on_every_page(
    owner_client: Any, owner: Any, django_assert_num_queries: Any
) -> None:
    package = services.package_create(owner=owner, name="Big")
    bulk_package(package, [f"big/sub{index}/x.bin" for index in range(3)] + [f"big/f{i:04d}.bin" for i in range(450)])
    url = reverse("package_detail", args=[package.public_id])
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        # session, user, package, aggregates, subfolders (not once past them), files, README, versions,
        # "add all matches" jobs
        with django_assert_num_queries(9 if not cursor else 8):
            response = owner_client.get(url, {"path": "big/", "cursor": cursor})
        assert response.status_code == 200
        listing = response.context["listing"]
        seen += [folder.path for folder in listing.folders] + [entry.path for entry in listing.files]
        pages += 1
        cursor = listing.next_cursor
        if not cursor:
            break
        assert "Next page" in response.content.decode()
    assert pages == -(-453 // PAGE_SIZE)
    assert seen == [f"big/sub{index}/" for index in range(3)] + [f"big/f{i:04d}.bin" for i in range(450)]
    assert owner_client.get(url, {"path": "big/", "cursor": "not a cursor"}).status_code == 404


def test_the_draft_page_costs_the_same_queries_whatever_the_package_size(
    owner_client: Any, owner: Any, django_assert_num_queries: Any
) -> None:
    small = services.package_create(owner=owner, name="Small")
    bulk_package(small, ["a/b/c.bin", "a/d.bin"])
    large = services.package_create(owner=owner, name="Large")
    bulk_package(large, [f"a/b/f{index:05d}.bin" for index in range(5000)] + ["a/d.bin"])
    for package in (small, large):
        with django_assert_num_queries(9):
            response = owner_client.get(reverse("package_detail", args=[package.public_id]), {"path": "a/"})
        assert response.status_code == 200 and b"d.bin" in response.content


def test_an_outsider_gets_404_for_the_draft_page(outsider_client: Any, client: Any, package: Package) -> None:
    url = reverse("package_detail", args=[package.public_id])
    assert outsider_client.get(url).status_code == 404


def test_the_package_list_shows_totals_from_the_aggregates(
    owner_client: Any, owner: Any, package: Package, django_assert_num_queries: Any
) -> None:
    services.package_create(owner=owner, name="Empty one")
    with django_assert_num_queries(4):  # session, user, the teams to create in, packages with their totals
        response = owner_client.get(reverse("packages"))
    packages = {item.name: item for item in response.context["packages"]}
    assert (packages["Climate"].entry_count, packages["Climate"].total_size) == (6, 81)
    assert (packages["Empty one"].entry_count, packages["Empty one"].total_size) == (0, 0)
    assert "81\xa0bytes" in response.content.decode()


# The share page serves its version --------------------------------------------------------


def test_the_share_page_shows_the_version_it_serves_not_the_draft(
    client: Any, owner: Any, package: Package, source: Source
) -> None:
    v1 = publish(package, "First cut")
    latest = shares.share_create(package=package, created_by=owner)
    pinned = Share.objects.create(package=package, version=v1, created_by=owner)
    services.package_write_text(package=package, path="README.md", content="# Draft readme")
    services.package_remove(package=package, path="top.csv")
    for share in (latest, pinned):
        body = client.get(reverse("share_page", args=[share.token])).content.decode()
        assert "v1" in body and v1.top_hash in body and "First cut" in body
        assert "top.csv" in body and "Top readme" in body and "Draft readme" not in body
        assert v1.published_at is not None and v1.published_at.strftime("%Y-%m-%d") in body
    v2 = publish(package, "Second")
    latest_body = client.get(reverse("share_page", args=[latest.token])).content.decode()
    assert "v2" in latest_body and v2.top_hash in latest_body and "Draft readme" in latest_body
    assert "top.csv" not in latest_body
    pinned_body = client.get(reverse("share_page", args=[pinned.token])).content.decode()
    assert "v1" in pinned_body and "top.csv" in pinned_body and "Top readme" in pinned_body
    # A file of the pinned version opens from the share even though the draft dropped it.
    entry = client.get(reverse("share_view_entry", args=[pinned.token, "top.csv"]))
    assert entry.status_code == 200 and b"top.csv" in entry.content
    assert client.get(reverse("share_view_entry", args=[latest.token, "top.csv"])).status_code == 404


def test_a_latest_share_moves_on_only_once_the_new_version_is_published(
    client: Any, owner: Any, package: Package
) -> None:
    publish(package)
    share = shares.share_create(package=package, created_by=owner)
    services.package_write_text(package=package, path="new.txt", content="new")
    v2 = package_publish(package=package, message="pending")
    assert v2.state == PackageVersion.State.CHECKSUMMING
    body = client.get(reverse("share_page", args=[share.token])).content.decode()
    assert "v1" in body and "new.txt" not in body


def test_a_share_without_a_published_version_says_so_and_polls_the_progress(
    client: Any, owner: Any, package: Package
) -> None:
    share = Share.objects.create(package=package, created_by=owner)  # as shares made before versions existed
    url = reverse("share_page", args=[share.token])
    nothing = client.get(url).content.decode()
    assert "Nothing has been published" in nothing and "hx-get" not in nothing
    version = package_publish(package=package, message="first")
    waiting = client.get(url).content.decode()
    assert "Version 1 is being published" in waiting
    assert f'hx-get="{url}"' in waiting and 'hx-trigger="every 2s"' in waiting
    assert "0 of 5 files checksummed" in waiting and "<script" not in waiting.split("<main", 1)[-1]
    PackageVersion.objects.filter(pk=version.pk).update(
        progress_done=3, progress_bytes_total=2048, progress_bytes_done=1024
    )
    partial = client.get(url, headers={"HX-Request": "true"})
    text = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in text
    assert "3 of 5 files checksummed" in text and "1.0\xa0KB of 2.0\xa0KB read" in text
    from packager.checksumming import version_publish_run

    version_publish_run(version_pk=version.pk)
    done = client.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 200 and done["HX-Refresh"] == "true"
    assert "Top readme" in client.get(url).content.decode()


def test_a_failed_publish_stops_polling(client: Any, owner: Any, package: Package) -> None:
    share = Share.objects.create(package=package, created_by=owner)
    version = package_publish(package=package)
    PackageVersion.objects.filter(pk=version.pk).update(state="failed", error="secret detail of the bucket")
    body = client.get(reverse("share_page", args=[share.token])).content.decode()
    assert "could not be published" in body and "hx-get" not in body and "secret detail" not in body


def test_the_share_page_pages_a_version_with_the_same_queries_whatever_its_size(
    client: Any, owner: Any, django_assert_num_queries: Any
) -> None:
    counts = []
    for name, files in (("small", 3), ("large", 3000)):
        package = services.package_create(owner=owner, name=name)
        bulk_package(package, [f"data/part/f{index:05d}.bin" for index in range(files)] + ["data/top.bin"])
        services.package_write_text(package=package, path="data/README.md", content="# Data folder")
        version = publish(package)
        # Checksums are known in advance here: the version was sealed from the draft.
        assert version.entry_count == files + 2
        share = shares.share_create(package=package, created_by=owner)
        url = reverse("share_page", args=[share.token])
        with django_assert_num_queries(5) as captured:  # share, folder row, subfolders, files, README
            response = client.get(url, {"path": "data/"})
        counts.append(len(captured))
        body = response.content.decode()
        assert "part" in body and "top.bin" in body and "Data folder" in body
        with django_assert_num_queries(5):
            deep = client.get(url, {"path": "data/part/"})
        assert deep.status_code == 200
        if files > 200:
            last = client.get(url, {"path": "data/part/", "cursor": encode_cursor("f", "data/part/f02899.bin")})
            assert b"f02999.bin" in last.content and b"f02899.bin" not in last.content
            assert last.context["listing"].next_cursor == ""
    assert counts[0] == counts[1]


def test_the_share_page_answers_404_for_a_missing_folder_or_a_damaged_cursor(
    client: Any, owner: Any, package: Package
) -> None:
    publish(package)
    share = shares.share_create(package=package, created_by=owner)
    url = reverse("share_page", args=[share.token])
    assert client.get(url, {"path": "nope/"}).status_code == 404
    assert client.get(url, {"cursor": "%%%"}).status_code == 404
    assert client.get(url, {"path": "raw/2024/"}).status_code == 200


# The API: entries a page at a time ---------------------------------------------------------


def test_the_api_pages_the_draft_entries_with_a_cursor(
    owner_client: Any, owner: Any, django_assert_num_queries: Any
) -> None:
    package = services.package_create(owner=owner, name="Paged")
    paths = [f"d{index % 7}/f{index:04d}.bin" for index in range(450)]
    bulk_package(package, paths)
    url = f"/api/v1/packages/{package.public_id}/entries"
    seen: list[str] = []
    cursor = ""
    while True:
        with django_assert_num_queries(4):  # session, user, package, entries
            body = owner_client.get(url, {"cursor": cursor, "limit": 200}).json()
        seen += [item["path"] for item in body["items"]]
        assert len(body["items"]) <= 200
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(paths)
    assert owner_client.get(url, {"cursor": "garbage!"}).status_code == 422  # well-formed, but not a cursor we issued
    assert "cursor" in owner_client.get(url, {"cursor": encode_cursor(3)}).json()["detail"]
    assert owner_client.get(url, {"limit": 0}).status_code == 400
    assert owner_client.get(url, {"limit": 5000}).status_code == 400


def test_the_api_pages_a_version_entries_in_code_point_order(
    owner_client: Any, package: Package, django_assert_num_queries: Any
) -> None:
    version = publish(package)
    url = f"/api/v1/packages/{package.public_id}/versions/{version.number}/entries"
    first = owner_client.get(url, {"limit": 4}).json()
    with django_assert_num_queries(4):  # session, user, version, entries
        second = owner_client.get(url, {"limit": 4, "cursor": first["next_cursor"]}).json()
    assert second["next_cursor"] is None
    paths = [item["path"] for item in first["items"] + second["items"]]
    assert paths == sorted(VersionEntry.objects.filter(package_version=version).values_list("path", flat=True))
    assert paths[0] == "README.md"  # code-point order: upper case before lower case
    item = first["items"][1]
    assert item["sha256"] and item["drift"] == ""
    assert owner_client.get(url.replace(f"/{version.number}/", "/9/")).status_code == 404


def test_an_outsider_gets_404_for_the_entry_lists(outsider_client: Any, client: Any, package: Package) -> None:
    version = publish(package)
    for url in (
        f"/api/v1/packages/{package.public_id}/entries",
        f"/api/v1/packages/{package.public_id}/versions/{version.number}/entries",
    ):
        assert outsider_client.get(url).status_code == 404
    client.logout()
    assert client.get(f"/api/v1/packages/{package.public_id}/entries").status_code == 401


def test_cursors_round_trip_and_refuse_damage() -> None:
    assert decode_cursor(encode_cursor("f", "a/ü b.csv"), str, str) == ("f", "a/ü b.csv")
    assert decode_cursor(encode_cursor(42), int) == (42,)
    for bad in ("", "!!", encode_cursor("x"), encode_cursor(1, 2)):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad, int)


def test_a_new_share_of_an_unpublished_package_shows_the_progress_of_v1(
    client: Any, owner: Any, package: Package
) -> None:
    share = shares.share_create(package=package, created_by=owner)
    body = client.get(reverse("share_page", args=[share.token])).content.decode()
    assert "Version 1 is being published" in body and "0 of 5 files checksummed" in body


def test_every_folder_page_query_searches_an_index_instead_of_reading_the_package(
    client: Any, owner_client: Any, owner: Any
) -> None:
    """On SQLite, the query plans: a page that read every entry of the package or version
    would show a SCAN of an entry table, or a SEARCH on the package or version alone."""
    if connection.vendor != "sqlite":
        pytest.skip(
            "reads SQLite's EXPLAIN QUERY PLAN; runs in make test's SQLite pass (on PostgreSQL the same pages "
            "are held to fixed query counts, and bench/pages.py --explain prints their plans)"
        )
    package = services.package_create(owner=owner, name="Planned")
    bulk_package(package, [f"data/f{index:04d}.bin" for index in range(300)] + ["data/sub/x.bin"])
    services.package_write_text(package=package, path="data/README.md", content="# Data")
    publish(package)
    share = shares.share_create(package=package, created_by=owner)
    pages = [
        (owner_client, reverse("package_detail", args=[package.public_id])),
        (client, reverse("share_page", args=[share.token])),
    ]
    for page_client, url in pages:
        for query in ({}, {"path": "data/"}, {"path": "data/", "cursor": encode_cursor("f", "data/f0200.bin")}):
            with CaptureQueriesContext(connection) as captured:
                assert page_client.get(url, query).status_code == 200
            for sql in [item["sql"] for item in captured.captured_queries if item["sql"].startswith("SELECT")]:
                with connection.cursor() as cursor:
                    cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
                    plan = [row[3] for row in cursor.fetchall()]
                whole = [
                    step
                    for step in plan
                    if "entry" in step
                    and (step.startswith("SCAN") or step.endswith(("(package_id=?)", "_version_id=?)")))
                ]
                assert not whole, (url, query, sql, plan)
