"""Request helpers shared by every app's views and API routes."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.urls import reverse


class AuthenticatedRequest(HttpRequest):
    """A request behind login_required: its user is a real user."""

    user: User


def api_user(request: HttpRequest) -> User:
    """The user that the API's authentication found (ninja sets request.auth)."""
    return cast(User, request.auth)  # type: ignore[attr-defined]


def breadcrumbs(folder: str) -> list[tuple[str, str]]:
    """[("a", "a/"), ("b", "a/b/")] for the folder "a/b/" (or "a/b")."""
    crumbs, path = [], ""
    for part in [part for part in folder.split("/") if part]:
        path += part + "/"
        crumbs.append((part, path))
    return crumbs


def client_ip(request: HttpRequest) -> str | None:
    """The client's address; behind a proxy, the one the proxy appended last."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.BEHIND_PROXY and forwarded:
        return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR")


def path_url_prefix(name: str, *args: object) -> str:
    """The URL of the route `name` with an empty trailing <path:...>: a page that links to
    hundreds of paths appends each one (quoted) instead of reversing the route per row."""
    marker = "~"
    url = reverse(name, args=[*args, marker])
    return url[: -len(marker)]
