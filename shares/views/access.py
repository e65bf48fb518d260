"""Who may see a share and download from it, and the small answers every share view gives."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare

from packager import exports, ratelimit
from packager.models import PackageVersion
from packager.paths import reserved_message
from shares import services
from shares.models import Share
from sources.backends.errors import StorageError
from teams import policy
from web.http import client_ip, public_url
from web.throttle import Budget, throttle_take

SESSION_KEY = "unlocked_shares"

P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class KeyLink:
    """The key link a request came through (set by shares.middleware once the key checked out)."""

    token: str
    key: str


def came_by_key_link(request: HttpRequest, share: Share) -> bool:
    """Whether the request came through this share's key link, for its current password."""
    used: KeyLink | None = getattr(request, "share_key_link", None)
    return (
        used is not None
        and used.token == share.token
        and share.has_password
        and constant_time_compare(used.key, share.link_key)
    )


def share_path(request: HttpRequest, share: Share) -> str:
    """The share's path as this request reached it ("/s/<token>/" or its key link's), so the
    links of a page or a listing stay on the key link that served it."""
    base = reverse("share_page", kwargs={"token": share.token})
    return f"{base}k/{share.link_key}/" if came_by_key_link(request, share) else base


def key_link_url(request: HttpRequest, share: Share) -> str | None:
    """The absolute key link of a password share (None for an open one)."""
    if not share.has_password:
        return None
    return f"{site_base(request)}{reverse('share_page', kwargs={'token': share.token})}k/{share.link_key}/"


def is_owner(request: HttpRequest, share: Share) -> bool:
    """The signed-in user may see the package anyway: its owner, or a member of its team."""
    return policy.can_view_package(request.user, share.package)


def basic_auth_password(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


def needs_no_password(request: HttpRequest, share: Share) -> bool:
    """No password set, the key link, the owner, or a session that already gave the password."""
    return (
        not share.has_password
        or came_by_key_link(request, share)
        or is_owner(request, share)
        or request.session.get(SESSION_KEY, {}).get(share.token) == share.unlock_marker
    )


def is_unlocked(request: HttpRequest, share: Share) -> bool:
    """As needs_no_password, or the password given with HTTP Basic auth."""
    if needs_no_password(request, share):
        return True
    password = basic_auth_password(request)
    return password is not None and services.share_unlock(share=share, password=password, ip_address=client_ip(request))


def remember_unlock(request: HttpRequest, share: Share) -> None:
    unlocked = dict(request.session.get(SESSION_KEY, {}))
    unlocked[share.token] = share.unlock_marker
    request.session[SESSION_KEY] = unlocked


def get_share(token: str) -> Share:
    # The version and the package's latest one come along: share.serving_version costs no
    # query; the owner too, whose account must still be active.
    return get_object_or_404(
        Share.objects.select_related("package__owner", "version", "package__latest_version"), token=token
    )


def gone(request: HttpRequest, share: Share) -> HttpResponse:
    return render(request, "shares/gone.html", {"share": share}, status=410)


def challenge(message: str = "This share needs its password.") -> HttpResponse:
    response = HttpResponse(
        f"{message} Use HTTP Basic auth: any user name, the share password as password "
        "(wget --user=share --ask-password ...).\n",
        status=401,
        content_type="text/plain; charset=utf-8",
    )
    response["WWW-Authenticate"] = 'Basic realm="packager share", charset="UTF-8"'
    return response


def download_access(request: HttpRequest, token: str) -> Share | HttpResponse:
    """The share for a download endpoint, or the response that refuses it."""
    share = get_share(token)
    if not share.is_open:
        return gone(request, share)
    # Browsers may read the downloads of an open share or a key link (shares.middleware).
    request.share_cors = not share.has_password or came_by_key_link(request, share)  # type: ignore[attr-defined]
    try:
        if not is_unlocked(request, share):
            return challenge()
    except services.TooManyAttempts as error:
        return text(error.message + "\n", status=error.status)
    return share


def resolve_base(request: HttpRequest, share: Share) -> str:
    return links(request, share).resolve_base


def no_store(response: HttpResponseBase) -> HttpResponseBase:
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def not_published(share: Share) -> HttpResponse:
    """Why a share has nothing to download yet: 503 while its version is being published."""
    if share.version_id is not None:
        pending = share.version
    else:
        pending = share.package.versions.exclude(state=PackageVersion.State.PUBLISHED).order_by("-number").first()
    if pending is not None and pending.state == PackageVersion.State.CHECKSUMMING:
        response = text(
            f"Version {pending.number} of this package is being published ({pending.progress_done:,} of "
            f"{pending.progress_total:,} files checksummed); try again in a minute.\n",
            status=503,
        )
        response["Retry-After"] = "30"
        return response
    if pending is not None and pending.state == PackageVersion.State.FAILED:
        return text(f"Version {pending.number} of this package could not be published: {pending.error}\n", status=409)
    return text("This package has no published version yet: there is nothing to download.\n", status=409)


def download_version(request: HttpRequest, token: str) -> tuple[Share, PackageVersion] | HttpResponse:
    """The share and the version it serves, or the response that refuses the download."""
    access = download_access(request, token)
    if isinstance(access, HttpResponse):
        return access
    version = access.serving_version
    if version is None:
        return not_published(access)
    if reserved := exports.reserved_path(version):
        refused = text(
            f"Version {version.number} of this package cannot be downloaded: {reserved_message(reserved)} "
            "Ask the package's owner to move it and publish a new version.\n",
            status=409,
        )
        no_store(refused)
        return refused
    return access, version


def links(request: HttpRequest, share: Share) -> exports.ShareLinks:
    """The share's links as this request reached it: through the key link, every link in a
    download is a key link too and asks for no password."""
    keyed = came_by_key_link(request, share)
    return exports.ShareLinks(
        share_url=site_base(request) + share_path(request, share),
        has_password=share.has_password and not keyed,
        key_link=key_link_url(request, share) or "",
    )


def text(body: str, *, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


def site_base(request: HttpRequest) -> str:
    """packager's public origin ("https://host"), for absolute links (web.http.public_url)."""
    return public_url(request, "")


def serves_version(
    view: Callable[Concatenate[HttpRequest, Share, PackageVersion, P], HttpResponseBase],
) -> Callable[Concatenate[HttpRequest, str, P], HttpResponseBase]:
    """A download view of the version a share serves: it gets the share and the version, once
    the share is open, unlocked and has a published version (download_version answers otherwise)."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, token: str, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        access = download_version(request, token)
        if isinstance(access, HttpResponse):
            return access
        share, version = access
        return view(request, share, version, *args, **kwargs)

    return guarded


def download_limit_refusal(request: HttpRequest, share: Share, *, cost: int) -> HttpResponse | None:
    """429 with Retry-After once this client (over every share) or this share (over every
    client) has spent its budget of expensive downloads (settings DOWNLOAD_LIMIT_*); None
    while it has not. The package's owner is never limited."""
    if is_owner(request, share):
        return None
    budgets = []
    if settings.DOWNLOAD_LIMIT_PER_CLIENT:
        network = ratelimit.client_network(client_ip(request))
        budgets.append(Budget(f"download-client:{network}", settings.DOWNLOAD_LIMIT_PER_CLIENT))
    if settings.DOWNLOAD_LIMIT_PER_SHARE:
        budgets.append(Budget(f"download-share:{share.pk}", settings.DOWNLOAD_LIMIT_PER_SHARE))
    wait = throttle_take(budgets, cost=cost, window=settings.DOWNLOAD_LIMIT_WINDOW)
    if not wait:
        return None
    refused = text(
        f"Too many downloads from this share or this address just now: try again in {wait} seconds. "
        "Files themselves (r/ links, urls.txt entries) are never limited.\n",
        status=429,
    )
    refused["Retry-After"] = str(wait)
    no_store(refused)
    return refused


def limited(
    view: Callable[Concatenate[HttpRequest, Share, PackageVersion, P], HttpResponseBase],
) -> Callable[Concatenate[HttpRequest, Share, PackageVersion, P], HttpResponseBase]:
    """An expensive whole-version download (below serves_version): it costs 1 unit plus 1
    per DOWNLOAD_LIMIT_ENTRIES_PER_UNIT entries of the version (HEAD: 1) of the budgets
    download_limit_refusal keeps."""

    @functools.wraps(view)
    def guarded(
        request: HttpRequest, share: Share, version: PackageVersion, *args: P.args, **kwargs: P.kwargs
    ) -> HttpResponseBase:
        cost = 1 if request.method == "HEAD" else 1 + version.entry_count // settings.DOWNLOAD_LIMIT_ENTRIES_PER_UNIT
        if refused := download_limit_refusal(request, share, cost=cost):
            return refused
        return view(request, share, version, *args, **kwargs)

    return guarded


def storage_failure(error: StorageError) -> HttpResponseBase:
    """A download that needed storage and failed: 409 when signing cannot work for this
    source (its configuration), 502 when the storage service failed or did not answer."""
    return no_store(text(error.message + "\n", status=409 if error.reason == "config" else 502))
