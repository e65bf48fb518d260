from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Field, Router, Schema
from ninja.responses import Status

from packager.models import Package
from shares import services
from shares.models import Share
from shares.views.access import key_link_url, site_base
from web.http import api_user

router = Router(tags=["shares"])


class ShareIn(Schema):
    password: str | None = Field(None, max_length=1024)
    expires_at: dt.datetime | None = None
    label: str | None = Field(None, max_length=100)
    version: Annotated[int, Field(ge=1)] | Literal["latest"] = Field(
        "latest", description="A version number to pin, or “latest”."
    )


class ShareOut(Schema):
    token: str
    url: str
    label: str
    has_password: bool
    key_link: str | None = Field(
        description="For a password share: the link under which everything works with no password "
        "(whoever has it needs none; a new password ends it). null for a share without a password."
    )
    expires_at: dt.datetime | None
    revoked: bool
    active: bool
    created_at: dt.datetime
    view_count: int
    zip_count: int
    resolve_count: int
    version: int | Literal["latest"]
    serving_version: int | None


def share_out(request: HttpRequest, share: Share) -> dict[str, Any]:
    return {
        "token": share.token,
        "url": request.build_absolute_uri(reverse("share_page", kwargs={"token": share.token})),
        "label": share.label,
        "has_password": share.has_password,
        "key_link": key_link_url(request, share),
        "expires_at": share.expires_at,
        "revoked": share.is_revoked,
        "active": share.is_active,
        "created_at": share.created_at,
        "view_count": share.view_count,
        "zip_count": share.zip_count,
        "resolve_count": share.resolve_count,
        "version": share.version.number if share.version else "latest",
        "serving_version": serving.number if (serving := share.serving_version) else None,
    }


@router.get("/packages/{uuid:package_id}/shares", response=list[ShareOut])
def list_shares(request: HttpRequest, package_id: uuid.UUID) -> list[dict[str, Any]]:
    package = get_object_or_404(Package, public_id=package_id, owner=api_user(request))
    shares = package.shares.select_related("version", "package__latest_version")
    return [share_out(request, share) for share in shares]


@router.post("/packages/{uuid:package_id}/shares", response={201: ShareOut})
def create_share(request: HttpRequest, package_id: uuid.UUID, body: ShareIn) -> Status[dict[str, Any]]:
    package = get_object_or_404(Package, public_id=package_id, owner=api_user(request))
    share = services.share_create(
        package=package,
        created_by=api_user(request),
        password=body.password or "",
        expires_at=body.expires_at,
        label=body.label or "",
        version=body.version,
        base_url=site_base(request),
    )
    return Status(201, share_out(request, share))


@router.delete("/shares/{token}", response={204: None})
def revoke_share(request: HttpRequest, token: str) -> Status[None]:
    share = get_object_or_404(Share, token=token, package__owner=api_user(request))
    services.share_revoke(share=share)
    return Status(204, None)
