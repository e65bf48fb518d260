"""Writes on teams: create, rename, delete, members and their roles, invitations."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from teams import policy
from teams.audit import audit_record
from teams.models import Invitation, Membership, Role, Team
from web.errors import ApplicationError

logger = logging.getLogger(__name__)


class TeamError(ApplicationError):
    status = 422


class TeamConflict(ApplicationError):
    status = 409


@transaction.atomic
def team_create(*, name: str, creator: Any) -> Team:
    """A new team, with its creator as its first admin."""
    name = name.strip()
    if not name:
        raise TeamError("Give the team a name.")
    team = Team.objects.create(name=name)
    Membership.objects.create(team=team, user=creator, role=Role.ADMIN)
    policy.forget_roles(creator)
    audit_record(actor=creator, action="team.create", team=team, detail={"name": name})
    return team


@transaction.atomic
def team_update(*, team: Team, name: str, actor: Any) -> Team:
    name = name.strip()
    if not name:
        raise TeamError("Give the team a name.")
    team.name = name
    team.save(update_fields=["name", "updated_at"])
    audit_record(actor=actor, action="team.update", team=team, detail={"name": name})
    return team


@transaction.atomic
def team_delete(*, team: Team, actor: Any) -> None:
    """Only an empty team goes: its sources and packages must first move elsewhere."""
    if team.sources.exists() or team.packages.exists():
        raise TeamConflict("The team still owns sources or packages: move or delete them first.")
    audit_record(actor=actor, action="team.delete", team=None, detail={"team": team.name})
    team.delete()


def _admin_count(team: Team) -> int:
    return Membership.objects.filter(team=team, role=Role.ADMIN).count()


@transaction.atomic
def member_add(*, team: Team, user: Any, role: str, actor: Any) -> Membership:
    if role not in Role.values:
        raise TeamError("The role must be admin, curator or viewer.")
    if not user.is_active:
        raise TeamError("This account is disabled.")
    membership, created = Membership.objects.get_or_create(team=team, user=user, defaults={"role": role})
    if not created:
        raise TeamConflict(f"{user.get_username()} is already a member of this team.")
    policy.forget_roles(user)
    audit_record(actor=actor, action="member.add", team=team, detail={"user": user.get_username(), "role": role})
    return membership


@transaction.atomic
def member_update(*, membership: Membership, role: str, actor: Any) -> Membership:
    if role not in Role.values:
        raise TeamError("The role must be admin, curator or viewer.")
    # Locked: two admins demoting each other at once must not leave the team without one.
    Membership.objects.select_for_update().filter(team_id=membership.team_id, role=Role.ADMIN).count()
    if membership.role == Role.ADMIN and role != Role.ADMIN and _admin_count(membership.team) <= 1:
        raise TeamConflict("A team needs an admin: make somebody else admin first.")
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    policy.forget_roles(membership.user)
    audit_record(
        actor=actor,
        action="member.update",
        team=membership.team,
        detail={"user": membership.user.get_username(), "role": role, "previous_role": before},
    )
    return membership


@transaction.atomic
def member_remove(*, membership: Membership, actor: Any) -> None:
    """Remove a member (or leave); the last admin cannot go. Their team objects stay the team's."""
    Membership.objects.select_for_update().filter(team_id=membership.team_id, role=Role.ADMIN).count()
    if membership.role == Role.ADMIN and _admin_count(membership.team) <= 1:
        raise TeamConflict("The last admin cannot leave: make somebody else admin first.")
    membership.delete()
    policy.forget_roles(membership.user)
    audit_record(
        actor=actor, action="member.remove", team=membership.team, detail={"user": membership.user.get_username()}
    )


def user_by_name_or_email(*, username: str | None = None, email: str | None = None) -> Any:
    """An active account by user name, or by email (case-insensitive); None if there is none (or several)."""
    users = get_user_model().objects.filter(is_active=True)
    if username:
        return users.filter(username=username).first()
    if email:
        found = list(users.filter(email__iexact=email)[:2])
        return found[0] if len(found) == 1 else None
    return None


@transaction.atomic
def invitation_create(*, team: Team, email: str, role: str, actor: Any, accept_url: Any) -> Invitation:
    """Email a link that makes its reader a member; `accept_url(token)` builds the absolute link."""
    if role not in Role.values:
        raise TeamError("The role must be admin, curator or viewer.")
    email = email.strip()
    if "@" not in email:
        raise TeamError("Give an email address.")
    invitation = Invitation.objects.create(team=team, email=email, role=role, invited_by=actor)
    link = accept_url(invitation.token)
    inviter = actor.get_username()
    transaction.on_commit(
        lambda: send_mail(
            subject=f"{inviter} invites you to the team “{team.name}” on packager",
            message=(
                f"{inviter} invites you to join the team “{team.name}” as {role}.\n\n"
                f"Open this link, sign in (or create an account), and accept:\n{link}\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[email],
        )
    )
    audit_record(actor=actor, action="member.invite", team=team, detail={"email": email, "role": role})
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: Any) -> Membership:
    """The signed-in reader of the link joins (or keeps their role if they are a member already)."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if locked.accepted_at is not None:
        raise TeamConflict("This invitation was used already.")
    if timezone.now() - locked.created_at > settings.INVITATION_MAX_AGE:
        raise TeamConflict("This invitation has expired: ask for a new one.")
    locked.accepted_at = timezone.now()
    locked.accepted_by = user
    locked.save(update_fields=["accepted_at", "accepted_by"])
    membership, created = Membership.objects.get_or_create(team=locked.team, user=user, defaults={"role": locked.role})
    policy.forget_roles(user)
    if created:
        audit_record(
            actor=user,
            action="member.add",
            team=locked.team,
            detail={"user": user.get_username(), "role": locked.role, "invitation": True},
        )
    return membership
