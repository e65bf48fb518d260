"""The index engine: lists a whole source into its index (SourceObject rows).

A run claims the source (a new run, or one whose worker died, taken over where it
stopped), merges the listing into the rows in place in batches (the previous index stays
browsable meanwhile), keeps its progress and resume key on the source, and writes the
folders' totals at the end. A generation number fences out a worker that was only slow.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from sources import clients
from sources.backends import ObjectInfo, StorageError
from sources.models import Source, SourceObject
from web import jobs
from web.paths import folder_of
from web.progress import ProgressThrottle

logger = logging.getLogger(__name__)

INDEX_BATCH = settings.INDEX_BATCH_SIZE
# Rows of the index read per query while merging a listing into it, and how many listed
# objects at most go by between two progress updates when none needs writing.
INDEX_READ_PAGE = 1000
INDEX_PROGRESS_EVERY = 1000
# ... and at most how many seconds (a slow listing still shows its progress).
INDEX_PROGRESS_SECONDS = 2.0


def stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=settings.INDEX_STALE_SECONDS)


def _index_task() -> Any:
    from sources.tasks import index_source

    return index_source


# An index run waits while its source is queued or indexing; one whose heartbeat (a batch
# written) went silent for INDEX_STALE_SECONDS lost its worker and is taken over.
INDEX_RUNS = jobs.register(
    jobs.JobKind(
        name="index",
        model=Source,
        waiting=lambda: models.Q(status__in=[Source.Status.QUEUED, Source.Status.INDEXING]),
        stale_seconds=lambda: settings.INDEX_STALE_SECONDS,
        task=_index_task,
        failed=lambda message: {
            "status": Source.Status.ERROR,
            "last_error": message,
            "index_finished_at": timezone.now(),
        },
    )
)


def _claim_index(source_pk: int) -> bool:
    """Take the source's index run: a new one, or one whose worker died, where it stopped.

    Either way the run writes with a new generation number, which fences out the worker it
    replaces should that one only have been slow.
    """
    now = timezone.now()
    stale = models.Q(status=Source.Status.INDEXING) & jobs.stale_before(INDEX_RUNS, now=now)
    next_generation = models.F("index_generation") + 1
    if jobs.job_claim(
        Source.objects.filter(stale, pk=source_pk).exclude(index_resume_after=""), index_generation=next_generation
    ):
        return True
    claimable = (
        models.Q(status__in=[Source.Status.NEW, Source.Status.QUEUED, Source.Status.READY, Source.Status.ERROR]) | stale
    )
    return jobs.job_claim(
        Source.objects.filter(claimable, pk=source_pk),
        status=Source.Status.INDEXING,
        index_started_at=now,
        index_finished_at=None,
        index_listed=0,
        index_resume_after="",
        index_generation=next_generation,
    )


class IndexStopped(Exception):
    """The run was cancelled, or another run took the source over."""


def _this_run(source_pk: int, generation: int) -> models.QuerySet[Source]:
    return Source.objects.filter(pk=source_pk, status=Source.Status.INDEXING, index_generation=generation)


def _parent_of(path: str) -> tuple[str, str]:
    """("a/b/", "c.txt") for "a/b/c.txt"; folders keep their trailing slash: ("a/", "b/") for "a/b/"."""
    parent = folder_of(path)
    return parent, path[len(parent) :]


# The columns a listing writes, in the order of an index row tuple; on conflict every one but
# the key is updated, so vanished_at is cleared for objects that came back. sha256 is
# written empty for new rows and left alone on existing ones.
ROW_COLUMNS = (
    "source_id",
    "path",
    "parent",
    "name",
    "is_dir",
    "size",
    "file_count",
    "etag",
    "last_modified",
    "version_id",
    "md5",
    "generation",
    "vanished_at",
    "sha256",
)
_UPDATED_COLUMNS = ROW_COLUMNS[2:-1]


def _upsert_sql() -> str:
    """One row's upsert on SQLite (run for every row); the whole batch's on PostgreSQL.

    SQLite runs a prepared statement per row at little cost. PostgreSQL would parse, plan and
    run one statement per row, which cost more than the index writes themselves
    (bench/index.py); there the batch goes as one array per column, unnested, the form
    Django's bulk_create uses on PostgreSQL too.
    """
    quote = connection.ops.quote_name
    table = quote(SourceObject._meta.db_table)
    columns = ", ".join(quote(name) for name in ROW_COLUMNS)
    if connection.vendor == "postgresql":
        by_column = {field.column: field for field in SourceObject._meta.concrete_fields}
        types = [by_column[name].cast_db_type(connection) for name in ROW_COLUMNS]
        values = "SELECT * FROM UNNEST({})".format(", ".join(f"%s::{db_type}[]" for db_type in types))  # noqa: S608
    else:
        values = "VALUES ({})".format(", ".join(["%s"] * len(ROW_COLUMNS)))
    updates = ", ".join(f"{quote(name)} = EXCLUDED.{quote(name)}" for name in _UPDATED_COLUMNS)
    # Only names and types from the model's metadata go into the text; values are parameters.
    return (
        f"INSERT INTO {table} ({columns}) {values} "
        f"ON CONFLICT ({quote('source_id')}, {quote('path')}) DO UPDATE SET {updates}"
    )


def index_rows_upsert(rows: list[tuple[Any, ...]]) -> None:
    """Insert or update index rows (tuples in ROW_COLUMNS order) in one statement per batch
    on PostgreSQL, one executemany on SQLite.

    The rows bulk_create(update_conflicts=True) would write, without building a model
    instance and preparing every field of every row: at a million objects that is most of
    the index task's CPU (bench/index.py). tests/test_sources_index.py pins the rows it
    writes to bulk_create's.
    """
    if not rows:
        return
    adapt = connection.ops.adapt_datetimefield_value
    prepared = [(*row[:8], adapt(row[8]), *row[9:12], adapt(row[12]), row[13]) for row in rows]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_upsert_sql(), [list(column) for column in zip(*prepared, strict=True)])
        else:
            cursor.executemany(_upsert_sql(), prepared)


def _read_ahead(objects: Iterable[ObjectInfo], *, chunk: int = 1000, depth: int = 4) -> Iterator[ObjectInfo]:
    """The objects, listed by a thread a few pages ahead.

    The storage service's answer time and the database's write time then overlap instead of
    adding up: the next page is on its way while this one is written (bench/index.py).
    """
    pending: queue.Queue[list[ObjectInfo] | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: list[ObjectInfo] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                pending.put(value, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False  # the reader gave up (cancelled, or failed)

    def produce() -> None:
        try:
            buffer: list[ObjectInfo] = []
            for info in objects:
                buffer.append(info)
                if len(buffer) >= chunk:
                    if not put(buffer):
                        return
                    buffer = []
            if put(buffer):
                put(None)
        except BaseException as error:  # handed to the reader, which raises it
            put(error)

    threading.Thread(target=produce, name="index-read-ahead", daemon=True).start()
    try:
        while True:
            value = pending.get()
            if value is None:
                return
            if isinstance(value, BaseException):
                raise value
            yield from value
    finally:
        stop.set()


def _folder_totals(source: Source, upto: str) -> tuple[dict[str, list[int]], int, int]:
    """The folder totals, file count and size of the live files up to `upto` (a path).

    Where a run taken over from a killed worker starts: that worker left every row up to
    its last key as the listing found it. One aggregate, read once, instead of listing
    those objects again.
    """
    folders: dict[str, list[int]] = {}
    count = total = 0
    written = (
        SourceObject.objects.filter(source_id=source.pk, is_dir=False, vanished_at__isnull=True, path__lte=upto)
        .values_list("parent")
        .annotate(files=models.Count("pk"), size=models.Sum("size"))
        .order_by()
    )
    for parent, files, size in written:
        count += files
        total += size or 0
        for folder in _folder_and_ancestors(parent):
            totals = folders.setdefault(folder, [0, 0])
            totals[0] += files
            totals[1] += size or 0
    return folders, count, total


def _folder_and_ancestors(folder: str) -> Iterator[str]:
    """ "a/b/", then "a/"; nothing for the root ("")."""
    while folder:
        yield folder
        folder = folder_of(folder)


# What a listing says of a file, in the order _indexed_files reads it, to tell whether a
# row needs writing.
_COMPARED = ("path", "size", "etag", "last_modified", "version_id", "md5")


def _indexed_files(source: Source, generation: int, after: str) -> Iterator[tuple[Any, ...]]:
    """The live file rows the index held before this run, after `after`, in key order.

    Read in keyset pages through the (source, path) index. Rows this run wrote carry its
    generation and are left out: a page read after a batch must not find the batch's new
    rows and take them for objects that were not listed.
    """
    rows = SourceObject.objects.filter(
        source_id=source.pk, is_dir=False, vanished_at__isnull=True, generation__lt=generation
    ).order_by("path")
    while True:
        page = list(rows.filter(path__gt=after).values_list(*_COMPARED)[:INDEX_READ_PAGE])
        yield from page
        if len(page) < INDEX_READ_PAGE:
            return
        after = page[-1][0]


def _index_rows(source: Source, generation: int, objects: Iterable[ObjectInfo]) -> tuple[int, int]:
    """Merge the listing into the index; progress after every batch.

    Listing and index rows both come in key order and are walked side by side: a listed
    object the index holds unchanged costs no write; new and changed ones are upserted; rows
    between two listed keys were not listed and are marked vanished. Re-indexing a bucket
    that did not change is then a read of the index, not a rewrite of it.

    A run taken over from a killed worker starts after that worker's last key.
    Raises IndexStopped as soon as a batch finds the run cancelled or taken over.
    """
    prefix = source.normalized_prefix
    resume_path = source.index_resume_after[len(prefix) :]
    folders: dict[str, list[int]] = {}  # folder path -> [file count, total size]
    count = total = 0
    if source.index_resume_after:
        folders, count, total = _folder_totals(source, resume_path)
    indexed = _indexed_files(source, generation, resume_path)
    current = next(indexed, None)
    batch: list[tuple[Any, ...]] = []
    vanished: list[str] = []
    throttle = ProgressThrottle(every=INDEX_PROGRESS_EVERY, seconds=INDEX_PROGRESS_SECONDS)
    last_parent: str | None = None
    last_key = ""
    chain: list[list[int]] = []  # the totals of the last parent and its ancestors

    def flush() -> None:
        with transaction.atomic():  # one commit per batch
            # Vanished first: a key listed out of the index's order may be in both lists,
            # and then it was listed.
            if vanished:
                SourceObject.objects.filter(source_id=source.pk, path__in=vanished).update(vanished_at=timezone.now())
            index_rows_upsert(batch)
            # One UPDATE per batch: progress, heartbeat, where to go on, and whether the run
            # is still ours.
            if not jobs.job_heartbeat(
                _this_run(source.pk, generation), index_listed=count, index_resume_after=last_key
            ):
                raise IndexStopped
        batch.clear()
        vanished.clear()
        throttle.written()

    def vanish_before(path: str | None) -> None:
        """Index rows before `path` (all that are left, for None) were not listed: gone."""
        nonlocal current
        while current is not None and (path is None or current[0] < path):
            vanished.append(current[0])
            current = next(indexed, None)
            if len(vanished) >= INDEX_BATCH:
                flush()

    for info in objects:
        path = info.key[len(prefix) :]
        if not path or path.endswith("/"):
            continue
        vanish_before(path)
        last_key = info.key
        etag = info.etag[:200]
        unchanged = current is not None and current == (
            path,
            info.size,
            etag,
            info.last_modified,
            info.version_id,
            info.md5,
        )
        if current is not None and current[0] == path:
            current = next(indexed, None)
        parent, name = _parent_of(path)
        if not unchanged:
            batch.append(
                (
                    source.pk,
                    path,
                    parent,
                    name,
                    False,
                    info.size,
                    0,
                    etag,
                    info.last_modified,
                    info.version_id,
                    info.md5,
                    generation,
                    None,
                    "",
                )
            )
        count += 1
        total += info.size
        if parent != last_parent:  # keys come in order: a folder's objects are consecutive
            last_parent = parent
            chain = [folders.setdefault(folder, [0, 0]) for folder in _folder_and_ancestors(parent)]
        for totals in chain:
            totals[0] += 1
            totals[1] += info.size
        if throttle.due() or len(batch) >= INDEX_BATCH:
            flush()
    vanish_before(None)  # after the last listed key
    flush()
    for folder, (files, size) in folders.items():
        parent, name = _parent_of(folder)
        batch.append((source.pk, folder, parent, name, True, size, files, "", None, "", "", generation, None, ""))
        if len(batch) >= INDEX_BATCH:
            flush()  # fenced like the files' batches: a run taken over writes no folder
    flush()
    return count, total


def source_index(*, source_pk: int) -> bool:
    """List the whole source into its index. Returns False when it did not complete.

    Rows are merged in place (_index_rows), so the previous index stays browsable while the
    run goes on, and a run killed half-way is taken over where it stopped. At the end, the
    folders' totals are written and folders of older runs deleted.
    """
    if not _claim_index(source_pk):
        return False
    source = Source.objects.get(pk=source_pk)
    generation = source.index_generation  # this run's own number, taken with the claim
    try:
        backend = clients.backend_for(source)
        listing = _read_ahead(backend.iter_objects(source.normalized_prefix, after=source.index_resume_after))
        count, total = _index_rows(source, generation, listing)
    except IndexStopped:
        logger.info("index of source %s stopped: cancelled or taken over", source.public_id)
        return False
    except StorageError as error:
        _this_run(source_pk, generation).update(
            status=Source.Status.ERROR, last_error=error.message, index_finished_at=timezone.now()
        )
        logger.warning("indexing source %s failed: %s", source.public_id, error.message)
        raise
    now = timezone.now()
    with transaction.atomic():
        finished = _this_run(source_pk, generation).update(
            status=Source.Status.READY,
            last_error="",
            last_indexed_at=now,
            index_finished_at=now,
            index_listed=count,
            index_resume_after="",
            object_count=count,
            total_size=total,
        )
        if not finished:
            return False
        # Folder rows are all written at the end of a run (files vanished during it); those of
        # earlier runs name folders that are gone.
        SourceObject.objects.filter(source_id=source_pk, is_dir=True, generation__lt=generation).delete()
        SourceObject.objects.filter(
            source_id=source_pk, vanished_at__lt=now - settings.INDEX_VANISHED_RETENTION
        ).delete()
    return True


def sources_due_for_index() -> list[int]:
    """Sources whose schedule says re-index now (runs whose worker died are the job
    sweep's: web.jobs)."""
    now = timezone.now()
    scheduled = Source.objects.filter(
        reindex_every_hours__isnull=False,
        status__in=[Source.Status.READY, Source.Status.ERROR, Source.Status.CANCELLED, Source.Status.NEW],
    ).only("pk", "reindex_every_hours", "last_indexed_at", "index_finished_at")
    due = [
        source.pk
        for source in scheduled
        if source.reindex_every_hours is not None
        and (
            source.index_finished_at is None
            or source.index_finished_at <= now - dt.timedelta(hours=source.reindex_every_hours)
        )
    ]
    return due
