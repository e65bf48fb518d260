"""The publish task: checksum every data file of a version, then seal it with a top hash.

Every data file gets sha256 and md5 — from the checksum cache, from what the store vouches
for, or from one streamed read — and the version is sealed: top hash, folder aggregates,
what the exports compute once, state `published`.

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
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from packager import doi, exports, published
from packager.models import Package, PackageEntry, PackageVersion, VersionEntry, VersionFolder
from sources import checksums, clients
from sources.backends import ObjectInfo
from sources.backends.errors import StorageError
from sources.models import ObjectChecksum, Source
from web.paths import folder_of

logger = logging.getLogger(__name__)

# Entries handed to the thread pool at a time (bounds memory whatever the version's size).
CHUNK = 256
# Failed paths kept on a failed version, and drifted paths kept on a verified one.
MAX_LISTED_PATHS = 1000
_TRANSIENT = {"timeout", "unreachable"}


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


def with_retries(call: Callable[[], Any]) -> Any:
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


def _pin_to_storage(version: PackageVersion) -> list[dict[str, str]]:
    """Pin every data entry to the object's current version id / ETag, read from storage now.

    The draft remembers what the index saw when a file was added; an object overwritten since
    (a new version in a versioned bucket, new bytes in another) must be what the version
    serves, with hashes of its own. One HEAD per entry (the backend's stat), on the pool;
    hashes are kept only where the pin did not move. The failures: objects gone.
    """
    failures: list[dict[str, str]] = []
    rows = (
        VersionEntry.objects.filter(package_version=version, kind=PackageEntry.Kind.POINTER, source__isnull=False)
        .order_by("source_id", "position")
        .only("id", "path", "source_id", "key", "etag", "version_id", "size", "last_modified", "sha256", "md5")
    )
    sources: dict[int, Source] = {}

    def look(entry: VersionEntry) -> ObjectInfo:
        source_pk = entry.source_id or 0
        return with_retries(lambda: clients.backend_for(sources[source_pk]).stat(entry.key, ""))

    def pin_chunk(pool: ThreadPoolExecutor, chunk: list[VersionEntry]) -> int:
        for entry in chunk:
            if (entry.source_id or 0) not in sources:
                sources[entry.source_id or 0] = Source.objects.get(pk=entry.source_id or 0)
        moved: list[VersionEntry] = []
        futures = [(entry, pool.submit(look, entry)) for entry in chunk]
        for entry, future in futures:
            try:
                info = future.result()
            except StorageError as error:
                failures.append({"path": entry.path, "reason": error.message})
                continue
            if (info.etag, info.version_id, info.size) != (entry.etag, entry.version_id, entry.size):
                entry.etag, entry.version_id, entry.size = info.etag, info.version_id, info.size
                entry.last_modified = info.last_modified or entry.last_modified
                entry.sha256 = entry.md5 = ""  # they described other bytes
                moved.append(entry)
        fields = ["etag", "version_id", "size", "last_modified", "sha256", "md5"]
        VersionEntry.objects.bulk_update(moved, fields, batch_size=500)
        PackageVersion.objects.filter(pk=version.pk).update(task_started_at=timezone.now())  # the heartbeat
        return len(moved)

    moved = 0
    with ThreadPoolExecutor(max_workers=settings.CHECKSUM_CONCURRENCY) as pool:
        chunk: list[VersionEntry] = []
        for entry in rows.iterator(chunk_size=2000):
            chunk.append(entry)
            if len(chunk) >= CHUNK:
                moved += pin_chunk(pool, chunk)
                chunk = []
        if chunk:
            moved += pin_chunk(pool, chunk)
    if moved:
        # Sizes may have moved with the pins: the version's totals follow.
        totals = version.entries.aggregate(size=Sum("size"))
        PackageVersion.objects.filter(pk=version.pk).update(total_size=totals["size"] or 0)
        logger.info("Version %s: %d entries pinned to newer objects than the draft recorded", version.pk, moved)
    return failures


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
        _, found = with_retries(lambda: checksums.from_store(backend, _pin(entry)))
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
        return with_retries(lambda: checksums.by_reading(backend, _pin(entry), on_bytes=run.add_bytes))

    _run_parallel(run, _pending(run.version), read)


def version_publish_run(*, version_pk: int) -> None:
    """The body of the publish task: checksum what is missing, then seal the version."""
    if not _claim(version_pk):
        return
    version = PackageVersion.objects.select_related("package").get(pk=version_pk)
    pointer_entries = version.entries.filter(kind=PackageEntry.Kind.POINTER)
    if not version.storage_pinned:
        try:
            gone = _pin_to_storage(version)
        except Exception:
            PackageVersion.objects.filter(pk=version.pk).update(task_started_at=None)
            raise
        if gone:
            _fail(version, gone)
            PackageVersion.objects.filter(pk=version.pk).update(task_started_at=None)
            return
        PackageVersion.objects.filter(pk=version.pk).update(storage_pinned=True)
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
                parent=folder_of(path),
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
        transaction.on_commit(lambda: published.version_published(version.pk))
        doi.doi_register_on_commit(version)
