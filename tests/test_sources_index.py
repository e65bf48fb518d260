"""Large buckets: live browsing before the index, index progress/cancel/upserts, schedule, search."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from packager.models import Package, PackageEntry
from shares.models import Share, ShareEvent
from shares.services import share_events_purge
from sources import indexing, services
from sources import search as search_module
from sources.models import Source, SourceObject
from sources.search import Search, common_folder, parse_glob, search_count, search_page
from tests.conftest import Api, AzureServer, S3Server
from tests.factories import make_local_source, make_source, write_files
from web import jobs

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def walk_live(api: Api, source: Source, prefix: str, limit: int) -> tuple[list[str], int]:
    """Every entry name of a folder through the objects API, page by page; and the page count."""
    names: list[str] = []
    cursor, pages = "", 0
    while True:
        params: dict[str, Any] = {"prefix": prefix, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        page = api.call("get", f"/sources/{source.public_id}/objects", **params).json()
        assert page["from"] == "live"
        assert page["indexed_at"] is None
        names += [entry["name"] + ("/" if entry["is_dir"] else "") for entry in page["entries"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            return names, pages


# Browse at once --------------------------------------------------------------------


def test_it_browses_an_s3_source_live_before_its_index_exists(
    api: Api, owner_client: Any, owner: Any, seaweed: S3Server, s3_bucket: str
) -> None:
    client = seaweed.client()
    for key in ["raw/a.csv", "raw/b.csv", "raw/c.csv", "raw/2024/x.csv", "raw/2025/y.csv", "top.txt"]:
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"12345")
    source = make_source(owner, seaweed.source_fields(s3_bucket), index=False)
    assert not source.is_indexed
    names, pages = walk_live(api, source, "raw/", limit=2)
    assert sorted(names) == ["2024/", "2025/", "a.csv", "b.csv", "c.csv"]
    assert pages == 3  # the service's continuation token carried the cursor
    top = api.call("get", f"/sources/{source.public_id}/objects").json()
    assert [(entry["key"], entry["is_dir"]) for entry in top["entries"]] == [("raw/", True), ("top.txt", False)]
    assert top["entries"][1]["size"] == 5
    page = owner_client.get(reverse("source_browse", args=[source.public_id, "raw/"]))
    assert page.status_code == 200
    assert b'data-origin="live"' in page.content and b"a.csv" in page.content and b"2024/" in page.content
    assert b"index-progress" in page.content
    assert owner_client.get(reverse("source_browse", args=[source.public_id, "nothing/"])).status_code == 404
    indexing.source_index(source_pk=source.pk)
    indexed = api.call("get", f"/sources/{source.public_id}/objects", prefix="raw/").json()
    assert indexed["from"] == "index" and indexed["indexed_at"] is not None
    assert [entry["name"] for entry in indexed["entries"]] == ["2024", "2025", "a.csv", "b.csv", "c.csv"]


def test_it_browses_an_azure_container_live(api: Api, owner: Any, azurite: AzureServer, azure_container: str) -> None:
    container = azurite.service().get_container_client(azure_container)
    for key in ["runs/1/out.json", "runs/2/out.json", "runs/log.txt", "runs/notes.md", "readme.md"]:
        container.upload_blob(key, b"{}")
    source = make_source(owner, azurite.source_fields(azure_container), index=False)
    names, pages = walk_live(api, source, "runs/", limit=2)
    assert sorted(names) == ["1/", "2/", "log.txt", "notes.md"]
    assert pages == 2


def test_it_browses_a_local_folder_live(api: Api, owner: Any, tmp_path: Path) -> None:
    write_files(tmp_path, {"d/a.txt": b"a", "d/b.txt": b"bb", "d/sub/c.txt": b"c", "e.txt": b"e"})
    source = make_source(owner, {"name": "local", "kind": "local", "path": str(tmp_path)}, index=False)
    names, pages = walk_live(api, source, "d/", limit=2)
    assert names == ["sub/", "a.txt", "b.txt"]  # folders first, then files, by name
    assert pages == 2


def test_a_live_listing_that_fails_is_shown_not_a_500(
    api: Api, owner_client: Any, owner: Any, seaweed: S3Server, s3_bucket: str
) -> None:
    source = make_source(owner, seaweed.source_fields(s3_bucket), index=False)
    seaweed.client().delete_bucket(Bucket=s3_bucket)
    page = owner_client.get(reverse("source_browse", args=[source.public_id]))
    assert page.status_code == 200 and b"does not exist" in page.content
    answer = api.call("get", f"/sources/{source.public_id}/objects")
    assert answer.status_code == 422 and "does not exist" in answer.json()["detail"]


# Index with progress ---------------------------------------------------------------


def test_the_api_reports_index_progress(api: Api, owner: Any, tmp_path: Path) -> None:
    write_files(tmp_path, {f"f{index}.txt": b"x" for index in range(12)})
    source = make_source(owner, {"name": "local", "kind": "local", "path": str(tmp_path)}, index=False)
    before = api.call("get", f"/sources/{source.public_id}").json()["index"]
    assert before["state"] == "new" and before["listed"] == 0 and before["finished_at"] is None
    indexing.source_index(source_pk=source.pk)
    after = api.call("get", f"/sources/{source.public_id}").json()["index"]
    assert after["state"] == "ready" and after["listed"] == 12 and after["error"] == ""
    assert after["finished_at"] >= after["started_at"]
    assert after["rate"] > 0


def test_the_page_shows_a_progress_bar_that_updates_itself(owner_client: Any, owner: Any, tmp_path: Path) -> None:
    write_files(tmp_path, {"a.txt": b"a"})
    source = make_local_source(owner, tmp_path)
    Source.objects.filter(pk=source.pk).update(
        status=Source.Status.INDEXING, index_listed=4321, index_started_at=timezone.now() - dt.timedelta(seconds=10)
    )
    page = owner_client.get(reverse("source_browse", args=[source.public_id]))
    progress_url = reverse("source_index_progress", args=[source.public_id])
    assert b"<progress" in page.content and b'hx-trigger="every 2s"' in page.content
    assert progress_url.encode() in page.content
    assert b"4,321" in page.content and b"a.txt" in page.content  # the previous index stays browsable
    partial = owner_client.get(progress_url, HTTP_HX_REQUEST="true")
    assert b"4,321" in partial.content and b"objects/s" in partial.content
    Source.objects.filter(pk=source.pk).update(status=Source.Status.READY, index_finished_at=timezone.now())
    done = owner_client.get(progress_url, HTTP_HX_REQUEST="true")
    assert b"every 2s" not in done.content  # polling stops
    assert b"Reload to browse from the index" in done.content


def test_a_queued_index_can_be_cancelled(
    api: Api, owner: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    write_files(tmp_path, {"a.txt": b"a"})
    source = make_source(owner, {"name": "local", "kind": "local", "path": str(tmp_path)}, index=False)
    services.source_index_request(source=source)  # queued; the task runs on commit
    cancelled = api.call("post", f"/sources/{source.public_id}/index/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["index"]["state"] == "cancelled"
    assert not indexing.source_index(source_pk=source.pk)  # the queued task finds nothing to do
    assert not SourceObject.objects.filter(source=source).exists()
    again = api.call("post", f"/sources/{source.public_id}/index/cancel")
    assert again.status_code == 409 and "No index" in again.json()["detail"]


def test_a_running_index_stops_at_its_next_batch_when_cancelled(
    owner: Any, owner_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(tmp_path, {f"f{index:02d}.txt": b"x" for index in range(30)})
    source = make_source(owner, {"name": "local", "kind": "local", "path": str(tmp_path)}, index=False)
    monkeypatch.setattr(indexing, "INDEX_BATCH", 5)
    # List in this thread (not a page ahead in another), so the cancel below lands at a known object.
    monkeypatch.setattr(indexing, "_read_ahead", iter)
    listed = []
    backend_iter = services.clients.backend_for(source).iter_objects

    def iter_and_cancel(prefix: str = "", *, after: str = "") -> Any:
        for info in backend_iter(prefix, after=after):
            listed.append(info.key)
            if len(listed) == 12:  # the owner presses "Cancel indexing" mid-run
                response = owner_client.post(reverse("source_index_cancel", args=[source.public_id]))
                assert response.status_code == 302
            yield info

    monkeypatch.setattr(services.clients.backend_for(source), "iter_objects", iter_and_cancel)
    assert not indexing.source_index(source_pk=source.pk)
    source.refresh_from_db()
    assert source.status == Source.Status.CANCELLED
    assert source.index_listed == 10 and len(listed) == 15  # stopped at the batch after the cancel
    assert SourceObject.objects.filter(source=source).count() == 10  # the batches written before the cancel
    assert not source.is_indexed


def test_reindexing_updates_rows_in_place_and_marks_vanished_objects(
    api: Api, owner: Any, seaweed: S3Server, s3_bucket: str
) -> None:
    client = seaweed.client()
    for key, body in [("a/old.txt", b"old"), ("a/same.txt", b"same"), ("a/changed.txt", b"v1")]:
        client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    ids = dict(SourceObject.objects.filter(source=source).values_list("path", "pk"))
    client.delete_object(Bucket=s3_bucket, Key="a/old.txt")
    client.put_object(Bucket=s3_bucket, Key="a/changed.txt", Body=b"version 2")
    client.put_object(Bucket=s3_bucket, Key="b/new.txt", Body=b"new!")
    assert indexing.source_index(source_pk=source.pk)
    rows = {row.path: row for row in SourceObject.objects.filter(source=source)}
    assert rows["a/changed.txt"].pk == ids["a/changed.txt"] and rows["a/changed.txt"].size == 9
    assert rows["a/same.txt"].pk == ids["a/same.txt"]
    assert rows["a/old.txt"].vanished_at is not None  # marked, no longer listed
    assert rows["a/"].file_count == 2 and rows["a/"].size == 13
    assert rows["b/new.txt"].vanished_at is None
    listed = api.call("get", f"/sources/{source.public_id}/objects", prefix="a/").json()
    assert [entry["name"] for entry in listed["entries"]] == ["changed.txt", "same.txt"]
    source.refresh_from_db()
    assert (source.object_count, source.total_size) == (3, 17)
    client.put_object(Bucket=s3_bucket, Key="a/old.txt", Body=b"back")
    assert indexing.source_index(source_pk=source.pk)
    back = SourceObject.objects.get(source=source, path="a/old.txt")
    assert back.pk == ids["a/old.txt"] and back.vanished_at is None and back.size == 4


class Store:
    """One kind of storage with put and delete, for the tests that change what a source holds."""

    def __init__(self, kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.kind = kind
        if kind == "local":
            self.folder = tmp_path / "data"
            self.folder.mkdir()
            self.fields: dict[str, Any] = {"name": "local", "kind": "local", "path": str(self.folder)}
        elif kind in {"s3", "s3-versioned"}:
            server: S3Server = request.getfixturevalue("seaweed")
            self.bucket = request.getfixturevalue("s3_bucket")
            self.s3 = server.client()
            if kind == "s3-versioned":
                self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
            self.fields = server.source_fields(self.bucket)
        else:
            azurite: AzureServer = request.getfixturevalue("azurite")
            name = request.getfixturevalue("azure_container")
            self.container = azurite.service().get_container_client(name)
            self.fields = azurite.source_fields(name)

    def put(self, key: str, body: bytes) -> None:
        if self.kind == "local":
            write_files(self.folder, {key: body})
        elif self.kind == "azure":
            self.container.upload_blob(key, body, overwrite=True)
        else:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def delete(self, key: str) -> None:
        if self.kind == "local":
            (self.folder / key).unlink()
        elif self.kind == "azure":
            self.container.delete_blob(key)
        else:
            self.s3.delete_object(Bucket=self.bucket, Key=key)


@pytest.mark.parametrize("kind", ["local", "s3", "s3-versioned", "azure"])
def test_a_reindex_killed_half_way_goes_on_where_it_stopped(
    kind: str,
    owner: Any,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    store = Store(kind, request, tmp_path)
    first = {f"{folder}/f{index:02d}.csv": b"x" * (index + 1) for folder in ["a", "b/c", "d"] for index in range(8)}
    for key, body in first.items():
        store.put(key, body)
    source = make_source(owner, store.fields)
    # The source changes: two objects go (one before the kill's key, one after), two come.
    for key in ["a/f03.csv", "d/f05.csv"]:
        store.delete(key)
    for key in ["a/new.csv", "d/new.csv"]:
        store.put(key, b"new")
    now = {key: body for key, body in first.items() if key not in {"a/f03.csv", "d/f05.csv"}}
    now |= {"a/new.csv": b"new", "d/new.csv": b"new"}

    monkeypatch.setattr(indexing, "INDEX_BATCH", 5)
    monkeypatch.setattr(indexing, "INDEX_PROGRESS_EVERY", 5)
    real_upsert = indexing.index_rows_upsert
    batches: list[list[str]] = []

    def dies_at_the_fourth_batch(rows: list[tuple[Any, ...]]) -> None:
        if len(batches) == 3:
            raise KeyboardInterrupt  # as a killed worker: nothing of this batch is kept
        batches.append([row[1] for row in rows])
        real_upsert(rows)

    monkeypatch.setattr(indexing, "index_rows_upsert", dies_at_the_fourth_batch)
    services.source_index_request(source=source)
    with pytest.raises(KeyboardInterrupt):
        indexing.source_index(source_pk=source.pk)
    source.refresh_from_db()
    assert source.status == Source.Status.INDEXING
    assert source.index_listed == 15 and source.index_resume_after == sorted(now)[14]
    assert not indexing.source_index(source_pk=source.pk)  # its heartbeat is fresh: the run is someone's

    settings.INDEX_STALE_SECONDS = 0
    monkeypatch.setattr(
        indexing, "index_rows_upsert", lambda rows: (batches.append([row[1] for row in rows]), real_upsert(rows))
    )
    listed_after: list[str] = []
    backend_class = type(services.clients.backend_for(source))
    real_iter = backend_class.iter_objects

    def iter_objects(self: Any, prefix: str = "", *, after: str = "") -> Any:
        listed_after.append(after)
        yield from real_iter(self, prefix, after=after)

    monkeypatch.setattr(backend_class, "iter_objects", iter_objects)
    assert indexing.source_index(source_pk=source.pk)
    assert listed_after == [sorted(now)[14]]  # it went on after the 15th object written
    # Objects that did not change were not written again, by either worker; only files, then folders.
    files_written = [path for batch in batches for path in batch if not path.endswith("/")]
    assert files_written == ["a/new.csv", "d/new.csv"]

    source.refresh_from_db()
    assert source.status == Source.Status.READY and source.index_resume_after == ""
    files = SourceObject.objects.filter(source=source, is_dir=False)
    live = dict(files.filter(vanished_at__isnull=True).values_list("path", "size"))
    assert live == {key: len(body) for key, body in now.items()}  # no losses, no duplicates
    assert set(files.filter(vanished_at__isnull=False).values_list("path", flat=True)) == {"a/f03.csv", "d/f05.csv"}
    assert (source.object_count, source.total_size) == (len(now), sum(map(len, now.values())))
    folders = {row.path: (row.file_count, row.size) for row in SourceObject.objects.filter(source=source, is_dir=True)}
    expected: dict[str, tuple[int, int]] = {}
    for key, body in now.items():
        parts = key.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth]) + "/"
            files_in, size_in = expected.get(folder, (0, 0))
            expected[folder] = (files_in + 1, size_in + len(body))
    assert folders == expected


def test_the_hand_written_upsert_writes_what_bulk_create_would(owner: Any, tmp_path: Path) -> None:
    by_library = make_local_source(owner, tmp_path, name="library")
    by_hand = make_local_source(owner, tmp_path, name="hand")
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    rows = [
        ("a/b.csv", "a/", "b.csv", False, 10, 0, "etag-1", when, "v1", "0" * 32, 3, None),
        ("a/", "", "a/", True, 10, 1, "", None, "", "", 3, None),
        ("c é.txt", "", "c é.txt", False, 0, 0, "", when, "", "", 3, None),
    ]
    fields = ["path", "parent", "name", "is_dir", "size", "file_count", "etag", "last_modified", "version_id", "md5"]
    fields += ["generation", "vanished_at"]
    for values in (rows, [(*row[:4], row[4] + 1, *row[5:10], 4, when) for row in rows]):  # insert, then update
        SourceObject.objects.bulk_create(
            [SourceObject(source=by_library, **dict(zip(fields, row, strict=True))) for row in values],
            update_conflicts=True,
            unique_fields=["source", "path"],
            update_fields=fields[1:],
        )
        indexing.index_rows_upsert([(by_hand.pk, *row, "") for row in values])

        def stored(source: Source) -> list[tuple[Any, ...]]:
            return list(SourceObject.objects.filter(source=source).order_by("path").values_list(*fields, "sha256"))

        assert stored(by_hand) == stored(by_library)
    assert stored(by_hand)[0][4] == 11 and stored(by_hand)[0][-2] == when


def test_vanished_rows_are_deleted_after_the_retention(owner: Any, tmp_path: Path, settings: Any) -> None:
    write_files(tmp_path, {"a.txt": b"a", "b.txt": b"b"})
    source = make_local_source(owner, tmp_path)
    (tmp_path / "b.txt").unlink()
    indexing.source_index(source_pk=source.pk)
    assert SourceObject.objects.filter(source=source, vanished_at__isnull=False).count() == 1
    SourceObject.objects.filter(source=source, path="b.txt").update(vanished_at=timezone.now() - dt.timedelta(days=31))
    settings.INDEX_VANISHED_RETENTION = dt.timedelta(days=30)
    indexing.source_index(source_pk=source.pk)
    assert list(SourceObject.objects.filter(source=source).values_list("path", flat=True)) == ["a.txt"]


# Schedule ----------------------------------------------------------------------------


def test_beat_queues_scheduled_sources_and_the_sweep_stale_runs(owner: Any, tmp_path: Path) -> None:
    write_files(tmp_path, {"a.txt": b"a"})
    due = make_source(owner, {"name": "due", "kind": "local", "path": str(tmp_path)})
    fresh = make_source(owner, {"name": "fresh", "kind": "local", "path": str(tmp_path)})
    never = make_source(owner, {"name": "never", "kind": "local", "path": str(tmp_path)})
    dead = make_source(owner, {"name": "dead", "kind": "local", "path": str(tmp_path)})
    alive = make_source(owner, {"name": "alive", "kind": "local", "path": str(tmp_path)})
    long_ago = timezone.now() - dt.timedelta(hours=7)
    Source.objects.filter(pk=due.pk).update(reindex_every_hours=6, index_finished_at=long_ago)
    Source.objects.filter(pk=fresh.pk).update(reindex_every_hours=6)
    Source.objects.filter(pk__in=[dead.pk, alive.pk]).update(status=Source.Status.INDEXING)
    Source.objects.filter(pk=alive.pk).update(heartbeat_at=timezone.now())
    Source.objects.filter(pk=dead.pk).update(heartbeat_at=long_ago)
    assert indexing.sources_due_for_index() == [due.pk]
    assert never.reindex_every_hours is None
    stalled = Source.objects.filter(indexing.INDEX_RUNS.waiting()).filter(jobs.stale_before(indexing.INDEX_RUNS))
    assert list(stalled.values_list("pk", flat=True)) == [dead.pk]


def test_the_schedule_is_set_in_the_form_and_the_api(
    api: Api, owner_client: Any, owner: Any, seaweed: S3Server, s3_bucket: str
) -> None:
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    changed = api.call("patch", f"/sources/{source.public_id}", {"reindex_every_hours": 24})
    assert changed.status_code == 200, changed.json()
    assert changed.json()["reindex_every_hours"] == 24
    off = api.call("patch", f"/sources/{source.public_id}", {"reindex_every_hours": 0})
    assert off.json()["reindex_every_hours"] is None
    form = owner_client.get(reverse("source_edit", args=[source.public_id]))
    assert b'name="reindex_every_hours"' in form.content


def test_beat_purges_the_event_logs_of_shares_that_ended_long_ago(owner: Any, settings: Any) -> None:
    package = Package.objects.create(owner=owner, name="p", slug="p")
    now = timezone.now()
    ended = Share.objects.create(package=package, created_by=owner, expires_at=now - dt.timedelta(days=100))
    revoked = Share.objects.create(package=package, created_by=owner, revoked_at=now - dt.timedelta(days=91))
    recent = Share.objects.create(package=package, created_by=owner, expires_at=now - dt.timedelta(days=3))
    running = Share.objects.create(package=package, created_by=owner)
    for share in (ended, revoked, recent, running):
        ShareEvent.objects.create(share=share, kind=ShareEvent.Kind.VIEW)
    settings.SHARE_EVENT_RETENTION = dt.timedelta(days=90)
    assert share_events_purge() == 2
    assert set(ShareEvent.objects.values_list("share_id", flat=True)) == {recent.pk, running.pk}


# Search ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("**/*.parquet", ["a.parquet", "x/y/b.parquet"], ["a.parquet.bak", "x/a.csv"]),
        ("raw/2024-*/**", ["raw/2024-01/a.csv", "raw/2024-12/x/y.csv"], ["raw/2023-01/a.csv", "raw/2024-01"]),
        ("*.csv", ["a.csv"], ["d/a.csv"]),
        ("d/?.csv", ["d/a.csv"], ["d/ab.csv", "d//.csv"]),
        ("d/[ab]*.txt", ["d/a1.txt", "d/b.txt"], ["d/c.txt"]),
        ("d/[!ab]*.txt", ["d/c.txt"], ["d/a.txt"]),
        ("100%_done.txt", ["100%_done.txt"], ["100x_done.txt", "1000_done.txt"]),
    ],
)
def test_a_glob_matches_what_a_shell_would(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    import re

    glob = parse_glob(pattern)
    for path in matching:
        assert re.match(glob.regex, path), path
    for path in not_matching:
        assert not re.match(glob.regex, path), path


def test_globs_that_sql_matches_exactly_skip_the_regular_expression(owner: Any, tmp_path: Path) -> None:
    assert parse_glob("**/*.parquet").exact and parse_glob("raw/**").exact
    # Without "**", the number of "/" makes the superset exact: "*" and "?" cannot cross one.
    assert parse_glob("raw/*.csv").exact and parse_glob("raw/*.csv").slashes == 1 and parse_glob("a?.txt").exact
    assert not parse_glob("raw/**/x*.csv").exact and not parse_glob("d/[ab].txt").exact
    write_files(tmp_path, {"a/b.parquet": b"1", "c.parquet": b"2", "d/E.PARQUET": b"3", "f/g.parquet.bak": b"4"})
    source = make_local_source(owner, tmp_path)
    rows = search_page(source, Search(glob="**/*.parquet")).rows
    assert [row.path for row in rows] == ["a/b.parquet", "c.parquet"]  # case-sensitive, as on S3
    rows = search_page(source, Search(glob="*.parquet")).rows
    assert [row.path for row in rows] == ["c.parquet"]


def test_the_common_folder_of_matches() -> None:
    assert common_folder("raw/2024/a.csv", "raw/2024/b/c.csv") == "raw/2024/"
    assert common_folder("raw/ab.csv", "raw/ac.csv") == "raw/"
    assert common_folder("a.csv", "b/c.csv") == ""
    assert common_folder("x/only.csv", "x/only.csv") == "x/"


@pytest.fixture
def searchable(owner: Any, tmp_path: Path) -> Source:
    """An index with 60 files in nested folders, from a real local folder."""
    files: dict[str, bytes] = {}
    for month in range(1, 4):
        for index in range(10):
            files[f"raw/2024-{month:02d}/day{index}/part{index}.parquet"] = b"p" * (index + 1) * 100
        files[f"raw/2024-{month:02d}/summary.csv"] = b"s" * month
    for index in range(27):
        files[f"other/log-{index:02d}.txt"] = b"l"
    write_files(tmp_path, files)
    source = make_local_source(owner, tmp_path)
    SourceObject.objects.filter(source=source, path__startswith="raw/2024-01/").update(
        last_modified=dt.datetime(2024, 1, 15, tzinfo=dt.UTC)
    )
    return source


def test_it_searches_by_name_glob_size_and_date(api: Api, searchable: Source, django_assert_num_queries: Any) -> None:
    sid = searchable.public_id
    by_glob = api.call("get", f"/sources/{sid}/search", glob="raw/2024-0[12]/**/*.parquet").json()
    assert by_glob["total"] == 20 and by_glob["total_exact"]
    assert all(entry["key"].endswith(".parquet") for entry in by_glob["entries"])
    by_name = api.call("get", f"/sources/{sid}/search", q="SUMMARY").json()
    assert [entry["key"] for entry in by_name["entries"]] == [f"raw/2024-0{month}/summary.csv" for month in (1, 2, 3)]
    sized = api.call("get", f"/sources/{sid}/search", glob="**/*.parquet", min_size=800, max_size=900).json()
    assert sized["total"] == 6 and {entry["size"] for entry in sized["entries"]} == {800, 900}
    dated = api.call("get", f"/sources/{sid}/search", modified_before="2024-02-01T00:00:00Z").json()
    assert dated["total"] == 11 and all(entry["key"].startswith("raw/2024-01/") for entry in dated["entries"])
    both = api.call("get", f"/sources/{sid}/search", q="part", modified_after="2024-02-01T00:00:00Z").json()
    assert both["total"] == 20  # the parts of February and March, written today
    keys: list[str] = []
    cursor = ""
    while True:
        params: dict[str, Any] = {"glob": "other/*", "limit": 10}
        if cursor:
            params["cursor"] = cursor
        # token, source, count, page; the next pages get the count from their cursor.
        with django_assert_num_queries(3 if cursor else 4):
            page = api.call("get", f"/sources/{sid}/search", **params).json()
        assert page["total"] == 27
        keys += [entry["key"] for entry in page["entries"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert keys == [f"other/log-{index:02d}.txt" for index in range(27)]


def test_the_count_says_more_than_past_the_cap(api: Api, searchable: Source, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "COUNT_CAP", 25)
    answer = api.call("get", f"/sources/{searchable.public_id}/search", glob="**").json()
    assert (answer["total"], answer["total_exact"]) == (25, False)
    few = api.call("get", f"/sources/{searchable.public_id}/search", glob="raw/**/*.csv").json()
    assert (few["total"], few["total_exact"]) == (3, True)


def test_bad_searches_get_clear_errors(api: Api, owner: Any, searchable: Source, tmp_path: Path) -> None:
    sid = searchable.public_id
    unclosed = api.call("get", f"/sources/{sid}/search", glob="raw/[abc")
    assert unclosed.status_code == 422 and "“[”" in unclosed.json()["detail"]
    negative = api.call("get", f"/sources/{sid}/search", min_size=-1)
    assert negative.status_code == 400  # the query does not validate
    for not_a_date in ["0.5", "1700000000", "yesterday"]:  # numbers were taken as seconds since 1970
        dated = api.call("get", f"/sources/{sid}/search", modified_before=not_a_date)
        assert dated.status_code == 400 and "ISO 8601" in dated.text, not_a_date
    iso = api.call("get", f"/sources/{sid}/search", modified_before="2100-01-01T00:00:00Z", glob="raw/**")
    assert iso.status_code == 200 and iso.json()["total"] > 0
    unindexed = make_source(owner, {"name": "new", "kind": "local", "path": str(tmp_path)}, index=False)
    waiting = api.call("get", f"/sources/{unindexed.public_id}/search", q="a")
    assert waiting.status_code == 409 and "index" in waiting.json()["detail"]


def test_an_address_with_a_nul_character_is_refused_clearly(
    api: Api, owner_client: Any, client: Client, searchable: Source
) -> None:
    # PostgreSQL refuses NUL in text: such a value reaching a query was a 500 there.
    sid = searchable.public_id
    for params in [{"prefix": "raw/\x00"}, {"q": "a\x00b"}, {"cursor": "\x00"}]:
        response = api.call("get", f"/sources/{sid}/objects", **params)
        assert response.status_code == 422 and "NUL" in response.json()["detail"], params
    searched = api.call("get", f"/sources/{sid}/search", glob="raw/\x00*")
    assert searched.status_code == 422 and "NUL" in searched.json()["detail"]
    page = owner_client.get(f"/sources/{sid}/browse/raw%00/")
    assert page.status_code == 400 and b"NUL" in page.content
    assert owner_client.get(f"/sources/{sid}/browse/raw/", {"q": "\x00"}).status_code == 400
    assert client.get("/s/token%00/r/a.csv").status_code == 400  # before the share fast lane
    assert api.call("get", f"/sources/{sid}/objects", prefix="raw/").status_code == 200


def test_a_json_body_with_a_nul_character_is_refused_clearly(api: Api, tmp_path: Path) -> None:
    package = api.call("post", "/packages", {"name": "nul"}).json()["id"]
    for method, path, body in [
        ("post", "/packages", {"name": "a\x00b"}),
        ("patch", f"/packages/{package}", {"description": "x\x00"}),
        ("post", f"/packages/{package}/versions", {"message": "m\x00"}),
        ("post", f"/packages/{package}/shares", {"password": "pass\x00word-12"}),
        ("post", "/sources", {"name": "s", "kind": "local", "path": str(tmp_path), "\x00": 1}),
        ("post", f"/packages/{package}/entries", {"path": "a.md", "text": ["x", {"y": "\x00"}]}),
    ]:
        response = api.call(method, path, body)
        assert response.status_code == 422 and "NUL" in response.json()["detail"], (path, body)
    # The six characters of the escape, written as text, are no NUL.
    text = api.call("post", f"/packages/{package}/entries", {"path": "escape.md", "text": "\\u0000 is NUL"})
    assert text.status_code == 201
    assert Package.objects.get(public_id=package).entries.get(path="escape.md").size == len("\\u0000 is NUL")


def test_vanished_objects_are_not_found(searchable: Source) -> None:
    SourceObject.objects.filter(source=searchable, path="other/log-00.txt").update(vanished_at=timezone.now())
    assert search_count(searchable, Search(glob="other/*")) == (26, True)
    assert search_page(searchable, Search(q="log-00")).rows == []


def test_the_search_page_finds_and_adds_all_matches(owner_client: Any, searchable: Source) -> None:
    url = reverse("source_search", args=[searchable.public_id])
    page = owner_client.get(url, {"glob": "raw/**/*.parquet", "min_size": 500})
    assert page.status_code == 200
    assert b"<strong>18</strong> matching files" in page.content
    assert b"raw/2024-01/day4/part4.parquet" in page.content
    added = owner_client.post(
        reverse("package_add_search"),
        {
            "source": searchable.public_id,
            "glob": "raw/**/*.parquet",
            "min_size": 500,
            "new_package_name": "Parquet",
            "target": "data",
        },
    )
    assert added.status_code == 302
    package = Package.objects.get(name="Parquet")
    paths = list(package.entries.values_list("path", flat=True))
    assert len(paths) == 18
    assert "data/2024-01/day4/part4.parquet" in paths  # structure kept below "raw/"
    assert all(entry.key.startswith("raw/") for entry in package.entries.all())


def test_the_search_page_says_which_part_of_a_bad_search_is_wrong(owner_client: Any, searchable: Source) -> None:
    url = reverse("source_search", args=[searchable.public_id])
    damaged = owner_client.get(url, {"glob": "raw/**", "cursor": "not-a-cursor"})
    assert damaged.status_code == 200
    form = damaged.context["form"]
    assert form.non_field_errors() and "glob" not in form.errors  # the cursor is at fault, not the glob
    assert b"matching files" not in damaged.content
    unclosed = owner_client.get(url, {"glob": "raw/[ab"})
    assert "glob" in unclosed.context["form"].errors


def test_the_api_adds_all_matches_keeping_folders_below_the_common_prefix(api: Api, searchable: Source) -> None:
    package = api.call("post", "/packages", {"name": "matches"}).json()
    body = {"source": str(searchable.public_id), "search": {"glob": "raw/2024-02/**"}, "target": "feb"}
    added = api.call("post", f"/packages/{package['id']}/entries", body)
    assert added.status_code == 201 and added.json() == {"added_count": 11}
    listed = api.call("get", f"/packages/{package['id']}/entries", limit=1000).json()
    paths = [entry["path"] for entry in listed["items"]]
    assert "feb/summary.csv" in paths and "feb/day3/part3.parquet" in paths
    again = api.call("post", f"/packages/{package['id']}/entries", body)
    assert again.json() == {"added_count": 0}  # the same objects at the same paths: nothing new
    nothing = {"source": str(searchable.public_id), "search": {"q": "no-such-name"}, "target": ""}
    missing = api.call("post", f"/packages/{package['id']}/entries", nothing)
    assert missing.status_code == 422 and "Nothing" in missing.json()["detail"]


@pytest.mark.slow
def test_tens_of_thousands_of_matches_are_added_in_one_request(
    api: Api, owner: Any, tmp_path: Path, django_assert_max_num_queries: Any, settings: Any
) -> None:
    settings.ADD_MATCHES_INLINE_LIMIT = 50_000  # past it, a worker adds them (tests/test_add_matches.py)
    source = make_local_source(owner, tmp_path)
    count = 30_000
    SourceObject.objects.bulk_create(
        (
            SourceObject(
                source=source,
                path=f"big/part-{index % 30:02d}/f{index:06d}.bin",
                parent=f"big/part-{index % 30:02d}/",
                name=f"f{index:06d}.bin",
                size=index,
            )
            for index in range(count)
        ),
        batch_size=5000,
    )
    package = api.call("post", "/packages", {"name": "big"}).json()
    body = {"source": str(source.public_id), "search": {"glob": "big/**/*.bin"}, "target": ""}
    # A fixed cost plus the batched inserts (SQLite takes about 70 rows per INSERT).
    with django_assert_max_num_queries(20 + count // 50):
        added = api.call("post", f"/packages/{package['id']}/entries", body)
    assert added.json() == {"added_count": count}
    assert PackageEntry.objects.filter(package__public_id=package["id"]).count() == count
    assert PackageEntry.objects.filter(path="part-07/f000007.bin", parent="part-07/").exists()
    # The package's folder totals follow: its page and API count every file.
    assert api.call("get", f"/packages/{package['id']}").json()["entry_count"] == count


def test_outsiders_get_404_on_search_progress_and_cancel(
    outsider_api: Api, outsider_client: Any, owner: Any, tmp_path: Path
) -> None:
    source = make_local_source(owner, tmp_path)
    sid = source.public_id
    assert outsider_api.call("get", f"/sources/{sid}/search", q="a").status_code == 404
    assert outsider_api.call("post", f"/sources/{sid}/index/cancel").status_code == 404
    assert outsider_client.get(reverse("source_search", args=[sid])).status_code == 404
    assert outsider_client.get(reverse("source_index_progress", args=[sid])).status_code == 404
    assert outsider_client.post(reverse("source_index_cancel", args=[sid])).status_code == 404
    assert outsider_client.get(reverse("source_index_cancel", args=[sid])).status_code == 405


def test_anonymous_users_are_sent_to_log_in(client: Client, owner: Any, tmp_path: Path) -> None:
    source = make_local_source(owner, tmp_path)
    for name in ("source_search", "source_index_progress"):
        response = client.get(reverse(name, args=[source.public_id]))
        assert response.status_code == 302 and "login" in response["Location"]


def test_a_whole_number_written_as_a_float_is_a_size_but_a_fraction_is_not(api: Api, searchable: Source) -> None:
    # JSON Schema counts 800.0 as an integer, and the OpenAPI document says "integer".
    package = api.call("post", "/packages", {"name": "floats"}).json()
    search = {"glob": "raw/2024-02/**", "min_size": 0.0, "max_size": 1e12}
    body = {"source": str(searchable.public_id), "search": search, "target": "feb"}
    added = api.call("post", f"/packages/{package['id']}/entries", body)
    assert added.status_code == 201 and added.json() == {"added_count": 11}
    body["search"] = {"glob": "raw/2024-02/**", "min_size": 0.5}
    assert api.call("post", f"/packages/{package['id']}/entries", body).status_code == 400
