"""The resolver's fast lane: downloads from open shares skip the rest of the middleware.

A resolve request of an active share without a password needs no session, no user, no
CSRF token, no messages and no URL resolution through every pattern of the site: this
middleware, placed right after the security and CSP middleware (whose headers every
response still gets), answers it straight away (the host is still checked against
ALLOWED_HOSTS). Everything else, including password shares (whose
unlock lives in the session), revoked or expired links and unknown tokens, goes down the
normal stack to the same views, which give the same answers.

FAST_ROUTES lists the resolver endpoints: a path pattern with `token` and `value` groups,
the entry column the value is matched against, and the route's name in shares/urls.py
(for metrics and logs, which label a request by its route).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.urls import ResolverMatch

from shares.views import resolve

FAST_ROUTES: list[tuple[re.Pattern[str], str, Callable[[str], str], str]] = [
    # s/<token>/r/<path>: as shares/urls.py routes it (str, then path converters).
    (re.compile(r"/s/(?P<token>[^/]+)/r/(?P<value>.+)"), "path", lambda value: f"“{value}”", "share_resolve"),
    # Content addresses, and the DVC remote (files/md5/<2>/<30>), which git-annex and DVC
    # ask for once or twice per file. Upper-case hex goes down the normal stack.
    (
        re.compile(r"/s/(?P<token>[^/]+)/sha256/(?P<value>[0-9a-f]{64})"),
        "sha256",
        lambda value: f"with sha256 {value}",
        "share_by_sha256",
    ),
    (
        re.compile(r"/s/(?P<token>[^/]+)/md5/(?P<value>[0-9a-f]{32})"),
        "md5",
        lambda value: f"with md5 {value}",
        "share_by_md5",
    ),
    (
        re.compile(r"/s/(?P<token>[^/]+)/dvc/files/md5/(?P<head>[0-9a-f]{2})/(?P<value>[0-9a-f]{30})"),
        "md5",
        lambda value: f"with md5 {value}",
        "share_dvc_object",
    ),
]


class ResolveFastLane:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method in ("GET", "HEAD"):
            for pattern, match, describe, route in FAST_ROUTES:
                found = pattern.fullmatch(request.path_info)
                if found is not None:
                    request.get_host()  # refuses a Host outside ALLOWED_HOSTS, as CommonMiddleware does
                    value = found["value"]
                    if "head" in found.groupdict():
                        value = found["head"] + value
                    response = resolve.resolve_open_share(
                        request, found["token"], match=match, value=value, what=describe(value)
                    )
                    if response is not None:
                        request.resolver_match = ResolverMatch(resolve.resolve_open_share, (), {}, url_name=route)
                        return with_length(response)
                    break
        return self.get_response(request)


def with_length(response: HttpResponseBase) -> HttpResponseBase:
    """The Content-Length that CommonMiddleware, skipped here, would have set. Without it a
    307 has no framing, so servers answer `Connection: close` and `wget -i urls.txt` opens a
    new connection for every file."""
    if not response.streaming and not response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]
    return response
