"""Who may do what: the one place that decides every permission.

A source or a package belongs to a user (its `owner`, `team` empty) or to a team (`team`
set; `owner` is then the user who made it or moved it there). On a user's own object the
user may do everything; on a team's object a member may do what their role allows, and
roles stack: viewer ⊂ curator ⊂ admin.

- viewer: see the team's sources, packages, versions, shares, access logs and members;
- curator: + read the team's sources' files into packages, create and edit packages,
  publish and verify versions, create and revoke shares;
- admin: + edit, index and delete sources, delete packages, manage members, read the
  team's audit log, move objects in and out of the team.

Views, the API, the admin and tasks all ask the functions below. The lookups at the top
of views answer 404 for anything the user cannot see (a non-member never learns a team's
object exists) and 403 for what a member can see but their role does not allow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from teams.models import Membership, Role, Team
from web.errors import ApplicationError

OWNER = "owner"
# An owner may do on their own object what a team admin may on the team's.
RANK = {Role.VIEWER.value: 1, Role.CURATOR.value: 2, Role.ADMIN.value: 3, OWNER: 3}


class Owned(Protocol):
    """A source or a package: what the policy needs of it."""

    owner_id: int
    team_id: int | None


def team_roles(user: Any) -> dict[int, str]:
    """The user's role in each of their teams, by team id: one query per user object.

    Kept on the user object, which lives as long as the request (or the task), so that a
    page of a hundred objects asks once.
    """
    if not getattr(user, "is_authenticated", False):
        return {}
    roles: dict[int, str] | None = getattr(user, "_team_roles", None)
    if roles is None:
        roles = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
        user._team_roles = roles
    return roles


def forget_roles(user: Any) -> None:
    """After a membership of this user changed in the same request."""
    if hasattr(user, "_team_roles"):
        del user._team_roles


def teams_with_role(user: Any, at_least: str) -> list[int]:
    """The ids of the user's teams where their role is `at_least` or above."""
    return [team for team, role in team_roles(user).items() if RANK[role] >= RANK[at_least]]


def usable(user: Any, at_least: str) -> Q:
    """A filter for the sources or packages on which the user's role is `at_least` or above."""
    if not getattr(user, "is_authenticated", False):
        return Q(pk__in=[])
    return Q(team__isnull=True, owner_id=user.pk) | Q(team_id__in=teams_with_role(user, at_least))


def role_in_team(user: Any, team: Team | int | None) -> str | None:
    if team is None:
        return None
    return team_roles(user).get(team if isinstance(team, int) else team.pk)


def role_on(user: Any, obj: Owned) -> str | None:
    """ "owner", "admin", "curator", "viewer", or None: nothing to do with it."""
    if not getattr(user, "is_authenticated", False):
        return None
    if obj.team_id is None:
        return OWNER if obj.owner_id == user.pk else None
    return team_roles(user).get(obj.team_id)


def _at_least(role: str | None, needed: str) -> bool:
    return role is not None and RANK[role] >= RANK[needed]


# Sources -------------------------------------------------------------------------------


def can_view_source(user: Any, source: Owned) -> bool:
    return role_on(user, source) is not None


def can_use_source(user: Any, source: Owned) -> bool:
    """Add its files to packages, publish versions into it."""
    return _at_least(role_on(user, source), Role.CURATOR)


def can_edit_source(user: Any, source: Owned) -> bool:
    """Change, test, index, delete; move to or from a team."""
    return _at_least(role_on(user, source), Role.ADMIN)


# Packages, their versions and shares ---------------------------------------------------


def can_view_package(user: Any, package: Owned) -> bool:
    """The package, its versions, shares and their access logs."""
    return role_on(user, package) is not None


def can_edit_package(user: Any, package: Owned) -> bool:
    """Entries, name and description, publish, verify, write to a bucket."""
    return _at_least(role_on(user, package), Role.CURATOR)


def can_share_package(user: Any, package: Owned) -> bool:
    """Create and revoke share links."""
    return _at_least(role_on(user, package), Role.CURATOR)


def can_delete_package(user: Any, package: Owned) -> bool:
    return _at_least(role_on(user, package), Role.ADMIN)


def can_move(user: Any, obj: Owned, team: Team | None) -> bool:
    """Give the object to `team` (or, None, take it back as the user's own)."""
    if not _at_least(role_on(user, obj), Role.ADMIN):
        return False
    return team is None or role_in_team(user, team) == Role.ADMIN


# Teams ---------------------------------------------------------------------------------


def can_view_team(user: Any, team: Team) -> bool:
    """The team and its members."""
    return role_in_team(user, team) is not None


def can_create_in_team(user: Any, team: Team) -> bool:
    """Create a package in the team (a source needs can_manage_team)."""
    return _at_least(role_in_team(user, team), Role.CURATOR)


def can_manage_team(user: Any, team: Team) -> bool:
    """Rename or delete it, invite, change roles, remove members, own its sources."""
    return role_in_team(user, team) == Role.ADMIN


def can_read_team_audit(user: Any, team: Team) -> bool:
    return role_in_team(user, team) == Role.ADMIN


# Lookups -------------------------------------------------------------------------------


def visible(user: Any, through: str = "") -> Q:
    """A filter for the objects (or, `through` a relation, their children) the user can see.

    One condition in the same query: the user's own, and those of the user's teams (a
    subquery on the membership index, not a list read first).
    """
    prefix = f"{through}__" if through else ""
    if not getattr(user, "is_authenticated", False):
        return Q(pk__in=[])
    teams = Membership.objects.filter(user_id=user.pk).values("team_id")
    return Q(**{f"{prefix}team__isnull": True, f"{prefix}owner_id": user.pk}) | Q(**{f"{prefix}team_id__in": teams})


def visible_teams(user: Any) -> QuerySet[Team]:
    """The user's teams (a subquery, so that counting members does not count only theirs)."""
    if not getattr(user, "is_authenticated", False):
        return Team.objects.none()
    return Team.objects.filter(pk__in=Membership.objects.filter(user_id=user.pk).values("team_id"))


M = TypeVar("M", bound=Model)


def get_for(
    queryset: QuerySet[M],
    user: Any,
    allowed: Callable[[Any, Any], bool],
    *,
    through: str = "",
    **lookup: Any,
) -> M:
    """The object of `queryset` matching `lookup`, if the user may do `allowed` with it.

    404 when the user cannot see it at all (not theirs, not their team's, or no such
    object); 403 when they can see it but their role does not allow the action. `through`
    names the relation whose owner decides (a share's or a version's "package").
    """
    obj = queryset.filter(visible(user, through), **lookup).first()
    if obj is None:
        raise Http404("Not found.")
    owned = getattr(obj, through) if through else obj
    if not allowed(user, owned):
        raise PermissionDenied("Your role in this team does not allow this.")
    return obj


def get_team_for(user: Any, allowed: Callable[[Any, Team], bool], **lookup: Any) -> Team:
    """A team of the user's (404 for others), if their role allows `allowed` (else 403)."""
    team = visible_teams(user).filter(**lookup).first()
    if team is None:
        raise Http404("Not found.")
    if not allowed(user, team):
        raise PermissionDenied("Your role in this team does not allow this.")
    return team


class NoSuchTeam(ApplicationError):
    status = 422


def team_named_by(user: Any, public_id: Any, allowed: Callable[[Any, Team], bool]) -> Team | None:
    """The team a request body names ("team": id, or null for none), for creating or moving
    something into it: 422 if it is none of the user's teams, 403 if their role there does
    not allow `allowed`."""
    if public_id is None:
        return None
    team = visible_teams(user).filter(public_id=public_id).first()
    if team is None:
        raise NoSuchTeam("You are not a member of a team with this id.")
    if not allowed(user, team):
        raise PermissionDenied("Your role in this team does not allow this.")
    return team
