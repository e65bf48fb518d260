from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from sources import services
from sources.backends import StorageError
from sources.models import Source, SourceObject
from web.http import api_user

router = Router(tags=["sources"])


class SourceIn(Schema):
    name: str
    kind: str
    bucket: str | None = None
    container: str | None = None
    prefix: str | None = None
    endpoint_url: str | None = None
    account_url: str | None = None
    region: str | None = None
    addressing_style: str | None = None
    path: str | None = None
    presign_ttl: int | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    account_key: str | None = None
    sas_token: str | None = None
    connection_string: str | None = None


class SourcePatch(Schema):
    name: str | None = None
    bucket: str | None = None
    container: str | None = None
    prefix: str | None = None
    endpoint_url: str | None = None
    account_url: str | None = None
    region: str | None = None
    addressing_style: str | None = None
    path: str | None = None
    presign_ttl: int | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    account_key: str | None = None
    sas_token: str | None = None
    connection_string: str | None = None


class SourceOut(Schema):
    id: uuid.UUID
    name: str
    kind: str
    bucket: str
    prefix: str
    endpoint_url: str
    region: str
    addressing_style: str
    path: str
    presign_ttl: int
    credentials: list[str]
    status: str
    last_error: str
    last_indexed_at: dt.datetime | None
    object_count: int
    total_size: int
    created_at: dt.datetime


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
    prefix: str
    entries: list[ObjectEntry]
    next_cursor: str | None


class ObjectQuery(Schema):
    prefix: str = ""
    cursor: str = ""
    limit: int = 200
    q: str = ""


def source_out(source: Source) -> dict[str, Any]:
    return {
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
        "credentials": source.credential_names,
        "status": source.status,
        "last_error": source.last_error,
        "last_indexed_at": source.last_indexed_at,
        "object_count": source.object_count,
        "total_size": source.total_size,
        "created_at": source.created_at,
    }


def get_source(request: HttpRequest, source_id: uuid.UUID) -> Source:
    return get_object_or_404(Source, public_id=source_id, owner=api_user(request))


def _fields(body: SourceIn | SourcePatch) -> tuple[dict[str, Any], dict[str, str]]:
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
    }
    credentials = {name: data[name] for name in services.CREDENTIAL_NAMES if data.get(name)}
    return {k: v for k, v in fields.items() if v is not None}, credentials


@router.get("/sources", response=list[SourceOut])
def list_sources(request: HttpRequest) -> list[dict[str, Any]]:
    return [source_out(source) for source in Source.objects.filter(owner=api_user(request))]


@router.post("/sources", response={201: SourceOut})
def create_source(request: HttpRequest, body: SourceIn) -> Status[dict[str, Any]]:
    fields, credentials = _fields(body)
    if body.kind not in Source.Kind.values:
        raise HttpError(400, "kind must be one of: s3, azure, local.")
    source = services.source_create(owner=api_user(request), kind=body.kind, fields=fields, credentials=credentials)
    return Status(201, source_out(source))


@router.get("/sources/{uuid:source_id}", response=SourceOut)
def read_source(request: HttpRequest, source_id: uuid.UUID) -> dict[str, Any]:
    return source_out(get_source(request, source_id))


@router.patch("/sources/{uuid:source_id}", response=SourceOut)
def update_source(request: HttpRequest, source_id: uuid.UUID, body: SourcePatch) -> dict[str, Any]:
    source = get_source(request, source_id)
    fields, credentials = _fields(body)
    source = services.source_update(source=source, fields=fields, credentials=credentials, user=api_user(request))
    return source_out(source)


@router.delete("/sources/{uuid:source_id}", response={204: None})
def delete_source(request: HttpRequest, source_id: uuid.UUID) -> Status[None]:
    source = get_source(request, source_id)
    try:
        services.source_delete(source=source)
    except services.SourceInUse as error:
        raise HttpError(409, str(error)) from error
    return Status(204, None)


@router.post("/sources/{uuid:source_id}/test", response=TestResult)
def test_source(request: HttpRequest, source_id: uuid.UUID) -> dict[str, Any]:
    source = get_source(request, source_id)
    try:
        services.source_check(source=source)
    except StorageError as error:
        return {"ok": False, "message": error.message}
    return {"ok": True, "message": "Connection test passed."}


@router.post("/sources/{uuid:source_id}/index", response={202: SourceOut})
def index_source(request: HttpRequest, source_id: uuid.UUID) -> Status[dict[str, Any]]:
    source = get_source(request, source_id)
    services.source_index_request(source=source)
    return Status(202, source_out(source))


@router.get("/sources/{uuid:source_id}/objects", response=ObjectPage)
def list_objects(request: HttpRequest, source_id: uuid.UUID, query: Query[ObjectQuery]) -> dict[str, Any]:
    """One page of a folder: folders first, then files. `prefix` is a storage key prefix."""
    source = get_source(request, source_id)
    if not source.is_indexed:
        message = source.last_error or "The source is being indexed; try again in a moment."
        raise HttpError(409, message)
    root = source.normalized_prefix
    prefix = query.prefix or root
    if not prefix.startswith(root):
        raise HttpError(400, f"The prefix must start with the source's prefix “{root}”.")
    folder = prefix[len(root) :]
    if folder and not folder.endswith("/"):
        folder += "/"
    limit = min(max(query.limit, 1), 1000)
    rows, next_cursor = SourceObject.objects.page(
        source, folder, cursor=query.cursor, name_contains=query.q, limit=limit
    )
    return {
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
            for row in rows
        ],
        "next_cursor": next_cursor or None,
    }
