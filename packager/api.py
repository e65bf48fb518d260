"""The JSON API, /api/v1/: one NinjaAPI with a router per app and JSON errors throughout."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status
from pydantic import BaseModel, ConfigDict, StrictBool, field_validator

from packager import catalog, citation, doi, drift, publications, services, versions
from packager.metadata import Metadata, MetadataInvalid, metadata_clean, metadata_of
from packager.models import AddMatchesJob, Package, PackageEntry, PackageVersion, VersionEntry, VersionPublication
from sources.api import get_source, iso_datetime
from sources.search import Search
from teams import policy
from web.api_errors import errors
from web.cursors import decode_cursor, encode_cursor
from web.http import api_user

router = Router(tags=["packages"])
Key = Annotated[str, Field(max_length=1024)]
# A name must hold something other than spaces.
NAME_PATTERN = r"\S"


class PackageIn(Schema):
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    description: str = Field("", max_length=100_000)
    team: uuid.UUID | None = Field(None, description="A team you curate in that owns the package; null: you.")


class PackagePatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=200, pattern=NAME_PATTERN)
    description: str | None = Field(None, max_length=100_000)
    metadata: dict[str, Any] | None = Field(
        None,
        description="Replaces the whole citation metadata object (the fields of PackageOut.metadata); "
        "an invalid field answers 422 naming it under `fields`.",
    )
    team: uuid.UUID | None = Field(
        None, description="Move the package to a team you administer, or (null) make it your own."
    )


class PackageOut(Schema):
    id: uuid.UUID
    name: str
    slug: str
    description: str
    entry_count: int
    total_size: int
    created_at: dt.datetime
    updated_at: dt.datetime
    metadata: Metadata
    team: uuid.UUID | None = Field(description="The team that owns it; null: a user's own.")
    role: Literal["owner", "admin", "curator", "viewer"] = Field(description="Yours on it.")


class EntryOut(Schema):
    path: str
    kind: Literal["pointer", "text"]
    size: int
    sha256: str | None
    md5: str | None
    source: uuid.UUID | None
    key: str | None
    etag: str | None
    version_id: str | None


class SearchIn(BaseModel):
    """A plain model, not a ninja Schema: that one also reads attributes of any object, so a
    list would pass for a search."""

    q: str = Field("", max_length=200)
    glob: str = Field("", max_length=1024)
    min_size: int | None = Field(None, ge=0)
    max_size: int | None = Field(None, ge=0)
    modified_after: dt.datetime | None = None
    modified_before: dt.datetime | None = None

    # Strict: pydantic would otherwise take "5" or true for a size and a number of seconds
    # for a date, where the OpenAPI document promises integers and ISO 8601 text.
    model_config = ConfigDict(strict=True)

    @field_validator("min_size", "max_size", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        # JSON Schema counts 5.0 as an integer, so the document's "integer" takes it too;
        # strict mode still refuses "5", true and 5.5.
        if type(value) is float and value.is_integer():
            return int(value)
        return value

    _iso_text = field_validator("modified_after", "modified_before", mode="before")(iso_datetime)


class EntryPageQuery(Schema):
    cursor: str = Field("", description="The next_cursor of the previous page; empty for the first page.")
    limit: int = Field(200, ge=1, le=1000, description="Entries per page.")


class EntryPage(Schema):
    items: list[EntryOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null after the last page.")


class VersionEntryOut(EntryOut):
    drift: str = Field(description='"" (unchanged), "missing" or "changed", as the last verify found it.')


class VersionEntryPage(Schema):
    items: list[VersionEntryOut]
    next_cursor: str | None


class EntriesIn(Schema):
    """One of {source, keys, target}, {source, prefix, target}, {source, search, target} or {path, text}."""

    source: uuid.UUID | None = None
    keys: list[Key] | None = Field(None, min_length=1, max_length=10_000)
    prefix: str | None = Field(None, max_length=1024)
    search: SearchIn | None = Field(None, description="every indexed file matching this search of the source")
    target: str = Field("", max_length=1024)
    path: str | None = Field(None, min_length=1, max_length=1024)
    text: str | None = Field(None, max_length=services.MAX_TEXT_SIZE)


class EntryPatch(Schema):
    path: str = Field(min_length=1, max_length=1024)


class RefusedKey(Schema):
    key: str
    reason: str


class Added(Schema):
    added: list[EntryOut]
    refused: list[RefusedKey] = Field(
        default_factory=list, description="storage keys left out: they cannot be package paths (the rest is added)"
    )


class AddedCount(Schema):
    added_count: int


class AddJobOut(Schema):
    """Adding the matches of a search by a worker: poll `GET /packages/{id}/add-jobs/{job}`."""

    id: uuid.UUID
    state: Literal["queued", "running", "done", "failed"]
    total: int = Field(description="matches to add")
    added: int = Field(description="entries added so far")
    error: str
    created_at: dt.datetime
    finished_at: dt.datetime | None


class AddJobAccepted(Schema):
    job: AddJobOut


def add_job_out(job: AddMatchesJob) -> dict[str, Any]:
    return {
        "id": job.public_id,
        "state": job.state,
        "total": job.total,
        "added": job.added,
        "error": job.error,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


def package_out(package: Package, user: Any) -> dict[str, Any]:
    if hasattr(package, "entry_count"):  # a catalog row: the totals came with it
        totals = (package.entry_count, getattr(package, "total_size", 0))
    else:
        # The package's aggregate row (folder ""), kept up to date by the services.
        whole = package.folders.filter(path="").first()
        totals = (whole.file_count, whole.size) if whole else (0, 0)
    return {
        **package_ownership_out(package, user),
        "id": package.public_id,
        "name": package.name,
        "slug": package.slug,
        "description": package.description,
        "entry_count": totals[0],
        "total_size": totals[1],
        "created_at": package.created_at,
        "updated_at": package.updated_at,
        "metadata": metadata_of(package.metadata),
    }


def entry_out(entry: PackageEntry | VersionEntry) -> dict[str, Any]:
    return {
        "path": entry.path,
        "kind": entry.kind,
        "size": entry.size,
        "sha256": entry.sha256 or None,
        "md5": entry.md5 or None,
        "source": entry.source.public_id if entry.source else None,
        "key": entry.key or None,
        "etag": entry.etag or None,
        "version_id": entry.version_id or None,
    }


# Teams: who owns a package, and what the caller may do with it ------------------------


def package_ownership_out(package: Package, user: Any) -> dict[str, Any]:
    return {
        "team": package.team.public_id if package.team_id and package.team else None,
        "role": policy.role_on(user, package),
    }


def get_package(
    request: HttpRequest, package_id: uuid.UUID, allowed: Callable[[Any, Any], bool] = policy.can_view_package
) -> Package:
    """A package the caller can see (else 404), if their role allows `allowed` (else 403)."""
    return policy.get_for(Package.objects.select_related("team"), api_user(request), allowed, public_id=package_id)


def editable_package(request: HttpRequest, package_id: uuid.UUID) -> Package:
    return get_package(request, package_id, policy.can_edit_package)


class CatalogQuery(Schema):
    q: str = Field("", max_length=200, description="Searches names, descriptions, README text and file paths.")
    team: uuid.UUID | None = Field(None, description="Only this team's packages.")
    sort: Literal["name", "-name", "updated", "-updated", "size", "-size", "downloads", "-downloads"] = Field(
        "name", description="name is in natural order (2 before 10); - for descending."
    )
    cursor: str = Field("", max_length=500, description="The next_cursor of the previous page.")
    limit: int = Field(50, ge=1, le=500)


class PackagePage(Schema):
    items: list[PackageOut]
    next_cursor: str | None


@router.get("/packages", response={200: PackagePage, **errors(404)})
def list_packages(request: HttpRequest, query: Query[CatalogQuery]) -> dict[str, Any]:
    """Every package you can see (yours and your teams'), a page at a time."""
    user = api_user(request)
    team = policy.get_team_for(user, policy.can_view_team, public_id=query.team) if query.team else None
    rows = catalog.catalog_rows(user, q=query.q, team=team)
    page = catalog.catalog_page(rows, sort=query.sort, cursor=query.cursor, limit=query.limit)
    return {"items": [package_out(package, user) for package in page.packages], "next_cursor": page.next_cursor}


@router.post("/packages", response={201: PackageOut, **errors(403)})
def create_package(request: HttpRequest, body: PackageIn) -> Status[dict[str, Any]]:
    user = api_user(request)
    team = policy.team_named_by(user, body.team, policy.can_create_in_team)
    package = services.package_create(owner=user, name=body.name, description=body.description, team=team)
    return Status(201, package_out(package, user))


@router.get("/packages/{uuid:package_id}", response=PackageOut)
def read_package(request: HttpRequest, package_id: uuid.UUID) -> dict[str, Any]:
    return package_out(get_package(request, package_id), api_user(request))


def field_refused(error: MetadataInvalid) -> ValidationError:
    """A 422 naming the field (config.api answers a ValidationError with `fields`)."""
    return ValidationError({error.field: [error.message]})


@router.patch("/packages/{uuid:package_id}", response=PackageOut)
def update_package(request: HttpRequest, package_id: uuid.UUID, body: PackagePatch) -> dict[str, Any]:
    user = api_user(request)
    package = editable_package(request, package_id)
    try:
        cleaned = metadata_clean(body.metadata) if body.metadata is not None else None
    except MetadataInvalid as error:
        raise field_refused(error) from None
    with transaction.atomic():
        if "team" in body.dict(exclude_unset=True):
            team = policy.team_named_by(user, body.team, policy.can_manage_team)
            if not policy.can_move(user, package, team):
                raise PermissionDenied("Only an admin of the package's team (or its owner) can move it.")
            services.package_transfer(package=package, team=team, actor=user)
        package = services.package_update(package=package, name=body.name, description=body.description, actor=user)
        if cleaned is not None:
            package = citation.package_metadata_set(package=package, metadata=cleaned, actor=user)
    return package_out(package, user)


@router.delete("/packages/{uuid:package_id}", response={204: None})
def delete_package(request: HttpRequest, package_id: uuid.UUID) -> Status[None]:
    package = get_package(request, package_id, policy.can_delete_package)
    services.package_delete(package=package, actor=api_user(request))
    return Status(204, None)


def _keyset_page(rows: QuerySet[Any], key: str, kind: type, cursor: str, limit: int) -> tuple[list[Any], str | None]:
    """One page of rows ordered by a unique `key`, and the cursor of the next page.

    The cursor carries the last key shown, so every page is one range scan of an index
    (the thousandth page costs what the first does); a damaged cursor is a 422.
    """
    if cursor:
        rows = rows.filter(**{f"{key}__gt": decode_cursor(cursor, kind)[0]})  # InvalidCursor: 422
    page = list(rows.order_by(key)[: limit + 1])
    if len(page) <= limit:
        return page, None
    page = page[:limit]
    return page, encode_cursor(getattr(page[-1], key))


@router.get("/packages/{uuid:package_id}/entries", response=EntryPage)
def list_entries(request: HttpRequest, package_id: uuid.UUID, query: Query[EntryPageQuery]) -> dict[str, Any]:
    """The draft's entries by path, a page at a time."""
    package = get_package(request, package_id)
    rows = package.entries.select_related("source")
    entries, next_cursor = _keyset_page(rows, "path", str, query.cursor, query.limit)
    return {"items": [entry_out(entry) for entry in entries], "next_cursor": next_cursor}


@router.get(
    "/packages/{uuid:package_id}/versions/{int:number}/entries",
    response=VersionEntryPage,
)
def list_version_entries(
    request: HttpRequest, package_id: uuid.UUID, number: int, query: Query[EntryPageQuery]
) -> dict[str, Any]:
    """A version's entries in code-point order of their paths, a page at a time."""
    version = get_version(request, package_id, number)
    rows = VersionEntry.objects.filter(package_version=version).select_related("source")
    entries, next_cursor = _keyset_page(rows, "position", int, query.cursor, query.limit)
    return {"items": [{**entry_out(entry), "drift": entry.drift} for entry in entries], "next_cursor": next_cursor}


@router.post(
    "/packages/{uuid:package_id}/entries",
    response={201: Added | AddedCount, 202: AddJobAccepted, **errors(409, 502, 507)},
)
def add_entries(request: HttpRequest, package_id: uuid.UUID, body: EntriesIn) -> Status[dict[str, Any]]:
    """Objects by key, a whole prefix (recursively), every match of a search, or a text file.

    A search adds the matching files below their common folder under the target and
    answers 201 with how many were added; past ADD_MATCHES_INLINE_LIMIT matches (20,000 by
    default) it answers 202 with a job that a worker runs: poll
    `GET /packages/{id}/add-jobs/{job}` for its progress.
    """
    package = editable_package(request, package_id)
    if body.path is not None:
        if body.text is None:
            raise HttpError(422, "A text entry needs both “path” and “text”.")
        entry = services.package_write_text(package=package, path=body.path, content=body.text, actor=api_user(request))
        return Status(201, {"added": [entry_out(entry)]})
    given = [body.keys is not None, body.prefix is not None, body.search is not None]
    if body.source is None or sum(given) != 1:
        raise HttpError(
            422, "Give {source, keys, target}, {source, prefix, target}, {source, search, target} or {path, text}."
        )
    source = get_source(request, body.source, policy.can_use_source)
    if body.search is not None:
        if not source.is_indexed:
            raise HttpError(409, "Search needs the source's index, which is being built; try again when it is ready.")
        search = Search(**{**body.search.model_dump(), "q": body.search.q.strip(), "glob": body.search.glob.strip()})
        added = services.package_add_search(
            package=package, source=source, search=search, target=body.target, actor=api_user(request)
        )
        if isinstance(added, AddMatchesJob):
            return Status(202, {"job": add_job_out(added)})
        return Status(201, {"added_count": added})
    root = source.normalized_prefix
    keys = body.keys if body.keys is not None else [body.prefix.rstrip("/") + "/" if body.prefix else root]
    outside = [key for key in keys if not key.startswith(root)]
    if outside:
        raise HttpError(422, f"These keys are outside the source's prefix “{root}”: {', '.join(outside[:5])}.")
    paths = [key[len(root) :] for key in keys]
    # A prefix adds what is below it under the target; keys keep their file names.
    entries = services.package_add_objects(
        package=package,
        source=source,
        paths=paths,
        target=body.target,
        keep_folder_names=body.prefix is None,
        actor=api_user(request),
    )
    for entry in entries:
        entry.source = source
    refused = [{"key": key, "reason": reason} for key, reason in entries.refused]
    return Status(201, {"added": [entry_out(entry) for entry in entries], "refused": refused})


@router.get("/packages/{uuid:package_id}/add-jobs/{uuid:job_id}", response=AddJobOut)
def read_add_job(request: HttpRequest, package_id: uuid.UUID, job_id: uuid.UUID) -> dict[str, Any]:
    """An "add all matches" job: its state and progress."""
    package = get_package(request, package_id)
    return add_job_out(get_object_or_404(AddMatchesJob, package=package, public_id=job_id))


@router.patch("/packages/{uuid:package_id}/entries/{path:path}", response={200: list[EntryOut], **errors(409)})
def move_entry(request: HttpRequest, package_id: uuid.UUID, path: str, body: EntryPatch) -> list[dict[str, Any]]:
    package = editable_package(request, package_id)
    if not services.entries_at(package, path):
        raise Http404
    moved = services.package_move(package=package, path=path, new_path=body.path, actor=api_user(request))
    return [entry_out(entry) for entry in moved]


@router.delete("/packages/{uuid:package_id}/entries/{path:path}", response={204: None})
def delete_entry(request: HttpRequest, package_id: uuid.UUID, path: str) -> Status[None]:
    package = editable_package(request, package_id)
    if not services.entries_at(package, path):
        raise Http404
    services.package_remove(package=package, path=path, actor=api_user(request))
    return Status(204, None)


# Versions ------------------------------------------------------------------------------


class VersionIn(Schema):
    message: str = Field("", max_length=10_000)


class Progress(Schema):
    done: int
    total: int
    bytes_done: int
    bytes_total: int


class Drift(Schema):
    checked_at: dt.datetime | None
    missing: list[str]
    changed: list[str]


class FailedPath(Schema):
    path: str
    reason: str


class VersionOut(Schema):
    number: int
    message: str
    state: Literal["checksumming", "published", "failed"]
    error: str
    failed_paths: list[FailedPath]
    progress: Progress
    awaiting_confirmation: bool
    bytes_to_read: int
    top_hash: str | None
    entry_count: int
    total_size: int
    created_at: dt.datetime
    published_at: dt.datetime | None
    drift: Drift
    metadata: Metadata = Field(description="The citation metadata as it was when the version was published.")
    doi: str | None = Field(description="Bare, e.g. 10.5072/x.1.")
    doi_state: Literal["draft", "findable", "registered"] | None = Field(
        description="The DOI's state at DataCite when packager registered it (registered: hidden while the"
        " version is private); null for none or one recorded by hand."
    )
    doi_error: str | None = Field(description="Why the last request to DataCite failed, if it did.")
    public: bool = Field(description="Listed in the public catalog and OAI-PMH.")


class DiffEntry(Schema):
    path: str
    size: int
    previous_size: int | None = None


class MetadataChange(Schema):
    field: str
    previous: Any
    current: Any


class DiffOut(Schema):
    number: int
    previous: int | None
    metadata_changes: list[MetadataChange]
    added_count: int
    removed_count: int
    changed_count: int
    added: list[DiffEntry]
    removed: list[DiffEntry]
    changed: list[DiffEntry]


def version_out(version: PackageVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "message": version.message,
        "state": version.state,
        "error": version.error,
        "failed_paths": version.failed_paths,
        "progress": {
            "done": version.progress_done,
            "total": version.progress_total,
            "bytes_done": version.progress_bytes_done,
            "bytes_total": version.progress_bytes_total,
        },
        "awaiting_confirmation": version.awaiting_confirmation,
        "bytes_to_read": version.bytes_to_read,
        "top_hash": version.top_hash or None,
        "entry_count": version.entry_count,
        "total_size": version.total_size,
        "created_at": version.created_at,
        "published_at": version.published_at,
        "drift": {
            "checked_at": version.drift_checked_at,
            "missing": version.drift_missing,
            "changed": version.drift_changed,
        },
        "metadata": metadata_of(version.metadata),
        "doi": version.doi or None,
        "doi_state": version.doi_state or None,
        "doi_error": version.doi_error or None,
        "public": version.public,
    }


def get_version(
    request: HttpRequest,
    package_id: uuid.UUID,
    number: int,
    allowed: Callable[[Any, Any], bool] = policy.can_view_package,
) -> PackageVersion:
    return policy.get_for(
        PackageVersion.objects.select_related("package__owner"),
        api_user(request),
        allowed,
        through="package",
        package__public_id=package_id,
        number=number,
    )


@router.post("/packages/{uuid:package_id}/versions", response={202: VersionOut, **errors(409)})
def publish_version(request: HttpRequest, package_id: uuid.UUID, body: VersionIn) -> Status[dict[str, Any]]:
    """Freeze the draft into the next version; checksumming runs as a task (poll the version)."""
    version = versions.package_publish(
        package=editable_package(request, package_id), message=body.message, created_by=api_user(request)
    )
    return Status(202, version_out(version))


@router.get("/packages/{uuid:package_id}/versions", response=list[VersionOut])
def list_versions(request: HttpRequest, package_id: uuid.UUID) -> list[dict[str, Any]]:
    package = get_package(request, package_id)
    return [version_out(version) for version in package.versions.order_by("-number")]


@router.get("/packages/{uuid:package_id}/versions/{int:number}", response=VersionOut)
def read_version(request: HttpRequest, package_id: uuid.UUID, number: int) -> dict[str, Any]:
    return version_out(get_version(request, package_id, number))


@router.get("/packages/{uuid:package_id}/versions/{int:number}/diff", response=DiffOut)
def diff_version(request: HttpRequest, package_id: uuid.UUID, number: int) -> dict[str, Any]:
    """What changed since the previous published version (at most 500 paths of each kind)."""
    version = get_version(request, package_id, number)
    previous = versions.previous_version(version)
    diff = versions.version_diff(version, previous)
    changes = citation.metadata_changes(version.metadata, previous.metadata if previous else None)
    return {
        "number": version.number,
        "previous": previous.number if previous else None,
        "metadata_changes": changes,
        **diff.__dict__,
    }


class VersionPatch(Schema):
    # Strict: "public": 0 or "yes" is refused (400), not read as a boolean.
    model_config = ConfigDict(strict=True)

    doi: str | None = Field(None, max_length=300, description='An existing DOI of this version; "" removes it.')
    public: StrictBool | None = Field(None, description="List the version in the public catalog and OAI-PMH, or not.")


@router.patch("/packages/{uuid:package_id}/versions/{int:number}", response={200: VersionOut, **errors(409)})
def update_version(request: HttpRequest, package_id: uuid.UUID, number: int, body: VersionPatch) -> dict[str, Any]:
    """Record the version's DOI, or make it public or private (a private one is reported deleted over OAI-PMH)."""
    version = get_version(request, package_id, number, policy.can_edit_package)
    if "doi" in body.model_fields_set:
        try:
            version = citation.version_doi_set(version=version, doi=body.doi)
        except MetadataInvalid as error:
            raise field_refused(error) from None
    if body.public is not None:
        version = citation.version_public_set(version=version, public=body.public)
    return version_out(version)


@router.post(
    "/packages/{uuid:package_id}/versions/{int:number}/doi/findable",
    response={200: VersionOut, **errors(409, 422, 502, 503)},
)
def make_doi_findable(request: HttpRequest, package_id: uuid.UUID, number: int) -> dict[str, Any]:
    """Make the version's DOI findable at DataCite (`event: publish`; registers it first if needed).
    The version must be public. 409 when DataCite is not configured; 422 when DataCite refuses (its
    errors in `detail`); 502/503 when it answers badly or cannot be reached."""
    version = get_version(request, package_id, number, policy.can_edit_package)
    return version_out(doi.version_doi_publish(version=version))


@router.post(
    "/packages/{uuid:package_id}/versions/{int:number}/doi/update",
    response={200: VersionOut, **errors(409, 422, 502, 503)},
)
def update_doi(request: HttpRequest, package_id: uuid.UUID, number: int) -> dict[str, Any]:
    """Send the version's metadata and landing URL to DataCite again (registers a draft DOI if it has none)."""
    version = get_version(request, package_id, number, policy.can_edit_package)
    return version_out(doi.version_doi_update(version=version))


@router.post("/packages/{uuid:package_id}/versions/{int:number}/verify", response={202: VersionOut, **errors(409)})
def verify_version(request: HttpRequest, package_id: uuid.UUID, number: int) -> Status[dict[str, Any]]:
    """Re-check every object against the store; the result appears under "drift"."""
    version = get_version(request, package_id, number, policy.can_edit_package)
    drift.version_verify_request(version=version, actor=api_user(request))
    return Status(202, version_out(version))


@router.post("/packages/{uuid:package_id}/versions/{int:number}/confirm", response={202: VersionOut, **errors(409)})
def confirm_version(request: HttpRequest, package_id: uuid.UUID, number: int) -> Status[dict[str, Any]]:
    """Agree to read `bytes_to_read` bytes to checksum what the stores do not vouch for."""
    version = versions.version_confirm_read(version=get_version(request, package_id, number, policy.can_edit_package))
    return Status(202, version_out(version))


# Publishing a version to a bucket -----------------------------------------------------


class PublicationIn(Schema):
    destination: uuid.UUID = Field(description="An S3 or Azure source of yours whose credentials may write.")
    key_template: str = Field(
        "releases/{package}/v{version}-{date}/",
        max_length=300,
        description="Placeholders: {package}, {version}, {top_hash}, {date} (YYYYMMDD), {time} (HHMMSS).",
    )
    include_zip: bool = False


class WrittenObject(Schema):
    key: str
    size: int
    sha256: str
    checksum_sha256: str = Field("", description="Base64, as the store checked it (S3).")
    content_md5: str = Field("", description="Base64, as the store checked it (Azure).")
    version_id: str = ""
    etag: str = ""
    skipped: bool = Field(False, description="The same bytes were there already.")


class PublicationOut(Schema):
    id: uuid.UUID
    version: int
    destination: uuid.UUID
    state: str
    error: str
    progress_done: int
    progress_total: int
    bucket: str
    key: str
    region: str
    endpoint: str
    objects: list[WrittenObject]
    created_at: dt.datetime
    finished_at: dt.datetime | None


def publication_out(publication: VersionPublication, *, version: PackageVersion) -> dict[str, Any]:
    return {
        "id": publication.public_id,
        "version": version.number,
        "destination": publication.source.public_id,
        "state": publication.state,
        "error": publication.error,
        "progress_done": publication.progress_done,
        "progress_total": publication.progress_total,
        "bucket": publication.bucket or publication.source.bucket,
        "key": publication.prefix,
        "region": publication.region,
        "endpoint": publication.endpoint,
        "objects": publication.written,
        "created_at": publication.created_at,
        "finished_at": publication.finished_at,
    }


@router.get("/packages/{uuid:package_id}/versions/{int:number}/publications", response=list[PublicationOut])
def list_publications(request: HttpRequest, package_id: uuid.UUID, number: int) -> list[dict[str, Any]]:
    """Where this version was written to buckets: the publish records."""
    version = get_version(request, package_id, number)
    records = version.publications.select_related("source").order_by("-created_at")
    return [publication_out(record, version=version) for record in records]


@router.post(
    "/packages/{uuid:package_id}/versions/{int:number}/publications",
    response={202: PublicationOut, **errors(409)},
)
def create_publication(
    request: HttpRequest, package_id: uuid.UUID, number: int, body: PublicationIn
) -> Status[dict[str, Any]]:
    """Write the version's manifest, datapackage.json, text files (and a ZIP) under a prefix of a bucket.

    Runs as a task: poll the list for its state and progress. The same place again is idempotent.
    """
    version = get_version(request, package_id, number, policy.can_edit_package)
    source = get_source(request, body.destination, policy.can_use_source)
    publication = publications.publication_request(
        version=version,
        source=source,
        key_template=body.key_template,
        include_zip=body.include_zip,
        created_by=api_user(request),
    )
    publication.refresh_from_db()
    return Status(202, publication_out(publication, version=version))
