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
from django.db.models.functions import Collate

from packager.models import Package, PackageEntry, PackageVersion, VersionEntry
from packager.paths import first_reserved, reserved_message
from sources.models import Source, SourceObject
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
    latest = package.versions.exclude(state=PackageVersion.State.FAILED).order_by("-number").first()
    if latest is not None and draft_changes(package, page=0).is_empty:
        raise VersionError(
            f"Nothing to publish: the draft is the same as version {latest.number} "
            "(same files, and storage unchanged as far as the index knows). Change something, or re-index "
            "the source if files changed in storage.",
            status=409,
        )
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
    #: one page of every change, in path order (kind: added, removed, changed, storage)
    changes: list[dict[str, Any]] = field(default_factory=list)
    #: the cursor of the next page (the last path listed), "" at the end
    next_after: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.added_count or self.removed_count or self.changed_count)

    @property
    def total(self) -> int:
        return self.added_count + self.removed_count + self.changed_count


def previous_version(version: PackageVersion) -> PackageVersion | None:
    return (
        PackageVersion.objects.filter(
            package_id=version.package_id, number__lt=version.number, state=PackageVersion.State.PUBLISHED
        )
        .order_by("-number")
        .first()
    )


# A row of either side: path, size, what must be equal for "unchanged", and a note.
_Row = tuple[str, int, tuple[Any, ...], str]


def _merge(new_rows: Iterator[_Row], old_rows: Iterator[_Row], *, limit: int, after: str, page: int) -> Diff:
    """Added, removed and changed paths of two lists in code-point order, flat in memory.

    Every change is counted; `limit` of each kind are kept (the API's lists) and `page`
    changes after the path `after` make one page of `changes`.
    """
    diff = Diff()

    def note(kind: str, record: dict[str, Any]) -> None:
        setattr(diff, f"{kind}_count", getattr(diff, f"{kind}_count") + 1)
        listed = getattr(diff, kind)
        if len(listed) < limit:
            listed.append(record)
        if record["path"] > after:
            if len(diff.changes) < page:
                diff.changes.append({"kind": record.get("why") or kind, **record})
            elif diff.changes and not diff.next_after:
                diff.next_after = diff.changes[-1]["path"]

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
            if new[2] != old[2] or new[3] or old[3]:
                record = {"path": new[0], "size": new[1], "previous_size": old[1]}
                if new[3] or old[3]:
                    record["why"] = new[3] or old[3]
                note("changed", record)
            new, old = next(new_rows, None), next(old_rows, None)
    return diff


def version_diff(
    version: PackageVersion, previous: PackageVersion | None, *, limit: int = 500, after: str = "", page: int = 200
) -> Diff:
    """What changed between two versions; `changes` is one page of them after the path `after`."""

    def rows(of: PackageVersion | None) -> Iterator[_Row]:
        if of is None:
            return
        entries = of.entries.order_by("position").values_list("path", "size", "sha256")
        for path, size, sha256 in entries.iterator(chunk_size=5000):
            yield path, size, (size, sha256), ""

    return _merge(rows(version), rows(previous), limit=limit, after=after, page=page)


def _moved_in_storage(version: PackageVersion) -> set[str]:
    """Paths of the version whose object the index has since seen change or vanish.

    The index, not storage, is asked (a query per thousand entries): it is as fresh as
    the last index run or drift check, which is what a page can afford.
    """
    moved: set[str] = set()
    pointers = version.entries.filter(kind=PackageEntry.Kind.POINTER)

    def check(source: Source, batch: dict[str, tuple[str, str, str]]) -> None:
        seen = SourceObject.objects.filter(source=source, path__in=list(batch), is_dir=False, vanished_at=None)
        now = {path: (etag, version_id) for path, etag, version_id in seen.values_list("path", "etag", "version_id")}
        for relative, (path, etag, version_id) in batch.items():
            current = now.get(relative)
            if current is None:
                moved.add(path)
            elif version_id and current[1]:
                if current[1] != version_id:
                    moved.add(path)
            elif etag and current[0] and current[0] != etag:
                moved.add(path)

    for source in Source.objects.filter(pk__in=pointers.values("source_id")):
        prefix = source.normalized_prefix
        batch: dict[str, tuple[str, str, str]] = {}
        entries = pointers.filter(source=source).values_list("path", "key", "etag", "version_id")
        for path, key, etag, version_id in entries.iterator(chunk_size=2000):
            if not key.startswith(prefix):
                continue
            batch[key[len(prefix) :]] = (path, etag, version_id)
            if len(batch) >= 1000:
                check(source, batch)
                batch = {}
        if batch:
            check(source, batch)
    return moved


def draft_changes(package: Package, *, after: str = "", page: int = 50) -> Diff:
    """The draft's unpublished changes since the latest published version.

    A path is changed when it points elsewhere (another object, kind or text) or when the
    object the version pinned has since changed or vanished in storage (as the index saw).
    """
    # The newest version that is or will be published: one being checksummed counts.
    latest = package.versions.exclude(state=PackageVersion.State.FAILED).order_by("-number").first()
    moved = _moved_in_storage(latest) if latest is not None else set()

    def draft_rows() -> Iterator[_Row]:
        entries = package.entries.order_by(Collate("path", _codepoint_collation().strip('"'))).values_list(
            "path", "size", "kind", "source_id", "key", "text_file"
        )
        for path, size, kind, source_id, key, text in entries.iterator(chunk_size=5000):
            yield path, size, (kind, source_id, key, text), ""

    def version_rows() -> Iterator[_Row]:
        if latest is None:
            return
        entries = latest.entries.order_by("position").values_list(
            "path", "size", "kind", "source_id", "key", "text_name"
        )
        for path, size, kind, source_id, key, text in entries.iterator(chunk_size=5000):
            yield path, size, (kind, source_id, key, text), "storage" if path in moved else ""

    return _merge(draft_rows(), version_rows(), limit=0, after=after, page=page)
