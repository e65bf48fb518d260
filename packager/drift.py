"""Drift: re-stat every object of a published version and record which are missing or changed."""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from packager.checksumming import MAX_LISTED_PATHS, with_retries
from packager.models import PackageEntry, PackageVersion, VersionEntry
from packager.versions import VersionError
from sources import clients
from sources.backends.errors import ObjectNotFound, StorageError
from sources.models import Source
from teams.audit import audit_record

logger = logging.getLogger(__name__)


def version_verify_request(*, version: PackageVersion, actor: Any = None) -> None:
    if not version.is_published:
        raise VersionError("Only a published version can be verified.", status=409)
    audit_record(actor=actor, action="version.verify", package=version.package, detail={"version": version.number})
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
            info = with_retries(lambda: backend.stat(entry.key, entry.version_id))
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
