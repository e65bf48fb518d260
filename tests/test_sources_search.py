"""Search over a large index: the trigram index for names, exact globs, the count carried by the cursor."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sources import search as search_module
from sources.models import Source, SourceObject
from sources.search import Search, search_page
from tests.conftest import Api
from tests.factories import make_local_source, write_files

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def named(owner: Any, tmp_path: Path) -> Source:
    """40 files whose names hold "Report" in several cases and folders, and 20 that do not."""
    files: dict[str, bytes] = {}
    for index in range(40):
        spelled = ("report", "REPORT", "Report", "rePort")[index % 4]
        files[f"d{index % 5}/{spelled}-{index:02d}.csv"] = b"r" * index
    for index in range(20):
        files[f"d{index % 5}/other-{index:02d}.txt"] = b"o"
    write_files(tmp_path, files)
    return make_local_source(owner, tmp_path)


def walk(source: Source, search: Search, limit: int) -> list[str]:
    """Every matching path, page by page through the cursors."""
    paths: list[str] = []
    cursor = ""
    while True:
        page = search_page(source, search, cursor=cursor, limit=limit)
        paths += [row.path for row in page.rows]
        if not page.next_cursor:
            return paths
        cursor = page.next_cursor


def expected(source: Source, part: str) -> list[str]:
    """What a name substring should find: live files whose name holds it in any case."""
    rows = SourceObject.objects.filter(source=source, is_dir=False, vanished_at__isnull=True)
    return sorted(path for path, name in rows.values_list("path", "name") if part.lower() in name.lower())


@pytest.mark.parametrize("candidates", [5_000, 3])  # through the trigram index; past it, walking the keys
def test_a_name_search_pages_through_every_match_in_key_order(
    named: Source, candidates: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_module, "TRIGRAM_CANDIDATES", candidates)
    SourceObject.objects.filter(source=named, path="d1/REPORT-01.csv").update(vanished_at=timezone.now())
    SourceObject.objects.filter(source=named, path="d2/Report-02.csv").delete()
    found = walk(named, Search(q="port-"), limit=7)
    assert found == expected(named, "port-") and len(found) == 38
    assert "d1/REPORT-01.csv" not in found and "d2/Report-02.csv" not in found
    assert walk(named, Search(q="PORT-1"), limit=3) == expected(named, "port-1")
    assert walk(named, Search(q="no-such-name"), limit=3) == []


def test_names_written_by_a_later_index_are_found(named: Source, tmp_path: Path) -> None:
    from sources import indexing

    write_files(tmp_path, {"d9/late-report-99.csv": b"x"})
    (tmp_path / "d0" / "report-00.csv").unlink()
    Source.objects.filter(pk=named.pk).update(status=Source.Status.QUEUED)
    assert indexing.source_index(source_pk=named.pk)  # upserts the rows, marks the gone one vanished
    found = walk(named, Search(q="report-"), limit=50)
    assert "d9/late-report-99.csv" in found and "d0/report-00.csv" not in found
    assert found == expected(named, "report-")


def test_a_name_search_costs_a_fixed_number_of_queries(api: Api, named: Source, django_assert_num_queries: Any) -> None:
    url = f"/sources/{named.public_id}/search"
    api.call("get", url, q="other")  # the token's first use is recorded (once in five minutes)
    # token, source, count, page; SQLite first asks its trigram index how many names hold it.
    first_page = 5 if connection.vendor == "sqlite" else 4
    with django_assert_num_queries(first_page):
        page = api.call("get", url, q="report", limit=10).json()
    assert page["total"] == 40 and page["total_exact"]
    with django_assert_num_queries(first_page - 1):  # the count comes with the cursor
        second = api.call("get", url, q="report", limit=10, cursor=page["next_cursor"]).json()
    assert second["total"] == 40 and len(second["entries"]) == 10
    assert second["entries"][0]["key"] > page["entries"][-1]["key"]


def test_more_than_the_cap_is_said_on_every_page(api: Api, named: Source, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "COUNT_CAP", 30)
    url = f"/sources/{named.public_id}/search"
    page = api.call("get", url, glob="**", limit=25).json()
    assert (page["total"], page["total_exact"]) == (30, False)
    seen = len(page["entries"])
    while page["next_cursor"]:
        page = api.call("get", url, glob="**", limit=25, cursor=page["next_cursor"]).json()
        assert (page["total"], page["total_exact"]) == (30, False)
        seen += len(page["entries"])
    assert seen == 60


def test_a_damaged_cursor_is_refused(api: Api, named: Source) -> None:
    answer = api.call("get", f"/sources/{named.public_id}/search", q="report", cursor="not-a-cursor")
    assert answer.status_code == 422 and "cursor" in answer.json()["detail"]


def test_a_glob_without_double_stars_stays_in_its_folders(owner: Any, tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {"a/x.csv": b"1", "a/b/x.csv": b"2", "a/b/c/x.csv": b"3", "ab.csv": b"4", "a/b.csv/x.txt": b"5"},
    )
    source = make_local_source(owner, tmp_path)
    assert walk(source, Search(glob="a/*.csv"), limit=10) == ["a/x.csv"]
    assert walk(source, Search(glob="a/*/x.csv"), limit=10) == ["a/b/x.csv"]
    assert walk(source, Search(glob="*.csv"), limit=10) == ["ab.csv"]
    assert walk(source, Search(glob="a?b/*"), limit=10) == []
    assert walk(source, Search(glob="a/[b]/x.csv"), limit=10) == ["a/b/x.csv"]
    assert walk(source, Search(glob="a/**/x.csv"), limit=10) == ["a/b/c/x.csv", "a/b/x.csv", "a/x.csv"]
    assert walk(source, Search(glob="a/**/x.*"), limit=10) == ["a/b.csv/x.txt", "a/b/c/x.csv", "a/b/x.csv", "a/x.csv"]


def test_a_size_range_whose_matches_come_last_pages_from_the_first_match(
    named: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = SourceObject.objects.filter(source=named, is_dir=False)
    late = sorted(files.values_list("path", flat=True))[-12:]  # old, large files last in key order
    files.filter(path__in=late).update(size=10_000, last_modified=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    files.filter(path=late[3]).update(vanished_at=timezone.now())
    files.filter(path=late[0]).update(size=4_999)
    search = Search(min_size=5_000, modified_before=dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
    wanted = late[1:3] + late[4:]
    assert walk(named, search, limit=4) == wanted
    with CaptureQueriesContext(connection) as queries:
        first = search_page(named, search, limit=4)
    assert (first.total, first.exact) == (10, True) and [row.path for row in first.rows] == wanted[:4]
    # The count and the page; the page reads the keys from the first match on.
    assert len(queries) == 2 and wanted[0] in queries[1]["sql"]
    monkeypatch.setattr(search_module, "COUNT_CAP", 6)  # past the cap: the first match is not known
    assert walk(named, search, limit=4) == wanted
    capped = search_page(named, search, limit=4)
    assert (capped.total, capped.exact) == (6, False) and [row.path for row in capped.rows] == wanted[:4]


def test_a_search_that_matches_nothing_costs_its_count_alone(named: Source) -> None:
    for search in (Search(min_size=1_000_000), Search(q="no-such-name"), Search(glob="d9/**")):
        with CaptureQueriesContext(connection) as queries:
            page = search_page(named, search)
        assert (page.rows, page.total, page.exact, page.next_cursor) == ([], 0, True, "")
        assert len(queries) == (2 if search.q and connection.vendor == "sqlite" else 1)
