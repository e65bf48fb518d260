from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from packager.models import Package
from shares import listing, services
from shares.models import Share
from shares.views.access import key_link_url, site_base
from teams import policy
from web.api_errors import errors
from web.http import api_user, public_url

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
        "url": public_url(request, reverse("share_page", kwargs={"token": share.token})),
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
    package = policy.get_for(Package.objects.all(), api_user(request), policy.can_view_package, public_id=package_id)
    shares = package.shares.select_related("version", "package__latest_version")
    return [share_out(request, share) for share in shares]


@router.post("/packages/{uuid:package_id}/shares", response={201: ShareOut})
def create_share(request: HttpRequest, package_id: uuid.UUID, body: ShareIn) -> Status[dict[str, Any]]:
    package = policy.get_for(Package.objects.all(), api_user(request), policy.can_share_package, public_id=package_id)
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
    user = api_user(request)
    share = policy.get_for(
        Share.objects.select_related("package"), user, policy.can_share_package, through="package", token=token
    )
    services.share_revoke(share=share, actor=user)
    return Status(204, None)


# Every share the caller can see ---------------------------------------------------------


class SharesQuery(Schema):
    team: uuid.UUID | None = Field(None, description="Only the shares of this team's packages.")
    cursor: str = Field("", max_length=500, description="The next_cursor of the previous page.")
    limit: int = Field(100, ge=1, le=1000)


class ShareListed(Schema):
    token: str
    label: str
    package: uuid.UUID
    package_name: str
    version: int | Literal["latest"]
    state: Literal["active", "expired", "revoked"]
    expires_at: dt.datetime | None
    downloads: int = Field(description="ZIP downloads and files fetched")
    last_used_at: dt.datetime | None
    created_at: dt.datetime


class SharePage(Schema):
    items: list[ShareListed]
    next_cursor: str | None


@router.get("/shares", response={200: SharePage, **errors(404)})
def list_all_shares(request: HttpRequest, query: Query[SharesQuery]) -> dict[str, Any]:
    """Every share of the packages you can see (yours and your teams'), newest first."""
    user = api_user(request)
    team = policy.get_team_for(user, policy.can_view_team, public_id=query.team) if query.team else None
    rows = listing.shares_visible(user, team=team)
    shares, next_cursor = listing.shares_page(rows, cursor=query.cursor, limit=query.limit)
    return {"items": [listing.share_row(share) for share in shares], "next_cursor": next_cursor}
