"""Reads of the audit log: what a user may see of it, filtered, a page at a time."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from django.db.models import Q, QuerySet

from teams import policy
from teams.models import AuditEntry, Role, Team
from web.cursors import newest_first_page


def audit_visible(user: Any) -> QuerySet[AuditEntry]:
    """The entries of the user's own actions, and every entry of the teams they administer."""
    administered = policy.teams_with_role(user, Role.ADMIN)
    return AuditEntry.objects.filter(Q(actor_id=user.pk) | Q(team_id__in=administered))


def audit_entries(
    user: Any,
    *,
    team: Team | None = None,
    package_id: uuid.UUID | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[AuditEntry]:
    """Newest first; the caller checked that the user may read `team`'s log."""
    rows = audit_visible(user).select_related("team")
    if team is not None:
        rows = rows.filter(team=team)
    if package_id is not None:
        rows = rows.filter(package_id=package_id)
    if since is not None:
        rows = rows.filter(at__gte=since)
    if until is not None:
        rows = rows.filter(at__lt=until)
    return rows.order_by("-at", "-id")


def audit_page(rows: QuerySet[AuditEntry], *, cursor: str, limit: int) -> tuple[list[AuditEntry], str | None]:
    """One page, newest first; the cursor carries the last (time, id) shown (InvalidCursor: 422)."""
    return newest_first_page(rows, time_field="at", cursor=cursor, limit=limit)


def audit_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "actor": entry.actor_name,
        "action": entry.action,
        "team": entry.team.public_id if entry.team else None,
        "package": entry.package_id,
        "package_name": entry.package_name,
        "detail": entry.detail,
    }


def detail_text(detail: dict[str, Any]) -> str:
    """The detail as one line of JSON (sorted keys), for CSV and pages."""
    return json.dumps(detail, sort_keys=True, ensure_ascii=False)
