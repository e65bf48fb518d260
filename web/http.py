"""Request helpers shared by every app's views and API routes."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Protocol, TypeVar, cast
from urllib.parse import urlsplit

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


# Host names only this machine reaches: links to them need no PUBLIC_URL (`make run`).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def is_wildcard_host(host: str) -> bool:
    return host == "*" or host.startswith(".")


def configured_public_url() -> str:
    """packager's public origin from the settings alone ("" when they do not say it): PUBLIC_URL,
    or, when ALLOWED_HOSTS names exactly one host, that host with https when SECURE_COOKIES is set.

    A single loopback host says nothing of the port (ALLOWED_HOSTS names none, and a server on
    this machine is seldom on port 80): its links take the request's host and port, which
    Django has checked against ALLOWED_HOSTS.
    """
    if settings.PUBLIC_URL:
        return str(settings.PUBLIC_URL).rstrip("/")
    hosts = list(settings.ALLOWED_HOSTS)
    if len(hosts) == 1 and not is_wildcard_host(hosts[0]) and hosts[0].lower() not in LOOPBACK_HOSTS:
        return f"{'https' if settings.SECURE_COOKIES else 'http'}://{hosts[0]}"
    return ""


def public_url(request: HttpRequest, path: str = "/") -> str:
    """The absolute URL of `path` (which starts with "/") as links handed out name it.

    From the settings (configured_public_url), never from a header the client chose. Only
    where the settings name no origin does the request's host serve: in DEBUG, with loopback
    host names only, or in tests (web.checks refuses to start otherwise).
    """
    base = configured_public_url() or request.build_absolute_uri("/")[:-1]
    return base + path


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
        _allow_origins(response, "img-src", _origins_of(sources))
    return response


def allow_storage_downloads(response: Response, sources: Iterable[DownloadsFrom]) -> Response:
    """Let a page's scripts fetch from the storage services its download links redirect to
    (the share page's "Download all into a folder"): connect-src follows redirects too."""
    _allow_origins(response, "connect-src", _origins_of(sources))
    return response


def allow_image_origin(response: Response, url: str) -> Response:
    """Let a page show an image from the origin of `url` (a preview's signed storage URL).

    A relative URL (a local folder's link, served by packager itself) is already 'self'.
    """
    parts = urlsplit(url)
    if parts.scheme in {"http", "https"} and parts.netloc:
        _allow_origins(response, "img-src", [f"{parts.scheme}://{parts.netloc}"])
    return response


def _origins_of(sources: Iterable[DownloadsFrom]) -> list[str]:
    return sorted({origin for source in sources for origin in source.download_origins})


def _allow_origins(response: HttpResponseBase, directive: str, origins: Iterable[str]) -> None:
    """Add origins to one directive of the page's policy through django-csp's per-response `_csp_update`."""
    update = dict(getattr(response, "_csp_update", None) or {})
    allowed = list(update.get(directive, []))
    allowed += [origin for origin in origins if origin not in allowed]
    if allowed:
        update[directive] = allowed
        response._csp_update = update  # type: ignore[attr-defined]
