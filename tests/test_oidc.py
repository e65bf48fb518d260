"""Sign-in with OpenID Connect, against a real provider on 127.0.0.1 (PyPI oidc-provider-mock),
through Debian's chromium; and the pieces around it: off by default, teams from a claim."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.checks import run_checks
from django.test import Client
from playwright.sync_api import Browser, expect, sync_playwright

from teams import oidc
from teams import services as teams
from teams.models import AuditEntry, Membership, Team

CHROMIUM = "/usr/bin/chromium"

ALICE = {
    "email": "alice@lab.test",
    "email_verified": True,
    "preferred_username": "alice",
    "given_name": "Alice",
    "groups": ["lake-curators", "everyone"],
}


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[dict[str, str]]:
    """A real OpenID provider on 127.0.0.1: the endpoints of its discovery document."""
    import oidc_provider_mock
    import werkzeug.serving

    application = oidc_provider_mock.app(
        require_nonce=True, user_claims=[oidc_provider_mock.User(sub="alice", claims=ALICE)]
    )
    server = werkzeug.serving.make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    with urllib.request.urlopen(f"{base}/.well-known/openid-configuration", timeout=10) as response:
        discovery = json.load(response)
    yield discovery
    server.shutdown()
    thread.join()


def configure(settings: Any, discovery: dict[str, str], team: Team | None = None) -> None:
    settings.OIDC_RP_CLIENT_ID = "packager"
    settings.OIDC_RP_CLIENT_SECRET = "packager-secret"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = discovery["authorization_endpoint"]
    settings.OIDC_OP_TOKEN_ENDPOINT = discovery["token_endpoint"]
    settings.OIDC_OP_USER_ENDPOINT = discovery["userinfo_endpoint"]
    settings.OIDC_OP_JWKS_ENDPOINT = discovery["jwks_uri"]
    settings.OIDC_PROVIDER_NAME = "Lab ID"
    # This provider's tokens name no key id; its one key (and the algorithm) still checks them.
    settings.OIDC_VERIFY_KID = False
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "teams.oidc.OIDCBackend"]
    if team is not None:
        settings.OIDC_TEAM_CLAIM = "groups"
        settings.OIDC_TEAM_ROLES = [f"lake-curators={team.public_id}:curator", "nobody=not-a-team:viewer"]


@pytest.mark.django_db
def test_it_is_off_unless_configured(client: Client) -> None:
    assert client.get("/oidc/authenticate/").status_code == 404
    assert "Sign in with" not in client.get("/login/").content.decode()


@pytest.mark.django_db
def test_a_half_configured_provider_stops_the_start(settings: Any) -> None:
    settings.OIDC_RP_CLIENT_ID = "packager"
    settings.OIDC_TEAM_ROLES = ["lake=not-a-uuid:boss"]
    ids = {message.id for message in run_checks()}
    assert {"teams.E001", "teams.E002"} <= ids


@pytest.mark.django_db
def test_a_claim_makes_a_member_and_never_lowers_a_role(settings: Any, django_user_model: Any) -> None:
    admin = django_user_model.objects.create_user("ada")
    team = teams.team_create(name="Lake lab", creator=admin)
    settings.OIDC_TEAM_CLAIM = "groups"
    settings.OIDC_TEAM_ROLES = [f"lake-viewers={team.public_id}:viewer", f"lake-curators={team.public_id}:curator"]
    bob = django_user_model.objects.create_user("bob")
    oidc.join_teams_from_claims(bob, {"groups": ["lake-viewers"]})
    assert Membership.objects.get(team=team, user=bob).role == "viewer"
    oidc.join_teams_from_claims(bob, {"groups": ["lake-viewers", "lake-curators"]})
    assert Membership.objects.get(team=team, user=bob).role == "curator"
    oidc.join_teams_from_claims(bob, {"groups": "lake-viewers"})  # lower: the curator stays curator
    assert Membership.objects.get(team=team, user=bob).role == "curator"
    oidc.join_teams_from_claims(admin, {"groups": ["lake-viewers"]})  # nor is an admin demoted
    assert Membership.objects.get(team=team, user=admin).role == "admin"


@pytest.mark.system
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_person_signs_in_with_the_provider_in_the_browser(
    oidc_provider: dict[str, str],
    live_server: Any,
    settings: Any,
    django_user_model: Any,
    output_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("Debian's chromium is not installed: run `make install-test`.")
    founder = django_user_model.objects.create_user("ada")
    team = teams.team_create(name="Lake lab", creator=founder)
    configure(settings, oidc_provider, team)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop in this thread
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{live_server.url}/login/")
        page.get_by_role("link", name="Sign in with Lab ID").click()
        # The provider's own page: authorize as alice.
        expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
        page.get_by_role("button", name="alice").click()
        expect(page.get_by_role("heading", name="Packages")).to_be_visible()
        page.goto(f"{live_server.url}/teams/")
        expect(page.get_by_text("Lake lab")).to_be_visible()
        page.screenshot(path=str(output_dir / "oidc-signed-in.png"))
        browser.close()
    alice = django_user_model.objects.get(email="alice@lab.test")
    assert alice.username == "alice" and not alice.has_usable_password()
    assert Membership.objects.get(team=team, user=alice).role == "curator"
    assert AuditEntry.objects.filter(action="member.add", actor=alice, team=team).exists()
    # Signing in again finds the same account.
    assert django_user_model.objects.filter(email="alice@lab.test").count() == 1


@pytest.mark.django_db
def test_an_email_the_provider_has_not_verified_signs_in_to_no_account(
    settings: Any, django_user_model: Any, rf: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone who registered alice's address at the provider without proving it is not alice here."""
    settings.OIDC_RP_CLIENT_ID = "packager"
    settings.OIDC_PROVIDER_NAME = "Lab ID"
    alice = django_user_model.objects.create_user("alice", email="alice@lab.test", password="a long password 1")
    backend = oidc.OIDCBackend()
    request = rf.get("/oidc/callback/")
    request.session = {}
    request._messages = FallbackStorage(request)
    backend.request = request
    for claims in ({"email": "alice@lab.test"}, {"email": "alice@lab.test", "email_verified": False}):
        monkeypatch.setattr(backend, "get_userinfo", lambda *args, claims=claims: dict(claims))
        assert backend.get_or_create_user("access", "id", {}) is None
    assert [str(message) for message in request._messages] == [
        "Lab ID has not verified this account's email address, so it cannot sign in here. "
        "Verify the address there, then sign in again."
    ] * 2
    assert django_user_model.objects.filter(email="alice@lab.test").count() == 1  # no second account either
    # Verified (a boolean, or the string some providers send), or a provider trusted for every address.
    for claims, trusted in (({"email_verified": True}, False), ({"email_verified": "true"}, False), ({}, True)):
        settings.OIDC_TRUST_EMAIL = trusted
        monkeypatch.setattr(backend, "get_userinfo", lambda *args, claims=claims: {"email": "alice@lab.test", **claims})
        assert backend.get_or_create_user("access", "id", {}) == alice
