"""Teams, their members and roles, invitations, and the audit log.

The lowest app but web: sources and packages belong to a user or a team, so both need
the Team model and the policy (teams/policy.py) below them.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    # Roles stack: a curator may do what a viewer may, an admin what a curator may.
    VIEWER = "viewer", "Viewer"
    CURATOR = "curator", "Curator"
    ADMIN = "admin", "Admin"


class Team(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "user"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_unique_per_team")]
        # The policy's lookups go by user: "the teams of this user, and the role in each".
        indexes = [models.Index(fields=["user", "team"], name="membership_by_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


def new_invitation_token() -> str:
    return secrets.token_urlsafe(32)


class Invitation(models.Model):
    """An email link that makes its reader a member (they sign in or create an account first)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    token = models.CharField(max_length=64, unique=True, default=new_invitation_token, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.team}"


class AuditEntry(models.Model):
    """Who did what, when. Kept when its objects go: names are copied, not only referenced.

    A team's admins read the entries of the team's objects; every user reads the entries
    of their own actions. Never holds a credential or a share password: `detail` says what
    changed (`{"credentials": "changed"}`), not to what.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=50)  # "<object>.<verb>": source.create, share.revoke…
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The package concerned (a public id and its name at the time), if any.
    package_id = models.UUIDField(null=True, blank=True)
    package_name = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["team", "-at"], name="audit_by_team"),
            models.Index(fields=["actor", "-at"], name="audit_by_actor"),
            models.Index(fields=["package_id", "-at"], name="audit_by_package"),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action}"
