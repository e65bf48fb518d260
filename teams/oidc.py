"""Sign-in with an OpenID Connect provider (Keycloak, Entra ID, Google, ORCID…) beside local accounts.

mozilla-django-oidc does the protocol (authorization code flow, ID token checked against the
provider's keys, the userinfo call); this module decides who the person is here: an account
found by email, or a new one named after `preferred_username`, and, with `OIDC_TEAM_CLAIM`,
their teams. An email is only matched when the provider vouches for it (`email_verified`), or
when OIDC_TRUST_EMAIL says the provider verifies every address it sends: otherwise anyone who
can register an address at the provider could sign in to the local account that has it.
Off unless `OIDC_RP_CLIENT_ID` is set: the routes answer 404 and the backend is not in
AUTHENTICATION_BACKENDS.

mozilla-django-oidc rather than django-allauth: one provider configured from settings is the
whole need, and it adds one backend and three views, where allauth brings its own account
pages, email confirmation and a database table of providers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core import checks
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from teams import services
from teams.models import Membership, Role, Team
from teams.policy import RANK

REQUIRED = [
    "OIDC_RP_CLIENT_SECRET",
    "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "OIDC_OP_TOKEN_ENDPOINT",
    "OIDC_OP_USER_ENDPOINT",
    "OIDC_OP_JWKS_ENDPOINT",
]


def enabled() -> bool:
    return bool(getattr(settings, "OIDC_RP_CLIENT_ID", ""))


def team_roles_map() -> dict[str, tuple[str, str]]:
    """OIDC_TEAM_ROLES, "claim value=team id:role" items: {claim value: (team id, role)}."""
    mapping: dict[str, tuple[str, str]] = {}
    for item in getattr(settings, "OIDC_TEAM_ROLES", []):
        value, _, target = item.partition("=")
        team, _, role = target.partition(":")
        mapping[value.strip()] = (team.strip(), role.strip() or Role.VIEWER)
    return mapping


class EmailNotVerified(Exception):
    pass


def email_vouched_for(claims: dict[str, Any]) -> bool:
    """True when the provider says it verified the email (a boolean, or the string "true" some
    providers send), or when OIDC_TRUST_EMAIL trusts every address it sends."""
    verified = claims.get("email_verified")
    return verified is True or str(verified).lower() == "true" or bool(getattr(settings, "OIDC_TRUST_EMAIL", False))


class OIDCBackend(OIDCAuthenticationBackend):
    def verify_claims(self, claims: dict[str, Any]) -> bool:
        if not super().verify_claims(claims):
            return False
        if not email_vouched_for(claims):
            raise EmailNotVerified
        return True

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        try:
            return super().get_or_create_user(access_token, id_token, payload)
        except EmailNotVerified:
            messages.error(
                self.request,
                f"{settings.OIDC_PROVIDER_NAME} has not verified this account's email address, so it cannot "
                "sign in here. Verify the address there, then sign in again.",
            )
            return None

    def create_user(self, claims: dict[str, Any]) -> Any:
        user = get_user_model().objects.create_user(
            _free_username(claims), email=claims.get("email", ""), first_name=claims.get("given_name", "")[:150]
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        join_teams_from_claims(user, claims)
        return user

    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        join_teams_from_claims(user, claims)
        return user


def _free_username(claims: dict[str, Any]) -> str:
    wanted = claims.get("preferred_username") or claims.get("email", "").partition("@")[0] or "user"
    base = re.sub(r"[^\w.@+-]", "-", str(wanted))[:140] or "user"
    users = get_user_model().objects
    name = base
    while users.filter(username=name).exists():
        name = f"{base}-{uuid.uuid4().hex[:6]}"
    return name


@transaction.atomic
def join_teams_from_claims(user: Any, claims: dict[str, Any]) -> list[Membership]:
    """Memberships granted by the provider: for each value of OIDC_TEAM_CLAIM that
    OIDC_TEAM_ROLES maps to a team, the user is a member with at least that role (the highest
    if several values name the same team). A role given in packager that is higher stays;
    a value that goes away removes nobody (an admin does that here)."""
    claim = getattr(settings, "OIDC_TEAM_CLAIM", "")
    if not claim:
        return []
    values = claims.get(claim) or []
    if isinstance(values, str):
        values = [values]
    mapping = team_roles_map()
    wanted: dict[str, str] = {}
    for value in values:
        if str(value) in mapping:
            team_id, role = mapping[str(value)]
            if role in Role.values and RANK[role] > RANK.get(wanted.get(team_id, ""), 0):
                wanted[team_id] = role
    memberships = []
    for team in Team.objects.filter(public_id__in=[_uuid(team_id) for team_id in wanted if _uuid(team_id)]):
        role = wanted[str(team.public_id)]
        current = Membership.objects.filter(team=team, user=user).first()
        if current is None:
            memberships.append(services.member_add(team=team, user=user, role=role, actor=user))
        elif RANK[role] > RANK[current.role]:
            memberships.append(services.member_update(membership=current, role=role, actor=user))
    return memberships


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _when_enabled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not enabled():
            raise Http404("Sign-in with an identity provider is not set up here.")
        return view(request, *args, **kwargs)

    return checked


oidc_authenticate = _when_enabled(OIDCAuthenticationRequestView.as_view())
oidc_callback = _when_enabled(OIDCAuthenticationCallbackView.as_view())


def sign_in_options(request: HttpRequest) -> dict[str, Any]:
    """Template context: the provider's button on the login page, when there is one."""
    return {"oidc_provider_name": settings.OIDC_PROVIDER_NAME if enabled() else ""}


@checks.register(checks.Tags.security)
def check_oidc_settings(**kwargs: Any) -> list[checks.CheckMessage]:
    if not enabled():
        return []
    missing = [name for name in REQUIRED if not getattr(settings, name, "")]
    errors: list[checks.CheckMessage] = []
    if missing:
        errors.append(
            checks.Error(
                f"OIDC_RP_CLIENT_ID is set, so sign-in with OpenID Connect needs {', '.join(missing)}.", id="teams.E001"
            )
        )
    for value, (team_id, role) in team_roles_map().items():
        if _uuid(team_id) is None or role not in Role.values:
            errors.append(
                checks.Error(
                    f"OIDC_TEAM_ROLES: “{value}={team_id}:{role}” should name a team id and a role"
                    " (admin, curator or viewer).",
                    id="teams.E002",
                )
            )
    return errors
