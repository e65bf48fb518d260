"""The permission table: every page and API route, as each kind of user, and the status each gets.

`ROUTES` is the spec. A row names a route (its URL pattern, or the API's method and path),
the status a user allowed to use it gets (`ok`), and who is allowed (`rule`):

- `public`: anybody, signed in or not (share links, signed file links);
- `user`: any signed-in user (their own lists, forms to create something of their own);
- `viewer`, `curator`, `admin`: that role or above on the object; the owner of a personal
  object counts as admin. A member whose role is lower gets 403; a non-member 404;
- `owner`: the object's owner only (API tokens); everyone else gets 404.

Anonymous users get the login redirect on pages and 401 from the API, except on `public`.

The world: a team (admin, curator, viewer, and a second viewer the member routes act on)
with a source, a package, a published version, a share and an add-matches job; and the same
objects owned personally by `owner`. The owner acts on their own objects, every other user
on the team's. Each request runs in a savepoint rolled back afterwards, so that a delete
leaves the world as it was for the next user.

The README's permission table is printed from `ROUTES` (`readme_table()`), and a test
keeps the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from config.api import api
from packager import citation
from packager import services as packages
from packager.models import AddMatchesJob
from packager.services import api_token_create
from shares import services as share_services
from sources.clients import backend_for
from sources.models import Source
from teams import services as teams
from teams.models import Membership, Team
from tests.factories import make_local_source, publish, write_files

ROOT = Path(__file__).resolve().parent.parent
ROLES = ["owner", "admin", "curator", "viewer", "outsider", "anonymous"]
RANK = {"viewer": 1, "curator": 2, "admin": 3, "owner": 3}
LOGIN = 302
# Routes the table leaves out, and why.
NOT_IN_TABLE = {
    "admin/": "Django's admin: site staff only; tests/test_teams_admin.py checks it asks the policy",
    "api/v1/": "the API: its operations are rows of their own",
}


@dataclass(frozen=True)
class Route:
    method: str
    route: str  # a URL pattern from urls.py, or "/api/v1" + an API path
    rule: str
    ok: int
    data: dict[str, Any] = field(default_factory=dict)  # form fields, or the JSON body

    @property
    def is_api(self) -> bool:
        return self.route.startswith("/api/v1/")

    def expected(self, role: str) -> int:
        if self.rule == "public":
            return self.ok
        if role == "anonymous":
            return 401 if self.is_api else LOGIN
        if self.rule == "user":
            return self.ok
        if self.rule == "owner":
            return self.ok if role == "owner" else 404
        if role == "outsider":
            return 404
        return self.ok if RANK[role] >= RANK[self.rule] else 403


def page(method: str, route: str, rule: str, ok: int, **data: Any) -> Route:
    return Route(method, route, rule, ok, data)


def call(method: str, path: str, rule: str, ok: int, body: dict[str, Any] | None = None) -> Route:
    return Route(method, "/api/v1" + path, rule, ok, body or {})


P = "packages/<uuid:public_id>"
S = "sources/<uuid:public_id>"
T = "teams/<uuid:public_id>"
SHARE = "s/<str:token>"
AP = "/packages/{uuidstr:package_id}"
AS = "/sources/{uuidstr:source_id}"
AT = "/teams/{uuidstr:team_id}"
ADD = {"source": "<source>", "keys": ["raw/b.csv"], "target": "more"}

ROUTES: list[Route] = [
    # Pages ------------------------------------------------------------------------------
    page("GET", "", "public", 302),  # to the packages, or to the login page
    page("GET", "login/", "public", 200),
    page("POST", "login/", "public", 200, username="nobody", password="wrong"),  # shown again
    page("POST", "logout/", "public", 302),
    page("GET", "packages/", "user", 200),
    page("POST", "packages/", "user", 200),  # an invalid form, shown again
    page("POST", "packages/add-objects/", "curator", 302, package="<package>", source="<source>", paths="raw/b.csv"),
    page("POST", "packages/add-search/", "curator", 302, package="<package>", source="<source>", q="b.csv"),
    page("GET", f"{P}/", "viewer", 200),
    page("POST", f"{P}/edit/", "curator", 302, name="Renamed"),
    page("GET", f"{P}/metadata/", "viewer", 200),
    page("POST", f"{P}/metadata/", "curator", 302, title="Survey"),
    page("GET", f"{P}/add-jobs/", "viewer", 200),
    page("GET", f"{P}/changes/", "viewer", 200),
    page("GET", f"{P}/file/<path:path>", "viewer", 200),
    page("GET", f"{P}/versions/", "viewer", 200),
    page("POST", f"{P}/versions/", "curator", 302, message="v2"),
    page("GET", f"{P}/versions/<int:number>/", "viewer", 200),
    page("POST", f"{P}/versions/<int:number>/verify/", "curator", 302),
    page("POST", f"{P}/versions/<int:number>/confirm/", "curator", 302),
    page("POST", f"{P}/versions/<int:number>/doi/", "curator", 302),
    page("POST", f"{P}/versions/<int:number>/public/", "curator", 302, public="on"),
    page("GET", f"{P}/versions/<int:number>/bucket/", "viewer", 200),
    page("POST", f"{P}/versions/<int:number>/bucket/", "curator", 200),
    page("GET", f"{P}/delete/", "admin", 200),
    page("POST", f"{P}/delete/", "admin", 302),
    page("GET", f"{P}/write/", "curator", 200),
    page("POST", f"{P}/write/", "curator", 302, path="notes.md", content="# Notes\n"),
    page("GET", f"{P}/write/<path:path>", "curator", 200),
    page("POST", f"{P}/write/<path:path>", "curator", 302, path="README.md", content="# Changed\n"),
    page("POST", f"{P}/upload/", "curator", 302),
    page("GET", f"{P}/view/<path:path>", "viewer", 200),
    page("GET", f"{P}/move/<path:path>", "curator", 200),
    page("POST", f"{P}/move/<path:path>", "curator", 302, new_path="docs/README.md"),
    page("POST", f"{P}/remove/<path:path>", "curator", 302),
    page("GET", f"{P}/shares/", "viewer", 200),
    page("POST", f"{P}/shares/", "curator", 302, label="for the lab"),
    page("GET", "account/tokens/", "user", 200),
    page("POST", "account/tokens/", "user", 200, name="laptop"),
    page("POST", "account/tokens/<int:token_id>/delete/", "owner", 302),
    page("GET", "sources/", "user", 200),
    page("GET", "sources/add/", "user", 200),
    page("POST", "sources/add/", "user", 200),  # an invalid form, shown again
    page("GET", f"{S}/edit/", "admin", 200),
    page("POST", f"{S}/edit/", "admin", 200),
    page("GET", f"{S}/delete/", "admin", 200),
    page("POST", f"{S}/delete/", "admin", 302),
    page("POST", f"{S}/test/", "admin", 302),
    page("POST", f"{S}/reindex/", "admin", 302),
    page("GET", f"{S}/index/", "viewer", 200),
    page("POST", f"{S}/index/cancel/", "admin", 302),
    page("GET", f"{S}/search/", "viewer", 200),
    page("GET", f"{S}/browse/", "viewer", 200),
    page("GET", f"{S}/browse/<path:folder>", "viewer", 200),
    page("GET", f"{S}/object/<path:path>", "curator", 200),  # reads the file: a curator's right
    page("POST", f"{S}/link/<path:path>", "curator", 200),
    page("GET", "files/<str:token>/", "public", 200),
    page("GET", f"{SHARE}/", "public", 200),
    page("POST", f"{SHARE}/", "public", 302, password="unused"),  # the unlock form
    page("GET", f"{SHARE}/key", "public", 404),  # a share with no password has no key link
    page("GET", f"{SHARE}/download.zip", "public", 200),
    page("GET", f"{SHARE}/urls.txt", "public", 200),
    page("GET", f"{SHARE}/manifest.jsonl", "public", 200),
    page("GET", f"{SHARE}/direct.txt", "public", 200),
    page("GET", f"{SHARE}/direct.tsv", "public", 200),
    page("GET", f"{SHARE}/datapackage.json", "public", 200),
    page("GET", f"{SHARE}/r/", "public", 200),
    page("GET", f"{SHARE}/CITATION.cff", "public", 200),
    page("GET", f"{SHARE}/datacite.xml", "public", 200),
    page("GET", f"{SHARE}/citation.bib", "public", 200),
    page("GET", f"{SHARE}/citation.ris", "public", 200),
    page("GET", f"{SHARE}/ro-crate-metadata.json", "public", 200),
    page("GET", f"{SHARE}/r/<path:path>", "public", 307),
    page("GET", f"{SHARE}/annex.git/<path:name>", "public", 200),
    page("GET", f"{SHARE}/dvc.git/<path:name>", "public", 200),
    page("GET", f"{SHARE}/dvc/files/md5/<str:head>/<str:tail>", "public", 307),
    page("GET", f"{SHARE}/sha256/<str:digest>", "public", 307),
    page("GET", f"{SHARE}/md5/<str:digest>", "public", 307),
    page("GET", f"{SHARE}/view/<path:path>", "public", 200),
    page("GET", "shares/", "user", 200),
    # The public catalog of versions made public, its landing pages, and OAI-PMH.
    page("GET", "catalog/", "public", 200),
    page("GET", "catalog/<uuid:public_id>/<int:number>/", "public", 302),  # to its public share
    page("GET", "oai", "public", 200),
    page("POST", "oai", "public", 200, verb="Identify"),  # OAI-PMH takes POST too
    page("POST", "shares/revoke/", "curator", 302, token="<share>"),
    page("POST", "shares/<str:token>/revoke/", "curator", 302),
    page("GET", "shares/<str:token>/log/", "viewer", 200),
    page("GET", "shares/<str:token>/log.csv", "viewer", 200),
    page("GET", "teams/", "user", 200),
    page("POST", "teams/", "user", 302, name="Another lab"),
    page("GET", f"{T}/", "viewer", 200),
    page("POST", f"{T}/", "admin", 302, name="Renamed lab"),
    page("POST", f"{T}/invite/", "admin", 302, email="new@lab.test", role="viewer"),
    page("POST", f"{T}/members/<int:user_id>/role/", "admin", 302, role="curator"),
    page("POST", f"{T}/members/<int:user_id>/remove/", "admin", 302),
    page("POST", f"{T}/delete/", "admin", 302),
    page("GET", "invitations/<str:token>/", "user", 200),
    page("POST", "invitations/<str:token>/", "user", 302),
    page("GET", "audit/", "user", 200),
    page("GET", "audit.csv", "user", 200),
    # Sign-in with an identity provider: off here (no OIDC_RP_CLIENT_ID); tests/test_oidc.py signs in.
    page("GET", "oidc/authenticate/", "public", 404),
    page("GET", "oidc/callback/", "public", 404),
    # API ------------------------------------------------------------------------------
    call("GET", "/sources", "user", 200),
    call("POST", "/sources", "user", 422, {"name": "x", "kind": "s3", "bucket": "b", "endpoint_url": "ftp://x"}),
    call("GET", AS, "viewer", 200),
    call("PATCH", AS, "admin", 422, {"name": "lake 2"}),  # a folder source: site staff only
    call("DELETE", AS, "admin", 409),  # a package holds its files
    call("POST", f"{AS}/test", "admin", 200),
    call("POST", f"{AS}/index", "admin", 202),
    call("POST", f"{AS}/index/cancel", "admin", 409),  # nothing to cancel
    call("GET", f"{AS}/objects", "viewer", 200),
    call("GET", f"{AS}/search", "viewer", 200),
    call("GET", "/packages", "user", 200),
    call("POST", "/packages", "user", 201, {"name": "Another"}),
    call("GET", AP, "viewer", 200),
    call("PATCH", AP, "curator", 200, {"description": "changed"}),
    call("DELETE", AP, "admin", 204),
    call("GET", f"{AP}/entries", "viewer", 200),
    call("POST", f"{AP}/entries", "curator", 201, ADD),
    call("GET", f"{AP}/versions/{{int:number}}/entries", "viewer", 200),
    call("GET", f"{AP}/add-jobs/{{uuidstr:job_id}}", "viewer", 200),
    call("PATCH", f"{AP}/entries/{{path:path}}", "curator", 200, {"path": "docs/README.md"}),
    call("DELETE", f"{AP}/entries/{{path:path}}", "curator", 204),
    call("POST", f"{AP}/versions", "curator", 409, {}),  # nothing changed since version 1
    call("GET", f"{AP}/versions", "viewer", 200),
    call("GET", f"{AP}/versions/{{int:number}}", "viewer", 200),
    call("PATCH", f"{AP}/versions/{{int:number}}", "curator", 200, {"public": True}),
    call("GET", f"{AP}/versions/{{int:number}}/diff", "viewer", 200),
    call("POST", f"{AP}/versions/{{int:number}}/verify", "curator", 202, {}),
    call("POST", f"{AP}/versions/{{int:number}}/confirm", "curator", 409, {}),  # nothing drifted
    call("GET", f"{AP}/versions/{{int:number}}/publications", "viewer", 200),
    call("POST", f"{AP}/versions/{{int:number}}/doi/findable", "curator", 409, {}),
    call("POST", f"{AP}/versions/{{int:number}}/doi/update", "curator", 409, {}),
    call(
        "POST", f"{AP}/versions/{{int:number}}/publications", "curator", 422, {"destination": "<source>"}
    ),  # a folder is no bucket: 422
    call("GET", f"{AP}/shares", "viewer", 200),
    call("POST", f"{AP}/shares", "curator", 201, {}),
    call("DELETE", "/shares/{token}", "curator", 204),
    call("GET", "/shares", "user", 200),
    call("GET", "/teams", "user", 200),
    call("POST", "/teams", "user", 201, {"name": "Another lab"}),
    call("GET", AT, "viewer", 200),
    call("PATCH", AT, "admin", 200, {"name": "Renamed lab"}),
    call("DELETE", AT, "admin", 409),  # the team still holds sources and packages
    call("GET", f"{AT}/members", "viewer", 200),
    call("POST", f"{AT}/members", "admin", 201, {"username": "bystander2", "role": "viewer"}),
    call("PATCH", f"{AT}/members/{{int:user_id}}", "admin", 200, {"role": "curator"}),
    call("DELETE", f"{AT}/members/{{int:user_id}}", "admin", 204),
    call("GET", "/audit", "user", 200),
]


# Every route, from the URL resolver and the API ----------------------------------------


def page_routes() -> set[str]:
    found: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if prefix + str(pattern.pattern) in NOT_IN_TABLE:
                    continue
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                found.add(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "")
    return found - set(NOT_IN_TABLE)


def api_routes() -> set[tuple[str, str]]:
    return {
        (method, "/api/v1" + prefix + path)
        for prefix, router in api._routers
        for path, path_view in router.path_operations.items()
        for operation in path_view.operations
        for method in operation.methods
    }


def test_the_table_names_every_route() -> None:
    in_table = {row.route for row in ROUTES if not row.is_api}
    assert sorted(page_routes() - in_table) == [], "pages missing from ROUTES"
    assert sorted(in_table - page_routes()) == [], "ROUTES names pages that do not exist"
    api_in_table = {(row.method, row.route) for row in ROUTES if row.is_api}
    assert sorted(api_routes() - api_in_table) == [], "API operations missing from ROUTES"
    assert sorted(api_in_table - api_routes()) == [], "ROUTES names API operations that do not exist"
    rows = [(row.method, row.route) for row in ROUTES]
    assert len(rows) == len(set(rows)), "a route is in ROUTES twice"


# The world -----------------------------------------------------------------------------


@dataclass
class Objects:
    """The objects one user acts on, and what fills the placeholders of a route."""

    values: dict[str, str]

    def url(self, route: Route) -> str:
        if route.is_api:
            path = re.sub(r"\{(?:\w+:)?(\w+)\}", lambda match: self.values[match.group(1)], route.route)
            return path

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "public_id":
                kind = route.route.split("/", 1)[0]
                return self.values[
                    {"packages": "package", "sources": "source", "teams": "team", "catalog": "package"}[kind]
                ]
            if name == "token":
                kind = route.route.split("/", 1)[0]
                return self.values[
                    {"s": "share", "shares": "share", "files": "file", "invitations": "invitation"}[kind]
                ]
            if name == "digest" and "/md5/" in route.route:
                return self.values["md5"]
            return self.values[name]

        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route.route)

    def data(self, route: Route) -> dict[str, Any]:
        def fill(value: Any) -> Any:
            if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
                return self.values[value[1:-1]]
            if isinstance(value, list):
                return [fill(item) for item in value]
            return value

        return {key: fill(value) for key, value in route.data.items()}


def objects_of(user: Any, team: Team, *, team_owned: bool, folder: Path, target: Any, token_id: int) -> Objects:
    """A source, a package with a published version and a share, owned by the team or the user."""
    write_files(folder, {"raw/a.csv": b"a,b\n1,2\n", "raw/b.csv": b"b\n"})
    source = make_local_source(user, folder, name=f"lake {folder.name}")
    package = packages.package_create(owner=user, name=f"Survey {folder.name}", team=team if team_owned else None)
    if team_owned:
        Source.objects.filter(pk=source.pk).update(team=team)
        source.refresh_from_db()
    packages.package_write_text(package=package, path="README.md", content="# Survey\n")
    packages.package_add_objects(package=package, source=source, paths=["raw/a.csv"], target="data")
    version = publish(package, created_by=user)
    citation.version_public_set(version=version, public=True)  # in the public catalog too
    share = share_services.share_create(package=package, created_by=user, base_url="http://testserver")
    job = AddMatchesJob.objects.create(package=package, source=source, total=1)
    entry = version.entries.get(path="data/a.csv")
    invitation = teams.invitation_create(
        team=team, email="someone@lab.test", role="viewer", actor=user, accept_url=lambda token: token
    )
    link = backend_for(source).sign_url("raw/a.csv")
    return Objects(
        {
            "package": str(package.public_id),
            "package_id": str(package.public_id),
            "source": str(source.public_id),
            "source_id": str(source.public_id),
            "team": str(team.public_id),
            "team_id": str(team.public_id),
            "share": share.token,
            "token": share.token,
            "file": link.split("/")[2],
            "invitation": invitation.token,
            "number": "1",
            "job_id": str(job.public_id),
            "path": "README.md",
            "folder": "raw/",
            "name": "HEAD",
            "head": entry.md5[:2],
            "tail": entry.md5[2:],
            "digest": entry.sha256,
            "md5": entry.md5,
            "user_id": str(target.pk),
            "token_id": str(token_id),
        }
    )


@pytest.fixture
def world(django_user_model: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any) -> dict[str, Any]:
    users = {
        name: django_user_model.objects.create_user(name, email=f"{name}@lab.test", password="pw-123456789")
        for name in ("owner", "admin", "curator", "viewer", "outsider", "bystander", "bystander2")
    }
    team = teams.team_create(name="Lake lab", creator=users["admin"])
    for role, name in (("curator", "curator"), ("viewer", "viewer"), ("viewer", "bystander")):
        Membership.objects.create(team=team, user=users[name], role=role)
    # The owner's objects are their own; the team routes act on a team they made (and so administer).
    owners_team = teams.team_create(name="Owner's lab", creator=users["owner"])
    Membership.objects.create(team=owners_team, user=users["bystander"], role="viewer")
    packages.package_create(owner=users["owner"], name="Kept", team=owners_team)
    owner_token, _ = api_token_create(user=users["owner"], name="laptop")
    common = {"target": users["bystander"], "token_id": owner_token.pk}
    with django_capture_on_commit_callbacks(execute=True):  # the share's repositories are built
        own = objects_of(users["owner"], owners_team, team_owned=False, folder=tmp_path / "own", **common)
        shared = objects_of(users["admin"], team, team_owned=True, folder=tmp_path / "team", **common)
    clients: dict[str, Client] = {}
    tokens: dict[str, str | None] = {"anonymous": None}
    for name in ROLES:
        clients[name] = Client()
        if name != "anonymous":
            clients[name].force_login(users[name])
            tokens[name] = api_token_create(user=users[name], name="tests")[1]
    return {"users": users, "own": own, "team": shared, "clients": clients, "tokens": tokens}


def status_of(world: dict[str, Any], route: Route, role: str) -> int:
    objects: Objects = world["own" if role == "owner" else "team"]
    url = objects.url(route)
    if route.route.startswith("sources/") and "<path:path>" in route.route:
        url = url.replace("README.md", "raw/a.csv")
    elif route.route.endswith("/r/<path:path>"):
        url = url.replace("README.md", "data/a.csv")
    # A fresh client with the user's session cookie: a response (logout) cannot change the next.
    client = Client()
    client.cookies.load({name: morsel.value for name, morsel in world["clients"][role].cookies.items()})
    data = objects.data(route)
    with transaction.atomic():
        if route.is_api:
            headers = {"HTTP_AUTHORIZATION": f"Bearer {world['tokens'][role]}"} if world["tokens"][role] else {}
            method = getattr(client, route.method.lower())
            if route.method in ("GET", "DELETE"):
                response = method(url, **headers)
            else:
                response = method(url, data=data, content_type="application/json", **headers)
        elif route.method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data)
        transaction.set_rollback(True)
    return response.status_code


def test_every_route_answers_each_user_as_the_table_says(world: dict[str, Any]) -> None:
    wrong = [
        (route.method, route.route, role, route.expected(role), status)
        for route in ROUTES
        for role in ROLES
        if (status := status_of(world, route, role)) != route.expected(role)
    ]
    assert wrong == [], "\n".join(f"{m} {r} as {role}: expected {e}, got {s}" for m, r, role, e, s in wrong)


# The README's table --------------------------------------------------------------------


def readme_table() -> str:
    words = {"public": "anyone", "user": "signed in", "owner": "owner only"}
    lines = [
        "| method | route | who | " + " | ".join(ROLES) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in ROLES) + " |",
    ]
    for route in ROUTES:
        path = route.route if route.is_api else "/" + route.route
        who = words.get(route.rule, f"{route.rule}+")
        statuses = " | ".join(str(route.expected(role)) for role in ROLES)
        lines.append(f"| {route.method} | `{path}` | {who} | {statuses} |")
    return "\n".join(lines) + "\n"


def test_the_readme_shows_the_table() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme_table() in readme, (
        "README.md's route table is out of step: paste tests.test_permissions.readme_table()"
    )


def test_the_methods_missing_from_the_table_are_refused(world: dict[str, Any]) -> None:
    """A page answers only the methods of its rows: a POST the table does not know is a 405."""
    listed: dict[str, set[str]] = {}
    for route in ROUTES:
        if not route.is_api and route.ok != 404:  # (a route that is off answers 404 to everything)
            listed.setdefault(route.route, set()).add(route.method)
    wrong = []
    for route_pattern, methods in listed.items():
        for method in {"GET", "POST"} - methods:
            probe = Route(method, route_pattern, "public", 405)
            if method == "GET" and route_pattern == "logout/":
                continue
            status = status_of(world, probe, "owner")
            if status != 405:
                wrong.append(f"{method} /{route_pattern}: {status}")
    assert wrong == [], "\n".join(wrong)
