"""Drift: check every object of a published version and record which are missing or changed.

Cheap first: an object the source's index saw, since the last check, at exactly the pinned
ETag / version id is as published without asking storage. The rest get a HEAD (the backend
stat); an object whose ETag moved while its size did not (a re-upload of the same bytes,
another multipart split) is read once and kept when its sha256 is still the pinned one.
Beat runs it for every published version not verified for DRIFT_VERIFY_HOURS.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from packager.checksumming import MAX_LISTED_PATHS, with_retries
from packager.models import PackageEntry, PackageVersion, VersionEntry
from packager.versions import VersionError
from sources import checksums, clients
from sources.backends.errors import ObjectNotFound, StorageError
from sources.models import Source, SourceObject
from teams.audit import audit_record

logger = logging.getLogger(__name__)


def version_verify_request(*, version: PackageVersion, actor: Any = None) -> None:
    if not version.is_published:
        raise VersionError("Only a published version can be verified.", status=409)
    audit_record(actor=actor, action="version.verify", package=version.package, detail={"version": version.number})
    from packager import tasks

    transaction.on_commit(lambda: tasks.verify_version.delay(version.pk))


def versions_verify_due() -> int:
    """Queue the verify of published versions whose last check is older than DRIFT_VERIFY_HOURS."""
    from packager import tasks

    due = timezone.now() - dt.timedelta(hours=settings.DRIFT_VERIFY_HOURS)
    stale = timezone.now() - dt.timedelta(minutes=10)
    pks = list(
        PackageVersion.objects.filter(state=PackageVersion.State.PUBLISHED)
        .filter(Q(drift_checked_at__isnull=True, published_at__lt=due) | Q(drift_checked_at__lt=due))
        .filter(Q(verify_started_at__isnull=True) | Q(verify_started_at__lt=stale))
        .order_by("drift_checked_at")
        .values_list("pk", flat=True)[:200]
    )
    for pk in pks:
        tasks.verify_version.delay(pk)
    return len(pks)


def _agreeing_with_index(version: PackageVersion, source: Source, entries: list[VersionEntry]) -> set[int]:
    """Ids of entries the index saw, since the version's last check, at their pinned ETag/version."""
    since = version.drift_checked_at or version.published_at
    if source.last_indexed_at is None or since is None or source.last_indexed_at < since:
        return set()
    prefix = source.normalized_prefix
    relative = {entry.key[len(prefix) :]: entry for entry in entries if entry.key.startswith(prefix)}
    rows = SourceObject.objects.filter(source=source, path__in=list(relative), is_dir=False, vanished_at=None)
    agreeing: set[int] = set()
    for path, etag, version_id, size in rows.values_list("path", "etag", "version_id", "size"):
        entry = relative[path]
        same_version = version_id == entry.version_id if entry.version_id else True
        if same_version and etag == entry.etag and size == entry.size and (entry.etag or entry.version_id):
            agreeing.add(entry.pk)
    return agreeing


def version_verify_run(*, version_pk: int) -> None:
    """Check every object of the version and record which are missing or changed."""
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
            info = with_retries(lambda: backend.stat(entry.key, entry.version_id))
        except ObjectNotFound:
            return VersionEntry.Drift.MISSING
        if info.size != entry.size:
            return VersionEntry.Drift.CHANGED
        if entry.etag and info.etag and info.etag != entry.etag:
            if not entry.sha256 or entry.version_id:
                return VersionEntry.Drift.CHANGED
            # Same size, another ETag: only the bytes can tell.
            pin = checksums.Pin(key=entry.key, etag=info.etag, version_id="", size=info.size)
            read = with_retries(lambda: checksums.by_reading(backend, pin))
            return VersionEntry.Drift.NONE if read.sha256 == entry.sha256 else VersionEntry.Drift.CHANGED
        return VersionEntry.Drift.NONE

    entries = (
        version.entries.filter(kind=PackageEntry.Kind.POINTER)
        .order_by("source_id", "position")
        .only("id", "path", "source_id", "key", "etag", "version_id", "size", "sha256")
    )
    total = entries.count()
    PackageVersion.objects.filter(pk=version.pk).update(verify_done=0, verify_total=total)
    sources: dict[int, Source] = {}
    failures: list[str] = []
    done = 0
    last_written = time.monotonic()

    def advance(count: int) -> None:
        nonlocal done, last_written
        done += count
        if time.monotonic() - last_written >= 1.0:
            last_written = time.monotonic()
            PackageVersion.objects.filter(pk=version.pk).update(verify_done=done)

    def batches() -> Iterator[tuple[Source, list[VersionEntry]]]:
        batch: list[VersionEntry] = []
        for entry in entries.iterator(chunk_size=2000):
            if batch and (len(batch) >= 1000 or batch[-1].source_id != entry.source_id):
                yield sources[batch[-1].source_id or 0], batch
                batch = []
            source_pk = entry.source_id or 0
            if source_pk not in sources:
                sources[source_pk] = Source.objects.get(pk=source_pk)
            batch.append(entry)
        if batch:
            yield sources[batch[-1].source_id or 0], batch

    try:
        with ThreadPoolExecutor(max_workers=settings.CHECKSUM_CONCURRENCY) as pool:
            running: dict[Future[str], VersionEntry] = {}

            def drain(block_until: int) -> None:
                while len(running) > block_until:
                    finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in finished:
                        entry = running.pop(future)
                        advance(1)
                        try:
                            state = future.result()
                        except StorageError as error:
                            failures.append(f"{entry.path}: {error.message}")
                            continue
                        if state == VersionEntry.Drift.MISSING:
                            missing.append(entry.path)
                        elif state == VersionEntry.Drift.CHANGED:
                            changed.append(entry.path)

            for source, batch in batches():
                agreeing = _agreeing_with_index(version, source, batch)
                advance(len(agreeing))
                for entry in batch:
                    if entry.pk in agreeing:
                        continue
                    running[pool.submit(check, source, entry)] = entry
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
                verify_done=done,
                error="" if not failures else f"Verify could not reach {len(failures)} objects: {failures[0]}",
            )
    finally:
        PackageVersion.objects.filter(pk=version.pk).update(verify_started_at=None)
