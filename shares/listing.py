"""Every share a user can see, with its state, a page at a time: the shares page and GET /api/v1/shares."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from shares.models import Share
from teams import policy
from web.cursors import newest_first_page


def shares_visible(user: Any, *, team: Any = None) -> QuerySet[Share]:
    """Newest first; with its package and version in the same query."""
    rows = Share.objects.filter(policy.visible(user, "package")).select_related(
        "package", "version", "package__latest_version"
    )
    if team is not None:
        rows = rows.filter(package__team=team)
    return rows.order_by("-created_at", "-id")


def share_state(share: Share) -> str:
    if share.is_revoked:
        return "revoked"
    return "expired" if share.is_expired else "active"


def shares_page(rows: QuerySet[Share], *, cursor: str, limit: int) -> tuple[list[Share], str | None]:
    """One page; the cursor carries the last (created_at, id) shown (InvalidCursor: 422)."""
    return newest_first_page(rows, time_field="created_at", cursor=cursor, limit=limit)


def share_row(share: Share) -> dict[str, Any]:
    return {
        "token": share.token,
        "label": share.label,
        "package": share.package.public_id,
        "package_name": share.package.name,
        "version": share.version.number if share.version else "latest",
        "state": share_state(share),
        "expires_at": share.expires_at,
        "downloads": share.zip_count + share.resolve_count,
        "last_used_at": share.last_accessed_at,
        "created_at": share.created_at,
    }
