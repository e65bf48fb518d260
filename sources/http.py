"""Request types shared by every app's views (sources is the layer all others build on)."""

from __future__ import annotations

from typing import cast
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponseBase


class AuthenticatedRequest(HttpRequest):
    """A request behind login_required: its user is a real user."""

    user: User


def api_user(request: HttpRequest) -> User:
    """The user that the API's authentication found (ninja sets request.auth)."""
    return cast(User, request.auth)  # type: ignore[attr-defined]


def page_number(request: HttpRequest) -> int:
    """The ?page= of a paginated listing; anything that is not a number is page 1."""
    try:
        return max(int(request.GET.get("page", "1")), 1)
    except ValueError:
        return 1


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


def allow_image_origin(response: HttpResponseBase, url: str) -> None:
    """Let the page's Content-Security-Policy load images from the origin of `url`.

    Previews show images straight from a signed storage URL, so that origin joins the
    page's img-src through django-csp's per-response `_csp_update`. A relative URL (a local
    folder's link, served by packager itself) is already 'self'.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return
    update = dict(getattr(response, "_csp_update", None) or {})
    origins = list(update.get("img-src", []))
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin not in origins:
        origins.append(origin)
    update["img-src"] = origins
    response._csp_update = update  # type: ignore[attr-defined]
