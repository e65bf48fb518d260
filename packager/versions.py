"""Published versions: the request that snapshots the draft, and differences between versions.

Publishing happens in two steps. The request (package_publish) copies the draft into
VersionEntry rows in one INSERT … SELECT (so the version is exactly what the curator saw
when they pressed Publish) and enqueues `packager.tasks.publish_version`, which runs
packager.checksumming.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, Q, Sum

from packager.models import Package, PackageEntry, PackageVersion, VersionEntry
from packager.paths import first_reserved, reserved_message
from teams.audit import audit_record
from web.errors import ApplicationError

logger = logging.getLogger(__name__)


class VersionError(ApplicationError):
    pass


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
    locked = Package.objects.select_for_update().filter(pk=package.pk).first()
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
        # The citation metadata is frozen with the entries.
        metadata=locked.metadata if locked else package.metadata,
    )
    _snapshot(version)
    audit_record(actor=created_by, action="version.publish", package=package, detail={"version": number})
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
