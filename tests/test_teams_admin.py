"""Django's admin asks the policy: staff see their teams only, change them only as admins."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from teams import services as teams
from teams.models import AuditEntry, Membership, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model: Any) -> dict[str, Any]:
    """Staff with every permission on teams, memberships and the audit log: the policy decides."""
    permissions = Permission.objects.filter(content_type__app_label="teams")
    users = {}
    for name in ("lead", "member", "stranger"):
        user = django_user_model.objects.create_user(name, password="pw-123456789", is_staff=True)
        user.user_permissions.set(permissions)
        users[name] = user
    return users


@pytest.fixture
def team(staff: dict[str, Any]) -> Team:
    team = teams.team_create(name="Lake lab", creator=staff["lead"])
    teams.member_add(team=team, user=staff["member"], role="viewer", actor=staff["lead"])
    return team


def admin_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_staff_see_only_their_teams_and_change_them_only_as_admins(staff: dict[str, Any], team: Team) -> None:
    change = f"/admin/teams/team/{team.pk}/change/"
    assert "Lake lab" in admin_client(staff["lead"]).get("/admin/teams/team/").content.decode()
    assert "Lake lab" not in admin_client(staff["stranger"]).get("/admin/teams/team/").content.decode()
    # Not theirs: the admin answers as for an object that does not exist.
    assert admin_client(staff["stranger"]).get(change).status_code == 302
    viewer_page = admin_client(staff["member"]).get(change)
    assert viewer_page.status_code == 200 and 'name="_save"' not in viewer_page.content.decode()
    assert admin_client(staff["member"]).post(change, {"name": "Mine now"}).status_code == 403
    lead_page = admin_client(staff["lead"]).get(change)
    assert 'name="_save"' in lead_page.content.decode()


def test_a_role_changed_in_the_admin_goes_through_the_service(staff: dict[str, Any], team: Team) -> None:
    membership = Membership.objects.get(team=team, user=staff["member"])
    path = f"/admin/teams/membership/{membership.pk}/change/"
    assert admin_client(staff["member"]).post(path, {"role": "admin"}).status_code == 403
    assert admin_client(staff["lead"]).post(path, {"role": "curator"}).status_code == 302
    membership.refresh_from_db()
    assert membership.role == "curator"
    assert AuditEntry.objects.filter(action="member.update", actor=staff["lead"]).exists()
    # The last admin stays, in the admin too.
    lead = Membership.objects.get(team=team, user=staff["lead"])
    admin_client(staff["lead"]).post(f"/admin/teams/membership/{lead.pk}/change/", {"role": "viewer"})
    lead.refresh_from_db()
    assert lead.role == "admin"


def test_the_audit_log_in_the_admin_is_read_only_and_filtered(staff: dict[str, Any], team: Team) -> None:
    entries = "/admin/teams/auditentry/"
    assert "member.add" in admin_client(staff["lead"]).get(entries).content.decode()
    assert "member.add" not in admin_client(staff["stranger"]).get(entries).content.decode()
    entry = AuditEntry.objects.filter(team=team).first()
    assert entry is not None
    assert admin_client(staff["lead"]).post(f"/admin/teams/auditentry/{entry.pk}/delete/").status_code == 403
