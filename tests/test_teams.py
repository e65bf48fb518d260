"""Teams: members and roles, what each role may do through the API, invitations, the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from packager import services as packages
from packager.services import api_token_create
from shares import services as share_services
from sources.models import Source
from teams import services as teams
from teams.models import AuditEntry, Membership, Role, Team
from tests.conftest import Api
from tests.factories import make_local_source, publish, write_files

pytestmark = pytest.mark.django_db


def api_for(user: Any) -> Api:
    _, token = api_token_create(user=user, name="tests")
    return Api(Client(), token)


@pytest.fixture
def members(django_user_model: Any) -> dict[str, Any]:
    return {
        role: django_user_model.objects.create_user(f"{role}-user", email=f"{role}@lab.test", password="pw-123456789")
        for role in ("admin", "curator", "viewer")
    }


@pytest.fixture
def team(members: dict[str, Any]) -> Team:
    team = teams.team_create(name="Lake lab", creator=members["admin"])
    for role in ("curator", "viewer"):
        Membership.objects.create(team=team, user=members[role], role=role)
    return team


@pytest.fixture
def team_source(team: Team, members: dict[str, Any], tmp_path: Path) -> Source:
    write_files(tmp_path / "lake", {"raw/a.csv": b"a,b\n1,2\n", "raw/b.csv": b"b\n"})
    source = make_local_source(members["admin"], tmp_path / "lake", name="lake")
    Source.objects.filter(pk=source.pk).update(team=team)
    source.refresh_from_db()
    return source


@pytest.fixture
def team_package(team: Team, members: dict[str, Any]) -> Any:
    package = packages.package_create(owner=members["admin"], name="Survey", team=team)
    packages.package_write_text(package=package, path="README.md", content="# Survey\n")
    return package


def test_it_makes_the_creator_admin_and_lists_members_with_their_roles(members: dict[str, Any], team: Team) -> None:
    response = api_for(members["viewer"]).call("get", f"/teams/{team.public_id}/members")
    assert response.status_code == 200
    assert sorted((row["username"], row["role"]) for row in response.json()) == [
        ("admin-user", "admin"),
        ("curator-user", "curator"),
        ("viewer-user", "viewer"),
    ]
    assert set(response.json()[0]) == {"user_id", "username", "email", "role"}
    teams_seen = api_for(members["curator"]).call("get", "/teams").json()
    assert [(row["name"], row["role"], row["member_count"]) for row in teams_seen] == [("Lake lab", "curator", 3)]


def test_it_hides_a_team_and_its_objects_from_outsiders(
    team: Team, team_package: Any, team_source: Source, outsider: Any
) -> None:
    outsider_api = api_for(outsider)
    for path in [
        f"/teams/{team.public_id}",
        f"/teams/{team.public_id}/members",
        f"/packages/{team_package.public_id}",
        f"/sources/{team_source.public_id}",
    ]:
        assert outsider_api.call("get", path).status_code == 404, path
    assert outsider_api.call("get", "/teams").json() == []
    assert outsider_api.call("get", "/packages").json() == {"items": [], "next_cursor": None}


def test_roles_stack_on_a_team_package(members: dict[str, Any], team_package: Any, team_source: Source) -> None:
    package_path = f"/packages/{team_package.public_id}"
    viewer, curator, admin = (api_for(members[role]) for role in ("viewer", "curator", "admin"))
    assert viewer.call("get", package_path).json()["role"] == "viewer"
    assert viewer.call("patch", package_path, {"description": "no"}).status_code == 403
    assert viewer.call("post", f"{package_path}/shares", {}).status_code == 403
    add = {"source": str(team_source.public_id), "keys": ["raw/a.csv"], "target": "data"}
    assert viewer.call("post", f"{package_path}/entries", add).status_code == 403
    # A curator adds the team source's files, edits, publishes and shares, but cannot delete.
    assert curator.call("post", f"{package_path}/entries", add).status_code == 201
    assert curator.call("patch", package_path, {"description": "Lake data"}).json()["description"] == "Lake data"
    assert curator.call("post", f"{package_path}/versions", {}).status_code == 202
    assert curator.call("post", f"{package_path}/shares", {}).status_code == 201
    assert curator.call("delete", package_path).status_code == 403
    # Sources: the curator reads, only the admin changes.
    assert curator.call("get", f"/sources/{team_source.public_id}").json()["role"] == "curator"
    assert curator.call("patch", f"/sources/{team_source.public_id}", {"name": "x"}).status_code == 403
    # (A folder source is editable by site staff only: the team admin here is also staff.)
    members["admin"].is_staff = True
    members["admin"].save()
    assert admin.call("patch", f"/sources/{team_source.public_id}", {"name": "lake 2"}).status_code == 200
    assert admin.call("delete", package_path).status_code == 204


def test_a_package_is_created_in_a_team_and_moved_by_its_owner(members: dict[str, Any], team: Team, owner: Any) -> None:
    curator = api_for(members["curator"])
    created = curator.call("post", "/packages", {"name": "Shared", "team": str(team.public_id)})
    assert created.status_code == 201
    assert created.json()["team"] == str(team.public_id) and created.json()["role"] == "curator"
    viewer = api_for(members["viewer"])
    assert viewer.call("post", "/packages", {"name": "No", "team": str(team.public_id)}).status_code == 403
    assert api_for(owner).call("post", "/packages", {"name": "No", "team": str(team.public_id)}).status_code == 422
    # Moving into a team takes an admin of that team: the curator's own package cannot go.
    own = curator.call("post", "/packages", {"name": "Mine"}).json()
    moved = curator.call("patch", f"/packages/{own['id']}", {"team": str(team.public_id)})
    assert moved.status_code == 403
    admin = api_for(members["admin"])
    admins_own = admin.call("post", "/packages", {"name": "Admin's"}).json()
    moved = admin.call("patch", f"/packages/{admins_own['id']}", {"team": str(team.public_id)})
    assert moved.status_code == 200 and moved.json()["team"] == str(team.public_id)
    assert viewer.call("get", f"/packages/{admins_own['id']}").status_code == 200
    back = admin.call("patch", f"/packages/{admins_own['id']}", {"team": None})
    assert back.json()["team"] is None and back.json()["role"] == "owner"
    assert viewer.call("get", f"/packages/{admins_own['id']}").status_code == 404


def test_an_admin_adds_changes_and_removes_members_but_the_last_admin_stays(
    members: dict[str, Any], team: Team, owner: Any
) -> None:
    admin = api_for(members["admin"])
    members_path = f"/teams/{team.public_id}/members"
    added = admin.call("post", members_path, {"username": "olivia", "role": "viewer"})
    assert added.status_code == 201 and added.json()["role"] == "viewer"
    assert admin.call("post", members_path, {"username": "olivia", "role": "viewer"}).status_code == 409
    assert (
        api_for(members["curator"]).call("post", members_path, {"username": "x", "role": "viewer"}).status_code == 403
    )
    changed = admin.call("patch", f"{members_path}/{owner.pk}", {"role": "curator"})
    assert changed.json()["role"] == "curator"
    assert admin.call("delete", f"{members_path}/{owner.pk}").status_code == 204
    admin_id = members["admin"].pk
    assert admin.call("patch", f"{members_path}/{admin_id}", {"role": "viewer"}).status_code == 409
    assert admin.call("delete", f"{members_path}/{admin_id}").status_code == 409
    # A member leaves on their own; they cannot remove somebody else.
    viewer = api_for(members["viewer"])
    assert viewer.call("delete", f"{members_path}/{members['curator'].pk}").status_code == 403
    assert viewer.call("delete", f"{members_path}/{members['viewer'].pk}").status_code == 204
    actions = list(AuditEntry.objects.filter(team=team).values_list("action", flat=True))
    assert {"member.add", "member.update", "member.remove"} <= set(actions)


def test_an_invitation_email_makes_its_reader_a_member(
    members: dict[str, Any], team: Team, django_user_model: Any, django_capture_on_commit_callbacks: Any
) -> None:
    admin = api_for(members["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        invited = admin.call("post", f"/teams/{team.public_id}/members", {"email": "new@lab.test", "role": "curator"})
    assert invited.status_code == 202 and invited.json()["email"] == "new@lab.test"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new@lab.test"]
    link = next(line for line in mail.outbox[0].body.splitlines() if "/invitations/" in line)
    path = link[link.index("/invitations/") :]
    # A new account signs up (here: is created), signs in, opens the link and accepts.
    newcomer = django_user_model.objects.create_user("newcomer", email="new@lab.test", password="pw-123456789")
    browser = Client()
    assert browser.get(path).status_code == 302  # to the login page first
    browser.force_login(newcomer)
    assert "Lake lab" in browser.get(path).content.decode()
    assert browser.post(path).status_code == 302
    assert Membership.objects.get(team=team, user=newcomer).role == "curator"
    assert browser.post(path, follow=True).status_code == 200  # used already: said so, nothing changes
    assert Membership.objects.filter(team=team, user=newcomer).count() == 1


def test_a_team_admin_reads_the_teams_audit_log_and_everyone_their_own(
    members: dict[str, Any], team: Team, team_package: Any
) -> None:
    curator = api_for(members["curator"])
    share = curator.call("post", f"/packages/{team_package.public_id}/shares", {"password": "a secret pass"})
    curator.call("delete", f"/shares/{share.json()['token']}")
    log = api_for(members["admin"]).call("get", "/audit", team=str(team.public_id)).json()
    actions = [item["action"] for item in log["items"]]
    assert actions[:2] == ["share.revoke", "share.create"]
    assert "package.create" in actions and "entries.add" in actions
    assert all("a secret pass" not in str(item["detail"]) for item in log["items"])
    assert log["items"][0]["actor"] == "curator-user" and log["items"][0]["package"] == str(team_package.public_id)
    # The curator reads their own entries, not the team's log.
    assert api_for(members["curator"]).call("get", "/audit", team=str(team.public_id)).status_code == 403
    own = api_for(members["curator"]).call("get", "/audit").json()["items"]
    assert {item["actor"] for item in own} == {"curator-user"}


def test_a_team_share_keeps_working_when_its_creator_is_deactivated(
    members: dict[str, Any], team_package: Any, client: Client
) -> None:
    publish(team_package, created_by=members["admin"])
    share = share_services.share_create(package=team_package, created_by=members["admin"])
    members["admin"].is_active = False
    members["admin"].save()
    assert client.get(f"/s/{share.token}/").status_code == 200


def test_a_deleted_account_leaves_its_team_sources_packages_and_shares_with_the_team(
    members: dict[str, Any],
    team: Team,
    team_source: Source,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """A student who made the team's package and share leaves; the package, its source and the
    link collaborators hold stay, now held by the team's admin. Their own package goes."""
    student = members["curator"]
    package = packages.package_create(owner=student, name="Thesis data", team=team)
    packages.package_add_objects(package=package, source=team_source, paths=["raw/a.csv"])
    publish(package, created_by=student)
    share = share_services.share_create(package=package, created_by=student)
    Source.objects.filter(pk=team_source.pk).update(owner=student)
    personal = packages.package_create(owner=student, name="Scratch")
    # The admin's confirmation page collects the deletion too, and changes nothing.
    superuser = type(student).objects.create_superuser("root", password="a long password 1")
    client.force_login(superuser)
    with django_capture_on_commit_callbacks(execute=True):
        confirm = client.get(f"/admin/auth/user/{student.pk}/delete/")
    page = confirm.content.decode()
    assert confirm.status_code == 200 and "Scratch" in page and "Thesis data" not in page
    assert not AuditEntry.objects.filter(action="member.depart").exists()
    with django_capture_on_commit_callbacks(execute=True):
        student.delete()
    package.refresh_from_db()
    team_source.refresh_from_db()
    share.refresh_from_db()
    assert package.owner == team_source.owner == share.created_by == members["admin"]
    assert not type(personal).objects.filter(pk=personal.pk).exists()
    assert client.get(f"/s/{share.token}/").status_code == 200
    details = AuditEntry.objects.filter(action="member.depart", team=team).values_list("detail", flat=True)
    assert sorted(details, key=str) == sorted(
        [{"user": "curator-user", "heir": "admin-user", kind: 1} for kind in ("packages", "sources", "shares")], key=str
    )


def test_credentials_changed_are_logged_by_name_only(members: dict[str, Any], team_source: Source) -> None:
    from sources import services as sources

    members["admin"].is_staff = True  # a folder source: site staff only
    sources.source_update(
        source=team_source, fields={}, credentials={"account_key": "very-secret"}, user=members["admin"], check=False
    )
    entry = AuditEntry.objects.get(action="source.update_credentials")
    assert entry.team_id == team_source.team_id and "very-secret" not in str(entry.detail)


def test_role_names_are_the_contract() -> None:
    assert Role.values == ["viewer", "curator", "admin"]


def test_the_catalog_searches_sorts_naturally_and_pages(
    members: dict[str, Any], team: Team, django_assert_num_queries: Any
) -> None:
    admin = members["admin"]
    for number in (1, 2, 10, 11):
        packages.package_create(owner=admin, name=f"Campaign {number}", team=team)
    lake = packages.package_create(owner=admin, name="Lake", description="temperature profiles")
    packages.package_write_text(package=lake, path="README.md", content="# Chlorophyll readings\n")
    packages.package_write_text(package=lake, path="sensors/buoy-7.csv", content="t\n1\n")
    admin_api = api_for(admin)
    first = admin_api.call("get", "/packages", limit=3).json()
    assert [row["name"] for row in first["items"]] == ["Campaign 1", "Campaign 2", "Campaign 10"]
    rest = admin_api.call("get", "/packages", limit=3, cursor=first["next_cursor"]).json()
    assert [row["name"] for row in rest["items"]] == ["Campaign 11", "Lake"] and rest["next_cursor"] is None
    for q in ("temperature", "chlorophyll", "buoy-7"):
        assert [row["name"] for row in admin_api.call("get", "/packages", q=q).json()["items"]] == ["Lake"], q
    in_team = admin_api.call("get", "/packages", team=str(team.public_id), sort="-name").json()["items"]
    assert [row["name"] for row in in_team] == ["Campaign 11", "Campaign 10", "Campaign 2", "Campaign 1"]
    by_size = admin_api.call("get", "/packages", sort="-size", limit=1).json()["items"]
    assert by_size[0]["name"] == "Lake"
    assert admin_api.call("get", "/packages", cursor="garbage").status_code == 422
    # One query for the page whatever its size (plus the token and the user's roles).
    for limit in (1, 5):
        with django_assert_num_queries(3):
            admin_api.call("get", "/packages", limit=limit)


def test_the_packages_page_uses_the_catalog(members: dict[str, Any], team: Team, client: Client) -> None:
    for number in (10, 9):
        packages.package_create(owner=members["viewer"], name=f"Run {number}", team=team)
    packages.package_create(owner=members["viewer"], name="Mine")
    client.force_login(members["viewer"])
    page = client.get("/packages/", {"q": "run"}).content.decode()
    assert page.index("Run 9") < page.index("Run 10") and "Mine" not in page
    assert client.get("/packages/", {"sort": "sideways"}).status_code == 404


def test_a_metadata_change_is_audited_by_field_name(members: dict[str, Any], team_package: Any) -> None:
    curator = api_for(members["curator"])
    path = f"/packages/{team_package.public_id}"
    metadata = {"title": "Lake survey", "keywords": ["lakes"]}
    assert curator.call("patch", path, {"metadata": metadata}).status_code == 200
    entry = AuditEntry.objects.get(action="package.update_metadata")
    assert entry.actor_name == "curator-user" and entry.team_id == team_package.team_id
    assert entry.detail == {"fields": ["keywords", "title"]} and "Lake survey" not in str(entry.detail)
    curator.call("patch", path, {"metadata": metadata})  # the same again: nothing changed, nothing logged
    assert AuditEntry.objects.filter(action="package.update_metadata").count() == 1


def test_the_packages_page_costs_the_same_queries_for_any_number_of_packages(
    members: dict[str, Any], team: Team, client: Client
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    viewer = members["viewer"]
    client.force_login(viewer)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/packages/").status_code == 200
        return len(captured)

    packages.package_create(owner=viewer, name="Mine")
    packages.package_create(owner=members["admin"], name="Team's", team=team)
    few = queries()
    for number in range(12):
        package = packages.package_create(owner=members["admin"], name=f"Run {number}", team=team)
        packages.package_write_text(package=package, path="README.md", content="# Run\n")
    assert queries() == few
    assert few == 5, few  # the session and its user, the user's teams, the page: none per package


def test_the_shares_and_audit_lists_page_newest_first(members: dict[str, Any], team_package: Any) -> None:
    admin = api_for(members["admin"])
    made = [
        admin.call("post", f"/packages/{team_package.public_id}/shares", {"label": f"link {n}"}).json()["token"]
        for n in range(3)
    ]
    for path in ("/shares", "/audit"):
        seen, cursor = [], None
        while True:
            page = admin.call("get", path, limit=2, **({"cursor": cursor} if cursor else {})).json()
            assert len(page["items"]) <= 2
            seen += page["items"]
            if (cursor := page["next_cursor"]) is None:
                break
        if path == "/shares":
            assert [item["token"] for item in seen] == made[::-1]
        else:
            times = [item["at"] for item in seen]
            assert times == sorted(times, reverse=True) and len(seen) >= 4  # package, entry, three shares
        assert admin.call("get", path, cursor="garbage").status_code == 422
