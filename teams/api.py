"""The API of teams, their members, and the audit log: /api/v1/teams…, /api/v1/audit."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest
from django.urls import reverse
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status
from pydantic import field_validator

from teams import policy, selectors, services
from teams.models import Membership, Team
from web.api_errors import errors
from web.api_fields import iso_datetime
from web.http import api_user, public_url

router = Router(tags=["teams"])
RoleName = Literal["admin", "curator", "viewer"]


class TeamIn(Schema):
    name: str = Field(min_length=1, max_length=100, pattern=r"\S")


class TeamOut(Schema):
    id: uuid.UUID
    name: str
    role: RoleName = Field(description="Yours in the team.")
    member_count: int
    created_at: dt.datetime


class MemberIn(Schema):
    """{"username", "role"} adds an account at once; {"email", "role"} emails an invitation link."""

    username: str | None = Field(None, min_length=1, max_length=150)
    email: str | None = Field(None, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    role: RoleName = "viewer"


class MemberPatch(Schema):
    role: RoleName


class MemberOut(Schema):
    user_id: int
    username: str
    email: str
    role: RoleName


class InvitationOut(Schema):
    email: str
    role: RoleName
    invited_at: dt.datetime


def team_out(team: Team, user: Any, member_count: int | None = None) -> dict[str, Any]:
    return {
        "id": team.public_id,
        "name": team.name,
        "role": policy.role_in_team(user, team),
        "member_count": member_count if member_count is not None else team.memberships.count(),
        "created_at": team.created_at,
    }


def member_out(membership: Membership) -> dict[str, Any]:
    return {
        "user_id": membership.user_id,
        "username": membership.user.get_username(),
        "email": membership.user.email,
        "role": membership.role,
    }


def _team(request: HttpRequest, team_id: uuid.UUID, allowed: Any = policy.can_view_team) -> Team:
    return policy.get_team_for(api_user(request), allowed, public_id=team_id)


def _membership(team: Team, user_id: int) -> Membership:
    membership = Membership.objects.select_related("user", "team").filter(team=team, user_id=user_id).first()
    if membership is None:
        raise Http404
    return membership


@router.get("/teams", response=list[TeamOut])
def list_teams(request: HttpRequest) -> list[dict[str, Any]]:
    """The teams you are a member of."""
    user = api_user(request)
    teams = policy.visible_teams(user).annotate(member_count=Count("memberships", distinct=True))
    return [team_out(team, user, team.member_count) for team in teams]


@router.post("/teams", response={201: TeamOut})
def create_team(request: HttpRequest, body: TeamIn) -> Status[dict[str, Any]]:
    """A new team; you are its first admin."""
    user = api_user(request)
    team = services.team_create(name=body.name, creator=user)
    return Status(201, team_out(team, user, 1))


@router.get("/teams/{uuid:team_id}", response=TeamOut)
def read_team(request: HttpRequest, team_id: uuid.UUID) -> dict[str, Any]:
    return team_out(_team(request, team_id), api_user(request))


@router.patch("/teams/{uuid:team_id}", response=TeamOut)
def update_team(request: HttpRequest, team_id: uuid.UUID, body: TeamIn) -> dict[str, Any]:
    team = _team(request, team_id, policy.can_manage_team)
    services.team_update(team=team, name=body.name, actor=api_user(request))
    return team_out(team, api_user(request))


@router.delete("/teams/{uuid:team_id}", response={204: None, **errors(409)})
def delete_team(request: HttpRequest, team_id: uuid.UUID) -> Status[None]:
    """Only a team that owns no source and no package (409 otherwise)."""
    team = _team(request, team_id, policy.can_manage_team)
    services.team_delete(team=team, actor=api_user(request))
    return Status(204, None)


@router.get("/teams/{uuid:team_id}/members", response=list[MemberOut])
def list_members(request: HttpRequest, team_id: uuid.UUID) -> list[dict[str, Any]]:
    team = _team(request, team_id)
    return [member_out(membership) for membership in team.memberships.select_related("user").order_by("user_id")]


@router.post("/teams/{uuid:team_id}/members", response={201: MemberOut, 202: InvitationOut, **errors(409)})
def add_member(request: HttpRequest, team_id: uuid.UUID, body: MemberIn) -> Status[dict[str, Any]]:
    """{"username"}: the account joins now (201). {"email"}: an invitation link goes to that
    address, for an existing account or a new one (202); whoever opens it signed in joins."""
    user = api_user(request)
    team = _team(request, team_id, policy.can_manage_team)
    if (body.username is None) == (body.email is None):
        raise HttpError(422, "Give either “username” or “email”, with “role”.")
    if body.email is not None:
        invitation = services.invitation_create(
            team=team,
            email=body.email,
            role=body.role,
            actor=user,
            accept_url=lambda token: public_url(request, reverse("invitation_accept", args=[token])),
        )
        return Status(202, {"email": invitation.email, "role": invitation.role, "invited_at": invitation.created_at})
    account = services.user_by_name_or_email(username=body.username)
    if account is None:
        raise HttpError(422, "No active account has this user name; invite them by email instead.")
    membership = services.member_add(team=team, user=account, role=body.role, actor=user)
    return Status(201, member_out(membership))


@router.patch("/teams/{uuid:team_id}/members/{int:user_id}", response={200: MemberOut, **errors(409)})
def update_member(request: HttpRequest, team_id: uuid.UUID, user_id: int, body: MemberPatch) -> dict[str, Any]:
    """Change a member's role (admins); the last admin cannot stop being one (409)."""
    team = _team(request, team_id, policy.can_manage_team)
    membership = services.member_update(membership=_membership(team, user_id), role=body.role, actor=api_user(request))
    return member_out(membership)


@router.delete("/teams/{uuid:team_id}/members/{int:user_id}", response={204: None, **errors(409)})
def remove_member(request: HttpRequest, team_id: uuid.UUID, user_id: int) -> Status[None]:
    """Remove a member (admins), or leave (anyone, for themselves); the last admin cannot (409)."""
    user = api_user(request)
    team = _team(request, team_id)
    if user_id != user.pk and not policy.can_manage_team(user, team):
        raise PermissionDenied("Only the team's admins remove other members.")
    services.member_remove(membership=_membership(team, user_id), actor=user)
    return Status(204, None)


# Audit log ---------------------------------------------------------------------------


class AuditQuery(Schema):
    team: uuid.UUID | None = Field(None, description="Only this team's entries (you must be its admin).")
    package: uuid.UUID | None = Field(None, description="Only the entries of this package.")
    since: dt.datetime | None = Field(None, description="From this time on (ISO 8601).")
    until: dt.datetime | None = Field(None, description="Before this time (ISO 8601).")
    cursor: str = Field("", max_length=500, description="The next_cursor of the previous page.")
    limit: int = Field(100, ge=1, le=1000)

    _iso_text = field_validator("since", "until", mode="before")(iso_datetime)


class AuditEntryOut(Schema):
    at: dt.datetime
    actor: str = Field(description="The user name ('' for the system or a deleted account).")
    action: str = Field(description="<object>.<verb>: source.create, share.revoke, member.add…")
    team: uuid.UUID | None
    package: uuid.UUID | None
    package_name: str
    detail: dict[str, Any]


class AuditPage(Schema):
    items: list[AuditEntryOut]
    next_cursor: str | None


@router.get("/audit", response={200: AuditPage, **errors(403, 404)})
def list_audit(request: HttpRequest, query: Query[AuditQuery]) -> dict[str, Any]:
    """What you did, and everything done in the teams you administer; newest first."""
    user = api_user(request)
    team = None
    if query.team is not None:
        team = policy.get_team_for(user, policy.can_read_team_audit, public_id=query.team)
    rows = selectors.audit_entries(user, team=team, package_id=query.package, since=query.since, until=query.until)
    entries, next_cursor = selectors.audit_page(rows, cursor=query.cursor, limit=query.limit)
    return {"items": [selectors.audit_row(entry) for entry in entries], "next_cursor": next_cursor}
