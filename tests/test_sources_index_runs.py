"""Index runs that merge into an existing index, are taken over, or meet an awkward listing.

What a re-index writes (nothing, for an unchanged source), a run resumed after its source
moved, keys that a service lists out of code-point order, a slow worker taken over, and a
resumed run under a prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import models

from sources import indexing, services
from sources.models import Source, SourceObject
from tests.factories import make_source
from tests.test_sources_index import Store

pytestmark = pytest.mark.postgres


def _count_file_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    written: list[str] = []
    real = indexing.index_rows_upsert

    def counting(rows: list[tuple[Any, ...]]) -> None:
        written.extend(row[1] for row in rows if not row[4])
        real(rows)

    monkeypatch.setattr(indexing, "index_rows_upsert", counting)
    return written


@pytest.mark.parametrize("kind", ["local", "s3", "s3-versioned", "azure"])
def test_reindex_of_an_unchanged_source_writes_no_file_rows(
    kind: str, owner: Any, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(kind, request, tmp_path)
    for index in range(30):
        store.put(f"p/d{index % 3}/f{index:02d}.bin", b"x" * index)
    source = make_source(owner, {**store.fields, "prefix": "p"})
    assert source.object_count == 30
    written = _count_file_writes(monkeypatch)
    assert indexing.source_index(source_pk=source.pk)
    assert written == []
    source.refresh_from_db()
    assert (source.object_count, source.status) == (30, Source.Status.READY)


@pytest.mark.parametrize("kind", ["s3"])
def test_a_killed_run_resumed_after_the_prefix_changed(
    kind: str,
    owner: Any,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    """The resume key belongs to the old location; the run taken over must not use it."""
    store = Store(kind, request, tmp_path)
    for index in range(12):
        store.put(f"old/f{index:02d}.csv", b"o")
        store.put(f"0new/g{index:02d}.csv", b"nn")
    source = make_source(owner, {**store.fields, "prefix": "old"})
    monkeypatch.setattr(indexing, "INDEX_BATCH", 5)
    monkeypatch.setattr(indexing, "INDEX_PROGRESS_EVERY", 5)
    # A run that died after its first batch (its state as a killed worker leaves it).
    Source.objects.filter(pk=source.pk).update(
        status=Source.Status.INDEXING,
        index_resume_after="old/f04.csv",
        index_listed=5,
        index_generation=source.index_generation + 1,
    )
    source.refresh_from_db()
    # The owner points the source somewhere else meanwhile.
    services.source_update(source=source, fields={"prefix": "0new"}, credentials={}, user=owner, check=False)
    source.refresh_from_db()
    # The dead run's resume key named the old location: the update restarted the run.
    settings.INDEX_STALE_SECONDS = 0
    assert indexing.source_index(source_pk=source.pk)
    source.refresh_from_db()
    live = set(
        SourceObject.objects.filter(source=source, is_dir=False, vanished_at__isnull=True).values_list(
            "path", flat=True
        )
    )
    assert (live, source.object_count, source.total_size) == ({f"g{index:02d}.csv" for index in range(12)}, 12, 24)


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_keys_beyond_the_bmp_keep_their_rows_on_reindex(
    kind: str, owner: Any, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing order must be the index's order (code points) or the merge marks listed objects vanished."""
    store = Store(kind, request, tmp_path)
    keys = ["k\ue000.txt", "k\uffef.txt", "k\U0001f600.txt", "z.txt"]
    for key in keys:
        store.put(key, b"x")
    source = make_source(owner, store.fields)  # Azurite lists in UTF-16 order: U+1F600 before U+E000
    listed = [info.key for info in services.clients.backend_for(source).iter_objects("")]
    assert indexing.source_index(source_pk=source.pk)
    live = set(
        SourceObject.objects.filter(source=source, is_dir=False, vanished_at__isnull=True).values_list(
            "path", flat=True
        )
    )
    assert live == set(keys), listed


def test_a_slow_worker_taken_over_writes_no_folder_rows(
    owner: Any, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Folder rows go through the fenced batches: a worker that was only slow writes none over the new run's."""
    store = Store("s3", request, tmp_path)
    for key in ["a/1.txt", "b/1.txt"]:
        store.put(key, b"x")
    source = make_source(owner, store.fields)
    store.put("c/1.txt", b"z")
    real = indexing.index_rows_upsert

    def taken_over_before_its_folders(rows: list[tuple[Any, ...]]) -> None:
        if rows and rows[0][4]:  # the first folder batch: another worker claims the run now
            Source.objects.filter(pk=source.pk).update(index_generation=models.F("index_generation") + 1)
        real(rows)

    monkeypatch.setattr(indexing, "index_rows_upsert", taken_over_before_its_folders)
    assert not indexing.source_index(source_pk=source.pk)  # the slow one finds it lost the run
    assert not SourceObject.objects.filter(source=source, path="c/").exists()  # and wrote no folder
    assert SourceObject.objects.get(source=source, path="a/").file_count == 1


@pytest.mark.parametrize("kind", ["s3", "s3-versioned", "azure"])
def test_a_killed_run_with_a_prefix_resumes_without_loss_or_double_count(
    kind: str,
    owner: Any,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    store = Store(kind, request, tmp_path)
    keys = [f"pre/{folder}/f{index:02d}.csv" for folder in ["a", "b"] for index in range(8)]
    for key in keys:
        store.put(key, b"xy")
    store.put("pre/", b"marker")  # a non-empty "folder marker" equal to the prefix
    store.put("pre/a/", b"")
    store.put("prefix-sibling.txt", b"no")
    source = make_source(owner, {**store.fields, "prefix": "/pre/"})
    store.delete("pre/a/f01.csv")
    store.delete("pre/b/f06.csv")
    store.put("pre/b/f99.csv", b"new")
    monkeypatch.setattr(indexing, "INDEX_BATCH", 3)
    monkeypatch.setattr(indexing, "INDEX_PROGRESS_EVERY", 3)
    real = indexing.index_rows_upsert
    calls = []

    def dies(rows: list[tuple[Any, ...]]) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(rows)

    monkeypatch.setattr(indexing, "index_rows_upsert", dies)
    with pytest.raises(KeyboardInterrupt):
        services.source_index_request(source=source)
        indexing.source_index(source_pk=source.pk)
    source.refresh_from_db()
    assert source.index_resume_after.startswith("pre/")
    monkeypatch.setattr(indexing, "index_rows_upsert", real)
    settings.INDEX_STALE_SECONDS = 0
    assert indexing.source_index(source_pk=source.pk)
    source.refresh_from_db()
    now = sorted(set(keys) - {"pre/a/f01.csv", "pre/b/f06.csv"} | {"pre/b/f99.csv"})
    live = dict(
        SourceObject.objects.filter(source=source, is_dir=False, vanished_at__isnull=True).values_list("path", "size")
    )
    assert live == {key[4:]: (3 if key.endswith("f99.csv") else 2) for key in now}
    assert (source.object_count, source.total_size) == (len(now), 2 * len(now) + 1)
    folders = dict(SourceObject.objects.filter(source=source, is_dir=True).values_list("path", "file_count"))
    assert folders == {"a/": 7, "b/": 8}


def test_editing_a_source_leaves_the_index_runs_columns_alone(
    owner: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = Store("s3", request, tmp_path)
    store.put("a.txt", b"a")
    source = make_source(owner, store.fields)
    stale = Source.objects.get(pk=source.pk)  # read by the edit request
    Source.objects.filter(pk=source.pk).update(  # meanwhile a run takes the source and lists
        status=Source.Status.INDEXING, index_listed=7, index_resume_after="a.txt"
    )
    services.source_update(source=stale, fields={"name": "renamed"}, credentials={}, user=owner, check=False)
    source.refresh_from_db()
    assert source.name == "renamed"
    assert (source.status, source.index_listed, source.index_resume_after) == (Source.Status.INDEXING, 7, "a.txt")
