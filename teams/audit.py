"""Recording the audit log: one call from each service that changes something worth knowing."""

from __future__ import annotations

from typing import Any

from teams.models import AuditEntry, Team


def audit_record(
    *,
    actor: Any,
    action: str,
    team: Team | int | None = None,
    package: Any = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry: `action` is "<object>.<verb>"; `package` any object with public_id and name.

    `detail` names what changed, never a credential or a password (callers pass names and
    counts, not values).
    """
    user = actor if getattr(actor, "is_authenticated", False) else None
    team_id = team.pk if isinstance(team, Team) else team
    if team_id is None and package is not None:
        team_id = getattr(package, "team_id", None)
    return AuditEntry.objects.create(
        actor=user,
        actor_name=user.get_username() if user is not None else "",
        action=action,
        team_id=team_id,
        package_id=package.public_id if package is not None else None,
        package_name=package.name if package is not None else "",
        detail=detail or {},
    )
