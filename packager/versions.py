"""Published versions: snapshot the draft, checksum every object, seal it with a top hash.

Publishing happens in two steps. The request copies the draft into VersionEntry rows in
one INSERT … SELECT (so the version is exactly what the curator saw when they pressed
Publish) and enqueues `packager.tasks.publish_version`. The task then makes sure every data
file has sha256 and md5 — from the checksum cache, from what the store vouches for, or
from one streamed read — and seals the version: top hash, folder aggregates, what the
exports compute once, state `published`.

The task is idempotent: it claims the version with a conditional update that a heartbeat
keeps fresh, writes results as it goes, and a rerun (after a worker was killed) skips
every entry that already has both hashes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from packager import exports
from packager.models import Package, PackageEntry, PackageVersion, VersionEntry, VersionFolder
from packager.paths import first_reserved, reserved_message
from sources import checksums, clients
from sources.backends import ObjectNotFound, StorageError
from sources.models import ObjectChecksum, Source

logger = logging.getLogger(__name__)

# Entries handed to the thread pool at a time (bounds memory whatever the version's size).
CHUNK = 256
# Failed paths kept on a failed version, and drifted paths kept on a verified one.
MAX_LISTED_PATHS = 1000
_TRANSIENT = {"timeout", "unreachable"}


class VersionError(Exception):
    def __init__(self, message: str, status: int = 422) -> None:  # the API's status
        super().__init__(message)
        self.message = message
        self.status = status


# Publishing (the request) -------------------------------------------------------------


def _codepoint_collation() -> str:
    # UTF-8 byte order is code-point order: SQLite's BINARY and PostgreSQL's "C" compare bytes.
    return '"C"' if connection.vendor == "postgresql" else "BINARY"


def _snapshot(version: PackageVersion) -> None:
    """Copy the draft's entries into the version, ranked by path in code-point order."""
    quote = connection.ops.quote_name
    entry_table = quote(VersionEntry._meta.db_table)
    draft_table = quote(PackageEntry._meta.db_table)
    columns = ["path", "parent", "kind", "size", "sha256", "md5", "source_id", "key", "version_id", "etag"]
    copied = ", ".join(quote(column) for column in columns)
    order = f"{quote('path')} COLLATE {_codepoint_collation()}"
    # Table and column names come from the models, quoted by the backend; values are bound.
    sql = (
        f"INSERT INTO {entry_table} (package_version_id, position, drift, text_name, last_modified, {copied}) "  # noqa: S608
        f"SELECT %s, ROW_NUMBER() OVER (ORDER BY {order}) - 1, '', {quote('text_file')}, {quote('last_modified')}, "
        f"{copied} FROM {draft_table} WHERE package_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [version.pk, version.package_id])


@transaction.atomic
def package_publish(*, package: Package, message: str = "", created_by: Any = None) -> PackageVersion:
    """Freeze the draft into the next version and enqueue its checksumming."""
    # The package row is locked so that two publishes never take the same number.
    Package.objects.select_for_update().filter(pk=package.pk).first()
    totals = package.entries.aggregate(count=Count("id"), files=Count("id", filter=Q(kind="pointer")), size=Sum("size"))
    if not totals["count"]:
        raise VersionError("This package is empty: add files before publishing a version.")
    if reserved := first_reserved(package.entries.values_list("path", flat=True).iterator(chunk_size=5000)):
        raise VersionError(f"{reserved_message(reserved)} Move or remove it, then publish.")
    number = (package.versions.aggregate(last=Max("number"))["last"] or 0) + 1
    version = PackageVersion.objects.create(
        package=package,
        number=number,
        message=message.strip(),
        created_by=created_by,
        entry_count=totals["count"],
        file_count=totals["files"],
        total_size=totals["size"] or 0,
        progress_total=totals["files"],
    )
    _snapshot(version)
    from packager import tasks

    transaction.on_commit(lambda: tasks.publish_version.delay(version.pk))
    return version


def version_confirm_read(*, version: PackageVersion) -> PackageVersion:
    """The curator agrees to read `bytes_to_read` bytes: the task carries on."""
    updated = PackageVersion.objects.filter(
        pk=version.pk, state=PackageVersion.State.CHECKSUMMING, awaiting_confirmation=True
    ).update(read_confirmed=True, awaiting_confirmation=False)
    if not updated:
        raise VersionError("This version is not waiting for a confirmation.", status=409)
    from packager import tasks

    transaction.on_commit(lambda: tasks.publish_version.delay(version.pk))
    version.refresh_from_db()
    return version


# The task -----------------------------------------------------------------------------


def _claim(version_pk: int) -> bool:
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.PUBLISH_HEARTBEAT_SECONDS * 5)
    return (
        PackageVersion.objects.filter(
            pk=version_pk, state=PackageVersion.State.CHECKSUMMING, awaiting_confirmation=False
        )
        .filter(Q(task_started_at__isnull=True) | Q(task_started_at__lt=stale))
        .update(task_started_at=now)
        == 1
    )


@dataclass
class _Run:
    """What a publish run has done so far, written to the version about once a second."""

    version: PackageVersion
    done: int = 0
    bytes_done: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    results: list[tuple[VersionEntry, checksums.Checksummed]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_flush: float = 0.0

    def add_bytes(self, count: int) -> None:
        with self.lock:
            self.bytes_done += count

    def flush(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_flush < settings.PUBLISH_HEARTBEAT_SECONDS and len(self.results) < 2000:
            return
        self.last_flush = now
        results, self.results = self.results, []
        by_source: dict[int, list[checksums.Checksummed]] = {}
        changed: list[VersionEntry] = []
        for entry, result in results:
            entry.sha256, entry.md5 = result.sha256, result.md5
            entry.etag, entry.version_id, entry.size = result.etag, result.version_id, result.size
            if result.info is not None and result.info.last_modified is not None:
                entry.last_modified = result.info.last_modified
            changed.append(entry)
            by_source.setdefault(entry.source_id or 0, []).append(result)
        with transaction.atomic():
            VersionEntry.objects.bulk_update(
                changed, ["sha256", "md5", "etag", "version_id", "size", "last_modified"], batch_size=500
            )
            for source_pk, found in by_source.items():
                checksums.remember(Source(pk=source_pk), found)
            with self.lock:
                bytes_done = self.bytes_done
            PackageVersion.objects.filter(pk=self.version.pk).update(
                progress_done=self.done,
                progress_bytes_done=bytes_done,
                task_started_at=timezone.now(),  # the heartbeat
            )


def _pending(version: PackageVersion) -> Iterator[list[VersionEntry]]:
    """Data entries still missing a hash, a chunk at a time, grouped by source."""
    rows = (
        VersionEntry.objects.filter(package_version=version, kind=PackageEntry.Kind.POINTER)
        .filter(Q(sha256="") | Q(md5=""))
        .order_by("source_id", "position")
        .only("id", "path", "source_id", "key", "etag", "version_id", "size", "last_modified", "sha256", "md5")
    )
    chunk: list[VersionEntry] = []
    for entry in rows.iterator(chunk_size=2000):
        if chunk and (len(chunk) >= CHUNK or chunk[-1].source_id != entry.source_id):
            yield chunk
            chunk = []
        chunk.append(entry)
    if chunk:
        yield chunk


def _pin(entry: VersionEntry) -> checksums.Pin:
    return checksums.Pin(key=entry.key, etag=entry.etag, version_id=entry.version_id, size=entry.size)


def _with_retries(call: Callable[[], Any]) -> Any:
    for attempt in range(3):
        try:
            return call()
        except StorageError as error:
            if error.reason not in _TRANSIENT or attempt == 2:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _run_parallel(
    run: _Run,
    chunks: Iterable[list[VersionEntry]],
    work: Callable[[Source, VersionEntry], checksums.Checksummed | None],
) -> None:
    """Apply `work` to every entry on a thread pool, flushing results from this thread."""
    sources: dict[int, Source] = {}
    with ThreadPoolExecutor(max_workers=settings.CHECKSUM_CONCURRENCY) as pool:
        running: dict[Future[checksums.Checksummed | None], VersionEntry] = {}
        for chunk in chunks:
            source_pk = chunk[0].source_id or 0
            if source_pk not in sources:
                sources[source_pk] = Source.objects.get(pk=source_pk)
            source = sources[source_pk]
            for entry in chunk:
                running[pool.submit(work, source, entry)] = entry
                # Keep the queue short: memory stays flat whatever the number of entries.
                while len(running) >= settings.CHECKSUM_CONCURRENCY * 4:
                    _collect(run, running, timeout=1.0)
            run.flush()
        while running:
            _collect(run, running, timeout=1.0)
    run.flush(force=True)


def _collect(run: _Run, running: dict[Future[Any], VersionEntry], *, timeout: float) -> None:
    finished, _ = wait(list(running), timeout=timeout, return_when=FIRST_COMPLETED)
    for future in finished:
        entry = running.pop(future)
        try:
            result = future.result()
        except StorageError as error:
            run.failures.append({"path": entry.path, "reason": error.message})
            continue
        except Exception as error:  # one odd object must not lose the others' work
            logger.exception("Checksumming %s failed", entry.path)
            run.failures.append({"path": entry.path, "reason": f"Unexpected error: {type(error).__name__}."})
            continue
        if result is not None:
            run.done += 1
            run.results.append((entry, result))
    run.flush()


def _fill_from_cache(version: PackageVersion) -> None:
    """Hashes packager already has for the same object at the same ETag/version: one UPDATE.

    The correlated lookups walk ObjectChecksum's unique (source, key, etag, version_id)
    index, so a version of 100,000 known objects costs one statement, not 100,000.
    """
    match = ObjectChecksum.objects.filter(
        source=OuterRef("source"),
        key=OuterRef("key"),
        etag=OuterRef("etag"),
        version_id=OuterRef("version_id"),
        size=OuterRef("size"),
    )
    VersionEntry.objects.filter(package_version=version, kind=PackageEntry.Kind.POINTER).filter(
        Q(sha256="") | Q(md5="")
    ).filter(Exists(match)).update(sha256=Subquery(match.values("sha256")[:1]), md5=Subquery(match.values("md5")[:1]))


def _check_stores(run: _Run) -> None:
    """Take both hashes from the store where it vouches for them (S3: full-object
    ChecksumSHA256 plus an MD5 ETag); the rest is left for reading."""

    def look(source: Source, entry: VersionEntry) -> checksums.Checksummed | None:
        backend = clients.backend_for(source)
        _, found = _with_retries(lambda: checksums.from_store(backend, _pin(entry)))
        return found

    vouching: dict[int, bool] = {}

    def of_vouching_stores(chunks: Iterable[list[VersionEntry]]) -> Iterator[list[VersionEntry]]:
        for chunk in chunks:
            source_pk = chunk[0].source_id or 0
            if source_pk not in vouching:
                source = Source.objects.get(pk=source_pk)
                vouching[source_pk] = clients.backend_for(source).vouches_for_checksums
            if vouching[source_pk]:
                yield chunk

    _run_parallel(run, of_vouching_stores(_pending(run.version)), look)


def _read_objects(run: _Run) -> None:
    def read(source: Source, entry: VersionEntry) -> checksums.Checksummed:
        backend = clients.backend_for(source)
        return _with_retries(lambda: checksums.by_reading(backend, _pin(entry), on_bytes=run.add_bytes))

    _run_parallel(run, _pending(run.version), read)


def version_publish_run(*, version_pk: int) -> None:
    """The body of the publish task: checksum what is missing, then seal the version."""
    if not _claim(version_pk):
        return
    version = PackageVersion.objects.select_related("package").get(pk=version_pk)
    pointer_entries = version.entries.filter(kind=PackageEntry.Kind.POINTER)
    _fill_from_cache(version)
    run = _Run(
        version=version,
        done=pointer_entries.exclude(sha256="").exclude(md5="").count(),
        bytes_done=version.progress_bytes_done,  # a resumed run carries on counting
    )
    try:
        if not version.store_checked:
            _check_stores(run)
            missing = pointer_entries.filter(Q(sha256="") | Q(md5=""))
            to_read = missing.aggregate(size=Sum("size"))["size"] or 0
            PackageVersion.objects.filter(pk=version.pk).update(
                store_checked=True, bytes_to_read=to_read, progress_bytes_total=to_read
            )
            version.refresh_from_db()
        if version.bytes_to_read > settings.CHECKSUM_CONFIRM_BYTES and not version.read_confirmed:
            PackageVersion.objects.filter(pk=version.pk).update(awaiting_confirmation=True)
            return
        if not run.failures:
            done_before, bytes_before = run.done, run.bytes_done
            _read_objects(run)
            logger.info(
                "Version %s: read %d objects (%d bytes) to checksum them",
                version_pk,
                run.done - done_before,
                run.bytes_done - bytes_before,
            )
        if run.failures:
            _fail(version, run.failures)
            return
        try:
            _seal(version)
        except (OSError, StorageError) as error:
            # A text file that cannot be read back from storage: say so rather than retry forever.
            reason = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            _fail(version, [{"path": "(text files and exports)", "reason": reason}])
    finally:
        PackageVersion.objects.filter(pk=version.pk).update(task_started_at=None)


def version_resume_stalled() -> int:
    """Enqueue the publish task again for versions nobody is working on (run by beat)."""
    from packager import tasks

    stale = timezone.now() - dt.timedelta(seconds=settings.PUBLISH_HEARTBEAT_SECONDS * 5)
    stalled = PackageVersion.objects.filter(
        state=PackageVersion.State.CHECKSUMMING, awaiting_confirmation=False
    ).filter(Q(task_started_at__isnull=True, created_at__lt=stale) | Q(task_started_at__lt=stale))
    pks = list(stalled.values_list("pk", flat=True)[:100])
    for pk in pks:
        tasks.publish_version.delay(pk)
    return len(pks)


def _fail(version: PackageVersion, failures: list[dict[str, str]]) -> None:
    count = len(failures)
    first = failures[0]
    files = f"{count} file{'s' if count != 1 else ''}"
    reason = f"{files} could not be checksummed; the first, “{first['path']}”: {first['reason']}"
    PackageVersion.objects.filter(pk=version.pk).update(
        state=PackageVersion.State.FAILED, error=reason, failed_paths=failures[:MAX_LISTED_PATHS]
    )


def top_hash(rows: Iterable[tuple[str, int, str]]) -> str:
    """sha256 over `path NUL size NUL sha256hex LF` for every entry in code-point order."""
    digest = hashlib.sha256()
    for path, size, sha256 in rows:
        digest.update(f"{path}\0{size}\0{sha256}\n".encode())
    return digest.hexdigest()


def _seal(version: PackageVersion) -> None:
    """One ordered pass: the top hash and the folder aggregates; then publish."""
    folders: dict[str, list[int]] = {}
    count = files = total = 0
    source_ids: set[int] = set()

    def rows() -> Iterator[tuple[str, int, str]]:
        nonlocal count, files, total
        entries = version.entries.order_by("position").values_list("path", "size", "sha256", "kind", "source_id")
        for path, size, sha256, kind, source_id in entries.iterator(chunk_size=5000):
            if source_id is not None:
                source_ids.add(source_id)
            count += 1
            total += size
            files += kind == PackageEntry.Kind.POINTER
            end = path.find("/")
            while end != -1:
                folder = folders.setdefault(path[: end + 1], [0, 0])
                folder[0] += size
                folder[1] += 1
                end = path.find("/", end + 1)
            yield path, size, sha256

    sealed = top_hash(rows())
    VersionFolder.objects.filter(package_version=version).delete()
    VersionFolder.objects.bulk_create(
        (
            VersionFolder(
                package_version=version,
                path=path,
                parent=path[:-1].rpartition("/")[0] + ("/" if "/" in path[:-1] else ""),
                size=size,
                file_count=file_count,
            )
            for path, (size, file_count) in folders.items()
        ),
        batch_size=2000,
    )
    version.top_hash = sealed
    version.entry_count, version.file_count, version.total_size = count, files, total
    prepared = exports.version_prepare(version=version)
    with transaction.atomic():
        PackageVersion.objects.filter(pk=version.pk).update(
            state=PackageVersion.State.PUBLISHED,
            published_at=timezone.now(),
            top_hash=sealed,
            entry_count=count,
            file_count=files,
            total_size=total,
            progress_done=files,
            exports=prepared,
            source_ids=sorted(source_ids),
            error="",
        )
        # Versions may finish out of order: "latest" only ever moves forward.
        Package.objects.filter(pk=version.package_id).filter(
            Q(latest_version__isnull=True) | Q(latest_version__number__lt=version.number)
        ).update(latest_version=version)


# Differences between versions ---------------------------------------------------------


@dataclass
class Diff:
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    added_count: int = 0
    removed_count: int = 0
    changed_count: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.added_count or self.removed_count or self.changed_count)


def previous_version(version: PackageVersion) -> PackageVersion | None:
    return (
        PackageVersion.objects.filter(
            package_id=version.package_id, number__lt=version.number, state=PackageVersion.State.PUBLISHED
        )
        .order_by("-number")
        .first()
    )


def version_diff(version: PackageVersion, previous: PackageVersion | None, *, limit: int = 500) -> Diff:
    """Added, removed and changed paths: a merge of two lists in code-point order, flat in memory."""
    diff = Diff()

    def rows(of: PackageVersion | None) -> Iterator[tuple[str, int, str]]:
        if of is None:
            return iter(())
        return of.entries.order_by("position").values_list("path", "size", "sha256").iterator(chunk_size=5000)

    def note(kind: str, record: dict[str, Any]) -> None:
        setattr(diff, f"{kind}_count", getattr(diff, f"{kind}_count") + 1)
        listed = getattr(diff, kind)
        if len(listed) < limit:
            listed.append(record)

    new_rows, old_rows = rows(version), rows(previous)
    new, old = next(new_rows, None), next(old_rows, None)
    while new is not None or old is not None:
        if old is None or (new is not None and new[0] < old[0]):
            assert new is not None
            note("added", {"path": new[0], "size": new[1]})
            new = next(new_rows, None)
        elif new is None or old[0] < new[0]:
            note("removed", {"path": old[0], "size": old[1]})
            old = next(old_rows, None)
        else:
            if new[1:] != old[1:]:
                note("changed", {"path": new[0], "size": new[1], "previous_size": old[1]})
            new, old = next(new_rows, None), next(old_rows, None)
    return diff


# Drift ----------------------------------------------------------------------------------


def version_verify_request(*, version: PackageVersion) -> None:
    if not version.is_published:
        raise VersionError("Only a published version can be verified.", status=409)
    from packager import tasks

    transaction.on_commit(lambda: tasks.verify_version.delay(version.pk))


def version_verify_run(*, version_pk: int) -> None:
    """Re-stat every object of the version and record which are missing or changed."""
    now = timezone.now()
    stale = now - dt.timedelta(minutes=10)
    claimed = (
        PackageVersion.objects.filter(pk=version_pk, state=PackageVersion.State.PUBLISHED)
        .filter(Q(verify_started_at__isnull=True) | Q(verify_started_at__lt=stale))
        .update(verify_started_at=now)
    )
    if not claimed:
        return
    version = PackageVersion.objects.get(pk=version_pk)
    missing: list[str] = []
    changed: list[str] = []

    def check(source: Source, entry: VersionEntry) -> str:
        backend = clients.backend_for(source)
        try:
            info = _with_retries(lambda: backend.stat(entry.key, entry.version_id))
        except ObjectNotFound:
            return VersionEntry.Drift.MISSING
        if info.size != entry.size or (entry.etag and info.etag and info.etag != entry.etag):
            return VersionEntry.Drift.CHANGED
        return VersionEntry.Drift.NONE

    entries = (
        version.entries.filter(kind=PackageEntry.Kind.POINTER)
        .order_by("source_id", "position")
        .only("id", "path", "source_id", "key", "etag", "version_id", "size")
    )
    sources: dict[int, Source] = {}
    failures: list[str] = []
    try:
        with ThreadPoolExecutor(max_workers=settings.CHECKSUM_CONCURRENCY) as pool:
            running: dict[Future[str], VersionEntry] = {}

            def drain(block_until: int) -> None:
                while len(running) > block_until:
                    finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in finished:
                        entry = running.pop(future)
                        try:
                            state = future.result()
                        except StorageError as error:
                            failures.append(f"{entry.path}: {error.message}")
                            continue
                        if state == VersionEntry.Drift.MISSING:
                            missing.append(entry.path)
                        elif state == VersionEntry.Drift.CHANGED:
                            changed.append(entry.path)

            for entry in entries.iterator(chunk_size=2000):
                source_pk = entry.source_id or 0
                if source_pk not in sources:
                    sources[source_pk] = Source.objects.get(pk=source_pk)
                running[pool.submit(check, sources[source_pk], entry)] = entry
                drain(settings.CHECKSUM_CONCURRENCY * 4)
            drain(0)
        with transaction.atomic():
            version.entries.exclude(drift="").update(drift="")
            for drift, paths in ((VersionEntry.Drift.MISSING, missing), (VersionEntry.Drift.CHANGED, changed)):
                for start in range(0, len(paths), 500):
                    version.entries.filter(path__in=paths[start : start + 500]).update(drift=drift)
            PackageVersion.objects.filter(pk=version.pk).update(
                drift_checked_at=timezone.now(),
                drift_missing=sorted(missing)[:MAX_LISTED_PATHS],
                drift_changed=sorted(changed)[:MAX_LISTED_PATHS],
                error="" if not failures else f"Verify could not reach {len(failures)} objects: {failures[0]}",
            )
    finally:
        PackageVersion.objects.filter(pk=version.pk).update(verify_started_at=None)
