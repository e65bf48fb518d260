from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status
from pydantic import field_validator

from sources import services
from sources.backends.errors import StorageError
from sources.browse import browse_page
from sources.models import Source
from sources.search import COUNT_CAP, Search, search_page
from teams import policy
from web.api_errors import errors
from web.api_fields import iso_datetime
from web.http import api_user

router = Router(tags=["sources"])


Kind = Literal["s3", "azure", "local"]
AddressingStyle = Literal["auto", "path", "virtual"]
# Between one minute and seven days, as the model's validators say.
PresignTtl = Annotated[int, Field(ge=60, le=7 * 24 * 3600)]
Secret = Annotated[str, Field(max_length=4096)]


class SourceFields(Schema):
    """What a source is made of; every field optional, as a PATCH sends it."""

    name: str | None = Field(None, min_length=1, max_length=100, pattern=r"\S")
    bucket: str | None = Field(None, max_length=255)
    container: str | None = Field(None, max_length=255)
    prefix: str | None = Field(None, max_length=1024)
    endpoint_url: str | None = Field(None, max_length=500)
    account_url: str | None = Field(None, max_length=500)
    region: str | None = Field(None, max_length=64)
    addressing_style: AddressingStyle | None = None
    path: str | None = Field(None, max_length=1024)
    presign_ttl: PresignTtl | None = None
    max_presign_ttl: PresignTtl | None = Field(
        None, description="the longest lifetime direct.txt?expires_in= may ask for; null: presign_ttl"
    )
    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None
    session_token: Secret | None = None
    account_key: Secret | None = None
    sas_token: Secret | None = None
    connection_string: Secret | None = None
    reindex_every_hours: int | None = Field(None, ge=0, le=24 * 365, description="0 or null: never")


class SourceIn(SourceFields):
    name: str = Field(min_length=1, max_length=100, pattern=r"\S")
    kind: Kind
    team: uuid.UUID | None = Field(None, description="A team you administer that owns the source; null: you.")


class SourcePatch(SourceFields):
    team: uuid.UUID | None = Field(
        None, description="Move the source to a team you administer, or (null) make it your own."
    )
    pass


class IndexOut(Schema):
    state: Literal["new", "queued", "indexing", "ready", "error", "cancelled"]
    listed: int = Field(description="objects listed by the running (or last) index")
    rate: float = Field(description="objects listed per second")
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error: str


class SourceOut(Schema):
    id: uuid.UUID
    name: str
    kind: Kind
    bucket: str
    prefix: str
    endpoint_url: str
    region: str
    addressing_style: AddressingStyle
    path: str
    presign_ttl: int
    max_presign_ttl: int | None
    credentials: list[str]
    status: Literal["new", "queued", "indexing", "ready", "error", "cancelled"]
    last_error: str
    last_indexed_at: dt.datetime | None
    object_count: int
    total_size: int
    reindex_every_hours: int | None
    index: IndexOut
    created_at: dt.datetime
    team: uuid.UUID | None = Field(description="The team that owns it; null: a user's own.")
    role: Literal["owner", "admin", "curator", "viewer"] = Field(description="Yours on it.")


class TestResult(Schema):
    ok: bool
    message: str


class ObjectEntry(Schema):
    key: str
    name: str
    is_dir: bool
    size: int
    etag: str
    last_modified: dt.datetime | None


class ObjectPage(Schema):
    origin: Literal["live", "index"] = Field(
        alias="from", description="“live”: listed from storage now; “index”: from the index"
    )
    prefix: str
    entries: list[ObjectEntry]
    next_cursor: str | None
    indexed_at: dt.datetime | None


class ObjectQuery(Schema):
    prefix: str = Field("", max_length=1024)
    cursor: str = Field("", max_length=2048)
    # One page is at most 1000 rows: a larger page is refused, not served.
    limit: int = Field(200, ge=1, le=1000)
    q: str = Field("", max_length=200)


class SearchQuery(Schema):
    q: str = Field("", max_length=200, description="part of the file name, any case")
    glob: str = Field(
        "", max_length=1024, description="over the key below the source's prefix: * ? [..] within a folder, ** across"
    )
    min_size: int | None = Field(None, ge=0)
    max_size: int | None = Field(None, ge=0)
    modified_after: dt.datetime | None = None
    modified_before: dt.datetime | None = None
    cursor: str = Field("", max_length=2048)
    limit: int = Field(200, ge=1, le=1000)

    _iso_text = field_validator("modified_after", "modified_before", mode="before")(iso_datetime)

    def search(self) -> Search:
        return Search(
            q=self.q.strip(),
            glob=self.glob.strip(),
            min_size=self.min_size,
            max_size=self.max_size,
            modified_after=self.modified_after,
            modified_before=self.modified_before,
        )


class SearchEntry(Schema):
    key: str
    name: str
    size: int
    etag: str
    last_modified: dt.datetime | None


class SearchPage(Schema):
    total: int = Field(description=f"matches, exact up to {COUNT_CAP:,}")
    total_exact: bool = Field(description="false: there are more than `total` matches")
    entries: list[SearchEntry]
    next_cursor: str | None
    indexed_at: dt.datetime | None


def source_out(source: Source, user: Any) -> dict[str, Any]:
    return {
        "team": source.team.public_id if source.team_id and source.team else None,
        "role": policy.role_on(user, source),
        "id": source.public_id,
        "name": source.name,
        "kind": source.kind,
        "bucket": source.bucket,
        "prefix": source.prefix,
        "endpoint_url": source.endpoint_url,
        "region": source.region,
        "addressing_style": source.addressing_style,
        "path": source.local_path,
        "presign_ttl": source.presign_ttl,
        "max_presign_ttl": source.max_presign_ttl,
        "credentials": source.credential_names,
        "status": source.status,
        "last_error": source.last_error,
        "last_indexed_at": source.last_indexed_at,
        "object_count": source.object_count,
        "total_size": source.total_size,
        "reindex_every_hours": source.reindex_every_hours,
        "index": {
            "state": source.status,
            "listed": source.index_listed,
            "rate": source.index_rate,
            "started_at": source.index_started_at,
            "finished_at": source.index_finished_at,
            "error": source.last_error,
        },
        "created_at": source.created_at,
    }


def get_source(
    request: HttpRequest, source_id: uuid.UUID, allowed: Callable[[Any, Any], bool] = policy.can_view_source
) -> Source:
    """A source the caller can see (else 404), if their role allows `allowed` (else 403)."""
    return policy.get_for(Source.objects.select_related("team"), api_user(request), allowed, public_id=source_id)


def _fields(body: SourceFields) -> tuple[dict[str, Any], dict[str, str]]:
    data = body.dict(exclude_unset=True)
    fields = {
        "name": data.get("name"),
        "bucket": data.get("bucket") or data.get("container"),
        "prefix": data.get("prefix"),
        "endpoint_url": data.get("endpoint_url") or data.get("account_url"),
        "region": data.get("region"),
        "addressing_style": data.get("addressing_style"),
        "local_path": data.get("path"),
        "presign_ttl": data.get("presign_ttl"),
        "max_presign_ttl": data.get("max_presign_ttl"),
    }
    credentials = {name: data[name] for name in services.CREDENTIAL_NAMES if data.get(name)}
    kept = {k: v for k, v in fields.items() if v is not None}
    if "reindex_every_hours" in data:
        kept["reindex_every_hours"] = data["reindex_every_hours"] or None  # 0 or null: never
    if "max_presign_ttl" in data:
        kept["max_presign_ttl"] = data["max_presign_ttl"]  # null: no longer than presign_ttl
    return kept, credentials


@router.get("/sources", response=list[SourceOut])
def list_sources(request: HttpRequest) -> list[dict[str, Any]]:
    user = api_user(request)
    sources = Source.objects.filter(policy.visible(user)).select_related("team")
    return [source_out(source, user) for source in sources]


@router.post("/sources", response={201: SourceOut, **errors(403, 502)})
def create_source(request: HttpRequest, body: SourceIn) -> Status[dict[str, Any]]:
    fields, credentials = _fields(body)
    user = api_user(request)
    team = policy.team_named_by(user, body.team, policy.can_manage_team)
    source = services.source_create(owner=user, kind=body.kind, fields=fields, credentials=credentials, team=team)
    return Status(201, source_out(source, user))


@router.get("/sources/{uuid:source_id}", response=SourceOut)
def read_source(request: HttpRequest, source_id: uuid.UUID) -> dict[str, Any]:
    return source_out(get_source(request, source_id), api_user(request))


@router.patch("/sources/{uuid:source_id}", response={200: SourceOut, **errors(502)})
def update_source(request: HttpRequest, source_id: uuid.UUID, body: SourcePatch) -> dict[str, Any]:
    user = api_user(request)
    source = get_source(request, source_id, policy.can_edit_source)
    fields, credentials = _fields(body)
    if "team" in body.dict(exclude_unset=True):
        team = policy.team_named_by(user, body.team, policy.can_manage_team)
        services.source_move(source=source, team=team, actor=user)
    source = services.source_update(source=source, fields=fields, credentials=credentials, user=user)
    return source_out(source, user)


@router.delete("/sources/{uuid:source_id}", response={204: None, **errors(409)})
def delete_source(request: HttpRequest, source_id: uuid.UUID) -> Status[None]:
    source = get_source(request, source_id, policy.can_edit_source)
    services.source_delete(source=source, actor=api_user(request))  # SourceInUse: 409
    return Status(204, None)


@router.post("/sources/{uuid:source_id}/test", response=TestResult)
def test_source(request: HttpRequest, source_id: uuid.UUID) -> dict[str, Any]:
    source = get_source(request, source_id, policy.can_edit_source)
    try:
        services.source_check(source=source)
    except StorageError as error:
        return {"ok": False, "message": error.message}
    return {"ok": True, "message": "Connection test passed."}


@router.post("/sources/{uuid:source_id}/index", response={202: SourceOut})
def index_source(request: HttpRequest, source_id: uuid.UUID) -> Status[dict[str, Any]]:
    source = get_source(request, source_id, policy.can_edit_source)
    services.source_index_request(source=source)
    return Status(202, source_out(source, api_user(request)))


@router.post("/sources/{uuid:source_id}/index/cancel", response={202: SourceOut, **errors(409)})
def cancel_index(request: HttpRequest, source_id: uuid.UUID) -> Status[dict[str, Any]]:
    """Stop the queued or running index; what it listed so far stays in the index."""
    source = get_source(request, source_id, policy.can_edit_source)
    services.source_index_cancel(source=source)  # NothingToCancel: 409
    return Status(202, source_out(source, api_user(request)))


@router.get("/sources/{uuid:source_id}/objects", response={200: ObjectPage, **errors(502)}, by_alias=True)
def list_objects(request: HttpRequest, source_id: uuid.UUID, query: Query[ObjectQuery]) -> dict[str, Any]:
    """One page of a folder: folders first, then files. `prefix` is a storage key prefix.

    Until the source's first index is ready the page is listed live from storage
    (`"from": "live"`, cursor = the service's continuation token); then from the index.
    """
    source = get_source(request, source_id)
    root = source.normalized_prefix
    prefix = query.prefix or root
    if not prefix.startswith(root):
        raise HttpError(422, f"The prefix must start with the source's prefix “{root}”.")
    folder = prefix[len(root) :]
    if folder and not folder.endswith("/"):
        folder += "/"
    page = browse_page(source, folder, cursor=query.cursor, name_contains=query.q, limit=query.limit)
    return {
        "from": page.origin,
        "prefix": root + folder,
        "entries": [
            {
                "key": root + row.path,
                "name": row.name.rstrip("/"),
                "is_dir": row.is_dir,
                "size": row.size,
                "etag": row.etag,
                "last_modified": row.last_modified,
            }
            for row in page.rows
        ],
        "next_cursor": page.next_cursor or None,
        "indexed_at": source.last_indexed_at,
    }


@router.get("/sources/{uuid:source_id}/search", response={200: SearchPage, **errors(409)})
def search_objects(request: HttpRequest, source_id: uuid.UUID, query: Query[SearchQuery]) -> dict[str, Any]:
    """Files of the index by name, glob, size and date; in key order, a page at a time."""
    source = get_source(request, source_id)
    if not source.is_indexed:
        raise HttpError(409, source.last_error or "Search needs the index, which is being built; browse meanwhile.")
    search = query.search()
    root = source.normalized_prefix
    page = search_page(source, search, cursor=query.cursor, limit=query.limit)  # InvalidSearch: 422
    return {
        "total": page.total,
        "total_exact": page.exact,
        "entries": [
            {
                "key": root + row.path,
                "name": row.name,
                "size": row.size,
                "etag": row.etag,
                "last_modified": row.last_modified,
            }
            for row in page.rows
        ],
        "next_cursor": page.next_cursor or None,
        "indexed_at": source.last_indexed_at,
    }
