"""Request helpers shared by every app's views and API routes."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Protocol, TypeVar, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponseBase
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


def _valid_address(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address; behind a proxy, the one the proxy appended last.

    Always a valid address or None: the value is stored in address columns (PostgreSQL
    `inet`) and counted by the password limits, so a forged header must not break either.
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.BEHIND_PROXY and forwarded:
        address = _valid_address(forwarded.split(",")[-1])
        if address is not None:
            return address
    return _valid_address(request.META.get("REMOTE_ADDR"))


def path_url_prefix(name: str, *args: object) -> str:
    """The URL of the route `name` with an empty trailing <path:...>: a page that links to
    hundreds of paths appends each one (quoted) instead of reversing the route per row."""
    marker = "~"
    url = reverse(name, args=[*args, marker])
    return url[: -len(marker)]


class DownloadsFrom(Protocol):
    """Anything that knows the storage origins its download links redirect to (a Source)."""

    @property
    def download_origins(self) -> Iterable[str]: ...


Response = TypeVar("Response", bound=HttpResponseBase)


def allow_storage_images(response: Response, html: str, sources: Iterable[DownloadsFrom]) -> Response:
    """Let a page's rendered README or notebook show images that its links fetch from storage.

    The Content-Security-Policy allows images from packager and data: URIs only; a README
    may point at a file of the package (r/<path>), which redirects to the storage service.
    Only pages whose HTML has an image pay for the query.
    """
    if "<img" in html:
        origins = sorted({origin for source in sources for origin in source.download_origins})
        if origins:
            response._csp_update = {"img-src": origins}  # type: ignore[attr-defined]  # django-csp's per-response hook
    return response
