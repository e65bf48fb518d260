"""Writes on packages and their entries."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from packager.catalog import is_readme, natural_key
from packager.models import AddMatchesJob, ApiToken, Package, PackageEntry, PackageFolder, VersionEntry
from packager.paths import InvalidPath, add_to_folders, ancestors, normalize_folder, normalize_path
from sources import clients
from sources.backends import ObjectInfo, StorageError
from sources.models import Source, SourceObject, SourceObjectQuerySet
from sources.search import InvalidSearch, Search, common_folder, matches
from teams import policy
from teams.audit import audit_record
from teams.models import Team
from web import jobs
from web.errors import ApplicationError
from web.paths import folder_of, name_of

logger = logging.getLogger(__name__)

MAX_TEXT_SIZE = 5 * 1024 * 1024


class PackageError(ApplicationError):
    """A request on a package that cannot be carried out, with a message for the user."""


class PathConflict(PackageError):
    status = 409


def _unique_slug(owner: Any, name: str, *, exclude_pk: int | None = None) -> str:
    base = slugify(name)[:180] or "package"
    slug, counter = base, 2
    taken = Package.objects.filter(owner=owner)
    if exclude_pk:
        taken = taken.exclude(pk=exclude_pk)
    while taken.filter(slug=slug).exists():
        slug, counter = f"{base}-{counter}", counter + 1
    return slug


def package_create(*, owner: Any, name: str, description: str = "", team: Team | None = None) -> Package:
    """A new package of `owner`, or with a team, the team's (the caller checks
    policy.can_create_in_team)."""
    name = name.strip()
    if not name:
        raise PackageError("Give the package a name.")
    for _ in range(3):
        try:
            with transaction.atomic():
                package = Package.objects.create(
                    owner=owner,
                    team=team,
                    name=name,
                    name_key=natural_key(name),
                    slug=_unique_slug(owner, name),
                    description=description.strip(),
                )
                audit_record(actor=owner, action="package.create", package=package)
                return package
        except IntegrityError:
            continue  # another request took the slug between the check and the insert
    raise PackageError("Could not give the package a unique address; try another name.")


def package_update(
    *, package: Package, name: str | None = None, description: str | None = None, actor: Any = None
) -> Package:
    if name is not None:
        if not name.strip():
            raise PackageError("Give the package a name.")
        package.name = name.strip()
        package.name_key = natural_key(package.name)
        package.slug = _unique_slug(package.owner, package.name, exclude_pk=package.pk)
    if description is not None:
        package.description = description.strip()
    package.save()
    changed = [field for field, value in (("name", name), ("description", description)) if value is not None]
    if changed:
        audit_record(actor=actor, action="package.update", package=package, detail={"fields": changed})
    return package


@transaction.atomic
def package_transfer(*, package: Package, team: Team | None, actor: Any) -> Package:
    """Give the package to a team the actor administers, or (None) take it back as the actor's own."""
    if not policy.can_move(actor, package, team):
        raise PackageError("You can move packages only into teams you administer.", status=403)
    before = package.team
    package.team = team
    if team is None and package.owner_id != actor.pk:
        package.owner = actor
        package.slug = _unique_slug(actor, package.name, exclude_pk=package.pk)
    package.save(update_fields=["team", "owner", "slug", "updated_at"])
    audit_record(
        actor=actor,
        action="package.move",
        team=team or before,
        package=package,
        detail={"from": before.name if before else "", "to": team.name if team else ""},
    )
    return package


@transaction.atomic
def package_delete(*, package: Package, actor: Any = None) -> None:
    text_files = [entry.text_file.name or "" for entry in package.entries.filter(kind=PackageEntry.Kind.TEXT)]
    audit_record(actor=actor, action="package.delete", package=package)
    package.delete()
    _delete_files_on_commit(text_files)


def _delete_files_on_commit(names: Iterable[str]) -> None:
    """Delete text files once the transaction commits, unless a version still holds them."""
    from django.core.files.storage import default_storage

    kept = [name for name in names if name]

    def delete_files() -> None:
        held = set(VersionEntry.objects.filter(text_name__in=kept).values_list("text_name", flat=True))
        for name in kept:
            if name not in held:
                default_storage.delete(name)

    if kept:
        transaction.on_commit(delete_files)


# Folder aggregates -----------------------------------------------------------------


def _lock(package: Package) -> None:
    """Serialize writes on one package, so two requests never update a folder's totals
    from the same stale reading (PostgreSQL; SQLite serializes writers itself)."""
    list(Package.objects.select_for_update().filter(pk=package.pk).values_list("pk"))


def _update_folders(
    package: Package, *, added: Iterable[tuple[str, int]] = (), removed: Iterable[tuple[str, int]] = ()
) -> None:
    """Apply entries added and removed (path, size) to the package's folder aggregates.

    Costs a query per 500 folders touched, whatever the number of entries; a folder left
    with no file is deleted. Call it inside the transaction that changes the entries.
    """
    deltas: dict[str, list[int]] = {}
    for path, size in added:
        add_to_folders(deltas, path, size)
    for path, size in removed:
        add_to_folders(deltas, path, -size, -1)
    changed = [folder for folder, (size, count) in deltas.items() if size or count]
    if deltas.get("", [0])[0]:
        Package.objects.filter(pk=package.pk).update(size_key=F("size_key") + deltas[""][0])
    for start in range(0, len(changed), 500):
        chunk = changed[start : start + 500]
        existing = {row.path: row for row in PackageFolder.objects.filter(package=package, path__in=chunk)}
        updated: list[PackageFolder] = []
        created: list[PackageFolder] = []
        for folder in chunk:
            size, count = deltas[folder]
            row = existing.get(folder)
            if row is None:
                row = PackageFolder(package=package, path=folder, parent=folder_of(folder), size=0, file_count=0)
                created.append(row)
            else:
                updated.append(row)
            row.size += size
            row.file_count += count
        emptied = {row.pk for row in updated if row.file_count <= 0}
        if emptied:
            PackageFolder.objects.filter(pk__in=emptied).delete()
        PackageFolder.objects.bulk_update(
            [row for row in updated if row.pk not in emptied], ["size", "file_count"], batch_size=500
        )
        PackageFolder.objects.bulk_create([row for row in created if row.file_count > 0])


@transaction.atomic
def package_folders_rebuild(*, package: Package) -> int:
    """Recompute a package's folder aggregates from its entries (after a bulk import, or to
    repair them); returns the number of folders. Reads the paths once, flat in memory per folder."""
    _lock(package)
    totals: dict[str, list[int]] = {}
    for path, size in package.entries.values_list("path", "size").iterator(chunk_size=5000):
        add_to_folders(totals, path, size)
    PackageFolder.objects.filter(package=package).delete()
    Package.objects.filter(pk=package.pk).update(size_key=totals.get("", [0])[0])
    PackageFolder.objects.bulk_create(
        (
            PackageFolder(package=package, path=folder, parent=folder_of(folder), size=size, file_count=count)
            for folder, (size, count) in totals.items()
        ),
        batch_size=2000,
    )
    return len(totals)


# Paths ----------------------------------------------------------------------------


def _check_paths(package: Package, new_paths: list[str], *, leaving: Collection[str] = ()) -> None:
    """Refuse paths that collide with each other or with the package's other entries.

    A path may not repeat, and a file may not stand where another entry needs a folder
    (entry "a" and entry "a/b" cannot both be in a ZIP).
    """
    existing = set(package.entries.values_list("path", flat=True)) - set(leaving)
    existing_folders = {folder for path in existing for folder in ancestors(path)}
    taken: list[str] = []
    seen: set[str] = set()
    new_folders: set[str] = set()
    for path in new_paths:
        if path in existing or path in seen:
            taken.append(path)
        elif f"{path}/" in existing_folders or f"{path}/" in new_folders:
            taken.append(f"{path} (a folder of that name exists)")
        seen.add(path)
        for folder in ancestors(path):
            new_folders.add(folder)
            if folder[:-1] in existing or folder[:-1] in seen:
                taken.append(f"{path} (“{folder[:-1]}” is a file)")
    if taken:
        shown = ", ".join(taken[:10]) + (f" and {len(taken) - 10} more" if len(taken) > 10 else "")
        raise PathConflict(f"These paths are already taken in the package: {shown}.")


# Pointer entries ------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    relative: str  # path below the selected item, used under the target folder
    info: ObjectInfo


def _objects_below(source: Source, folder: str) -> Iterator[ObjectInfo]:
    """Every object below a folder of the source, from the index when there is one."""
    if source.is_indexed:
        rows = SourceObject.objects.filter(
            source=source, is_dir=False, vanished_at__isnull=True, path__startswith=folder
        ).order_by("path")
        for row in rows.iterator(chunk_size=2000):
            yield ObjectInfo(
                key=source.key_for(row.path),
                size=row.size,
                etag=row.etag,
                last_modified=row.last_modified,
                version_id=row.version_id,
                md5=row.md5,
            )
    else:
        yield from clients.backend_for(source).iter_objects(source.key_for(folder))


def _object_info(source: Source, path: str) -> ObjectInfo:
    row = SourceObject.objects.filter(source=source, path=path, is_dir=False, vanished_at__isnull=True).first()
    if row is not None:
        return ObjectInfo(
            key=source.key_for(path),
            size=row.size,
            etag=row.etag,
            last_modified=row.last_modified,
            version_id=row.version_id,
            md5=row.md5,
        )
    # Not in the index (new since the last listing): ask the storage itself.
    return clients.backend_for(source).stat(source.key_for(path))


def _select(source: Source, selected: Iterable[str], *, keep_folder_names: bool) -> list[_Found]:
    """Expand selected paths (relative to the source prefix; folders end in "/").

    A selected folder keeps its own name under the target, as a folder copied into a
    folder does; with keep_folder_names=False only what is below it lands there (a prefix).
    """
    found: list[_Found] = []
    prefix_length = len(source.normalized_prefix)
    for path in selected:
        if path == "" or path.endswith("/"):
            # "" is the whole source. A folder lands under the target with its own name: "raw/2024/" -> "<target>2024/…"
            start = len(folder_of(path)) if keep_folder_names else len(path)
            try:
                below = [_Found(info.key[prefix_length:][start:], info) for info in _objects_below(source, path)]
            except StorageError as error:
                raise PackageError(error.message) from error
            if not below:
                raise PackageError(f"Folder “{path}” holds no objects." if path else "The source holds no objects.")
            found.extend(below)
        else:
            try:
                info = _object_info(source, path)
            except StorageError as error:
                raise PackageError(error.message) from error
            found.append(_Found(name_of(path), info))
    return found


def _pointer_entry(package: Package, source: Source, path: str, info: ObjectInfo) -> PackageEntry:
    return PackageEntry(
        package=package,
        path=path,
        parent=folder_of(path),
        kind=PackageEntry.Kind.POINTER,
        source=source,
        key=info.key,
        size=info.size,
        etag=info.etag,
        version_id=info.version_id,
        md5=info.md5,
        last_modified=info.last_modified,
    )


class AddedEntries(list[PackageEntry]):
    """The entries an add created, and the storage keys it refused with the reason for each
    (a key that cannot be a package path: "..", a bidi character, ".git"…)."""

    def __init__(self, entries: Iterable[PackageEntry] = (), refused: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(entries)
        self.refused = list(refused)


@transaction.atomic
def package_add_objects(
    *,
    package: Package,
    source: Source,
    paths: list[str],
    target: str = "",
    keep_folder_names: bool = True,
    actor: Any = None,
) -> AddedEntries:
    """Add objects and whole folders of a source under a target folder of the package.

    Paths are relative to the source's prefix. Adding the same object at the same path
    again changes nothing; any other collision refuses the whole request. A key that cannot
    be a package path is left out and reported (AddedEntries.refused); the rest is added.
    """
    if not paths:
        raise PackageError("Select at least one file or folder.")
    _lock(package)
    try:
        folder = normalize_folder(target)
    except InvalidPath as error:
        raise PackageError(error.message) from error
    wanted: list[tuple[str, ObjectInfo]] = []
    refused: list[tuple[str, str]] = []
    for item in _select(source, paths, keep_folder_names=keep_folder_names):
        try:
            wanted.append((normalize_path(folder + item.relative), item.info))
        except InvalidPath as error:
            refused.append((item.info.key, error.message))
    if refused and not wanted:
        raise PackageError(" ".join(message for _, message in refused[:3]))
    current = {
        (entry.path): (entry.source_id, entry.key)
        for entry in package.entries.filter(path__in=[path for path, _ in wanted]).only("path", "source_id", "key")
    }
    fresh = [(path, info) for path, info in wanted if current.get(path) != (source.pk, info.key)]
    _check_paths(package, [path for path, _ in fresh])
    entries = [_pointer_entry(package, source, path, info) for path, info in fresh]
    PackageEntry.objects.bulk_create(entries, batch_size=1000)
    _update_folders(package, added=[(entry.path, entry.size) for entry in entries])
    package.save(update_fields=["updated_at"])
    if entries:
        audit_record(
            actor=actor,
            action="entries.add",
            package=package,
            detail={"count": len(entries), "source": source.name, "target": folder},
        )
    return AddedEntries(entries, refused)


@dataclass(frozen=True)
class _Matches:
    """The matches of a search, and where they land in the package."""

    rows: SourceObjectQuerySet  # in key order
    shared: int  # the length of their common folder, cut from every path
    folder: str  # the target folder


# The index columns a match is added from.
_MATCH_COLUMNS = ("path", "size", "etag", "last_modified", "version_id", "md5")
ADD_MATCHES_BATCH = 2000


def _matches(source: Source, search: Search, target: str) -> _Matches:
    if search.is_empty():
        raise PackageError("Give at least one search criterion.")
    try:
        rows = matches(source, search)
        paths = rows.values_list("path", flat=True)
        first, last = paths.first(), paths.last()
        folder = normalize_folder(target)
    except InvalidSearch as error:
        raise PackageError(str(error)) from error
    except InvalidPath as error:
        raise PackageError(error.message) from error
    if first is None or last is None:
        raise PackageError("Nothing in the index matches this search.")
    return _Matches(rows, len(common_folder(first, last)), folder)


def _entry_path(found: _Matches, path: str) -> str:
    try:
        return normalize_path(found.folder + path[found.shared :])
    except InvalidPath as error:
        raise PackageError(error.message) from error


def _check_matches(package: Package, source: Source, found: _Matches) -> None:
    """Refuse the whole add, before anything is written, if a match would collide."""
    current = {
        path: (source_id, key) for path, source_id, key in package.entries.values_list("path", "source_id", "key")
    }
    fresh = []
    for path in found.rows.values_list("path", flat=True).iterator(chunk_size=2000):
        entry_path = _entry_path(found, path)
        if current.get(entry_path) != (source.pk, source.key_for(path)):
            fresh.append(entry_path)
    _check_paths(package, fresh)


def _add_match_batch(package: Package, source: Source, found: _Matches, rows: list[tuple[Any, ...]]) -> int:
    """Add one batch of matches (value tuples in _MATCH_COLUMNS order) in the current
    transaction; a match already in the package at its path is skipped. How many were added."""
    wanted = {_entry_path(found, row[0]): row for row in rows}
    there = set(package.entries.filter(path__in=list(wanted), source=source).values_list("path", "key"))
    entries = [
        _pointer_entry(
            package,
            source,
            entry_path,
            ObjectInfo(source.key_for(path), size, etag, last_modified=modified, version_id=version_id, md5=md5),
        )
        for entry_path, (path, size, etag, modified, version_id, md5) in wanted.items()
        if (entry_path, source.key_for(path)) not in there
    ]
    PackageEntry.objects.bulk_create(entries, batch_size=1000)
    _update_folders(package, added=[(entry.path, entry.size) for entry in entries])
    return len(entries)


@transaction.atomic
def package_add_search(
    *, package: Package, source: Source, search: Search, target: str = "", actor: Any = None
) -> int | AddMatchesJob:
    """Add every indexed file that matches a search: how many entries were added, or the job
    that adds them when there are more than ADD_MATCHES_INLINE_LIMIT matches.

    The matches keep their folders below the deepest folder they all share, under the
    target folder. A collision refuses the whole request before anything is added. Inline,
    rows are read and written in batches: a few queries per thousand matches.
    """
    found = _matches(source, search, target)
    limit = settings.ADD_MATCHES_INLINE_LIMIT
    total = found.rows.order_by().values("path").count()  # reads the search index alone
    if total > limit:
        job = AddMatchesJob.objects.create(
            package=package,
            source=source,
            search=search.as_json(),
            target=target,
            total=total,
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
            **jobs.queued_fields(),
        )
        jobs.job_enqueue(_add_matches_task(), job.pk)
        audit_record(
            actor=actor,
            action="entries.add",
            package=package,
            detail={"count": total, "source": source.name, "target": target, "search": True, "job": True},
        )
        return job
    _lock(package)
    _check_matches(package, source, found)
    added = 0
    after = ""
    while batch := list(found.rows.filter(path__gt=after).values_list(*_MATCH_COLUMNS)[:ADD_MATCHES_BATCH]):
        added += _add_match_batch(package, source, found, batch)
        after = batch[-1][0]
    package.save(update_fields=["updated_at"])
    audit_record(
        actor=actor,
        action="entries.add",
        package=package,
        detail={"count": added, "source": source.name, "target": target, "search": True},
    )
    return added


def _add_matches_task() -> Any:
    from packager.tasks import add_matches

    return add_matches


ADD_MATCHES_JOBS = jobs.register(
    jobs.JobKind(
        name="add-matches",
        model=AddMatchesJob,
        waiting=lambda: Q(state__in=[AddMatchesJob.State.QUEUED, AddMatchesJob.State.RUNNING]),
        stale_seconds=lambda: settings.ADD_MATCHES_STALE_SECONDS,
        task=_add_matches_task,
        failed=lambda message: {"state": AddMatchesJob.State.FAILED, "error": message, "finished_at": timezone.now()},
    )
)


def _claim_add_job(job_pk: int) -> bool:
    running = Q(state=AddMatchesJob.State.RUNNING) & jobs.stale_before(ADD_MATCHES_JOBS)
    waiting = Q(state=AddMatchesJob.State.QUEUED) | running
    return jobs.job_claim(AddMatchesJob.objects.filter(waiting, pk=job_pk), state=AddMatchesJob.State.RUNNING)


def add_matches_job_run(*, job_pk: int) -> bool:
    """Add a job's matches, a batch per transaction; False when another worker has it or it is done.

    Each batch commits with the last key it handled, so a rerun after a killed worker
    resumes there; a batch it repeats adds nothing twice (same object, same path: skipped).
    """
    if not _claim_add_job(job_pk):
        return False
    job = AddMatchesJob.objects.select_related("package", "source", "requested_by").get(pk=job_pk)
    package, source = job.package, job.source
    try:
        _check_still_allowed(job)
        found = _matches(source, Search.from_json(job.search), job.target)
        if not job.resume_after:  # nothing kept yet: check every match, count from zero
            _check_matches(package, source, found)
            AddMatchesJob.objects.filter(pk=job.pk).update(added=0)
        after = job.resume_after
        while batch := list(found.rows.filter(path__gt=after).values_list(*_MATCH_COLUMNS)[:ADD_MATCHES_BATCH]):
            after = batch[-1][0]
            with transaction.atomic():
                _lock(package)
                added = _add_match_batch(package, source, found, batch)
                jobs.job_heartbeat(
                    AddMatchesJob.objects.filter(pk=job.pk), added=F("added") + added, resume_after=after
                )
    except (PackageError, IntegrityError) as error:
        # IntegrityError: an entry took one of the paths after the check (an edit meanwhile).
        message = error.message if isinstance(error, PackageError) else "A path was taken in the package meanwhile."
        AddMatchesJob.objects.filter(pk=job.pk).update(
            state=AddMatchesJob.State.FAILED, error=message, finished_at=timezone.now()
        )
        logger.info("adding matches to package %s failed: %s", package.public_id, message)
        return True
    Package.objects.filter(pk=package.pk).update(updated_at=timezone.now())
    AddMatchesJob.objects.filter(pk=job.pk).update(state=AddMatchesJob.State.DONE, finished_at=timezone.now())
    return True


def _check_still_allowed(job: AddMatchesJob) -> None:
    """The requester may still edit the package and read the source (roles change while a job waits)."""
    requester = job.requested_by
    if requester is None:
        return
    if not requester.is_active or not (
        policy.can_edit_package(requester, job.package) and policy.can_use_source(requester, job.source)
    ):
        raise PackageError(
            f"{requester.get_username()} may no longer add files of “{job.source.name}” to this package "
            "(their role changed); nothing more was added.",
            status=403,
        )


# Text entries ---------------------------------------------------------------------


def _validate_text(path: str, content: bytes) -> None:
    if len(content) > MAX_TEXT_SIZE:
        raise PackageError(f"“{path}” is larger than {MAX_TEXT_SIZE // (1024 * 1024)} MB; text files are kept small.")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PackageError(f"“{path}” is not UTF-8 text; binary files belong in a bucket.") from error
    if path.lower().endswith(".ipynb"):
        try:
            notebook = json.loads(text)
        except ValueError as error:
            raise PackageError(f"“{path}” is not a valid notebook: it is not JSON.") from error
        if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
            raise PackageError(f"“{path}” is not a valid notebook: it has no list of cells.")


@transaction.atomic
def package_write_text(*, package: Package, path: str, content: bytes | str, actor: Any = None) -> PackageEntry:
    """Create a text entry, or replace the content of the text entry at that path."""
    try:
        path = normalize_path(path)
    except InvalidPath as error:
        raise PackageError(error.message) from error
    data = content.encode("utf-8") if isinstance(content, str) else content
    _validate_text(path, data)
    _lock(package)
    entry = package.entries.select_for_update().filter(path=path).first()
    if entry is not None and entry.kind != PackageEntry.Kind.TEXT:
        raise PathConflict(f"“{path}” is a data file in this package; choose another name.")
    if entry is None:
        _check_paths(package, [path])
        entry = PackageEntry(package=package, path=path, parent=folder_of(path), kind=PackageEntry.Kind.TEXT)
    old_file = (entry.text_file.name or "") if entry.text_file else ""
    removed = [(path, entry.size)] if entry.pk else []
    entry.size = len(data)
    entry.sha256 = hashlib.sha256(data).hexdigest()
    entry.md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    entry.text_file.name = _store_text(entry, name_of(path), data)
    try:
        entry.save()
        _update_folders(package, added=[(path, entry.size)], removed=removed)
        package.save(update_fields=["updated_at"])
    except BaseException:
        entry.text_file.storage.delete(entry.text_file.name)
        raise
    if is_readme(path):
        # Kept for the catalog's search (the file itself is in the storage).
        package.readme_text = data.decode("utf-8", errors="replace")[:100_000]
        Package.objects.filter(pk=package.pk).update(readme_text=package.readme_text)
    # The old content goes only once the new one is committed: a failure keeps it.
    _delete_files_on_commit([old_file])
    audit_record(
        actor=actor, action="entries.write" if removed else "entries.add", package=package, detail={"path": path}
    )
    return entry


class OutOfSpace(PackageError):
    status = 507


def _store_text(entry: PackageEntry, filename: str, data: bytes) -> str:
    """Write the content under a new name; on a failed write (a full disk) remove what was written."""
    field = entry.text_file
    name = field.field.generate_filename(entry, filename)
    try:
        return field.storage.save(name, ContentFile(data), max_length=field.field.max_length)
    except OSError as error:
        try:
            field.storage.delete(name)  # a partial file (random name: nothing else has it)
        except OSError:
            logger.warning("could not remove the partial text file %s", name)
        if error.errno in {errno.ENOSPC, errno.EDQUOT}:
            raise OutOfSpace(
                "The server is out of disk space for text files; nothing was saved. Try again later "
                "or ask the administrator to free space."
            ) from error
        logger.exception("writing text file %s failed", name)
        raise PackageError("The text file could not be stored; nothing was saved. Try again later.") from error


# Moving and removing --------------------------------------------------------------


def entries_at(package: Package, path: str) -> list[PackageEntry]:
    """The entry at a path, or every entry below it when the path names a folder."""
    path = path.strip("/")
    exact = list(package.entries.filter(path=path))
    if exact:
        return exact
    return list(package.entries.filter(path__startswith=f"{path}/")) if path else []


@transaction.atomic
def package_move(*, package: Package, path: str, new_path: str, actor: Any = None) -> list[PackageEntry]:
    """Rename or move an entry, or a whole folder of entries."""
    _lock(package)
    entries = entries_at(package, path)
    if not entries:
        raise PackageError(f"Nothing at “{path}” in this package.")
    source_path = path.strip("/")
    try:
        if len(entries) == 1 and entries[0].path == source_path:
            moves = {entries[0].path: normalize_path(new_path)}
        else:
            folder = normalize_folder(new_path)
            moves = {entry.path: normalize_path(folder + entry.path[len(source_path) + 1 :]) for entry in entries}
    except InvalidPath as error:
        raise PackageError(error.message) from error
    _check_paths(package, list(moves.values()), leaving=set(moves))
    removed = [(entry.path, entry.size) for entry in entries]
    for entry in entries:
        entry.path = moves[entry.path]
        entry.parent = folder_of(entry.path)
    PackageEntry.objects.bulk_update(entries, ["path", "parent"], batch_size=1000)
    _update_folders(package, added=[(entry.path, entry.size) for entry in entries], removed=removed)
    package.save(update_fields=["updated_at"])
    audit_record(
        actor=actor,
        action="entries.move",
        package=package,
        detail={"path": source_path, "new_path": new_path, "count": len(entries)},
    )
    return entries


@transaction.atomic
def package_remove(*, package: Package, path: str, actor: Any = None) -> int:
    _lock(package)
    entries = entries_at(package, path)
    if not entries:
        raise PackageError(f"Nothing at “{path}” in this package.")
    text_files = [entry.text_file.name or "" for entry in entries if entry.is_text]
    if any(is_readme(entry.path) for entry in entries):
        package.readme_text = ""
        Package.objects.filter(pk=package.pk).update(readme_text="")
    PackageEntry.objects.filter(pk__in=[entry.pk for entry in entries]).delete()
    _update_folders(package, removed=[(entry.path, entry.size) for entry in entries])
    _delete_files_on_commit(text_files)
    package.save(update_fields=["updated_at"])
    audit_record(
        actor=actor, action="entries.remove", package=package, detail={"path": path.strip("/"), "count": len(entries)}
    )
    return len(entries)


# API tokens -----------------------------------------------------------------------


def api_token_create(*, user: Any, name: str) -> tuple[ApiToken, str]:
    """A new token; the clear text is returned once and never stored."""
    token = ApiToken.new_token()
    record = ApiToken.objects.create(
        user=user, name=name.strip() or "token", token_hash=ApiToken.hash(token), hint=token[:8]
    )
    return record, token
