"""The resolver's fast lane: downloads from open shares skip the rest of the middleware.

A resolve request of an active share without a password needs no session, no user, no
CSRF token, no messages and no URL resolution through every pattern of the site: this
middleware, placed right after the security and CSP middleware (whose headers every
response still gets), answers it straight away (the host is still checked against
ALLOWED_HOSTS). Everything else, including password shares (whose
unlock lives in the session), revoked or expired links and unknown tokens, goes down the
normal stack to the same views, which give the same answers.

A password share's key link, /s/<token>/k/<key>/<rest>, is checked here too (against the
share state the resolver keeps, so it costs no query an open link does not) and then goes
on as /s/<token>/<rest>, with the key noted on the request (`request.share_key_link`):
downloads through it take the fast lane like an open share's, and every other view of the
share lets it in without a password (shares.views.access.needs_no_password). A wrong key
is a 404, whether the share exists or not.

CORS: the downloads of an open share and of a key link (not its pages, not a password sent
as Basic auth, not the owner's session on a password share) may be read by a page of any
origin (DuckDB-WASM, JupyterLite, Observable): the views note on the request when the
share lets them (`request.share_cors`), and this middleware adds the headers and answers
the browsers' preflight for a Range request.

FAST_ROUTES lists the resolver endpoints: a path pattern with `token` and `value` groups,
the entry column the value is matched against, and the route's name in shares/urls.py
(for metrics and logs, which label a request by its route).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponsePermanentRedirect
from django.urls import ResolverMatch
from django.utils.crypto import constant_time_compare

from shares import resolver
from shares.views import resolve
from shares.views.access import KeyLink

# A share's paths that are pages, not downloads: no CORS there.
PAGES = re.compile(r"/s/[^/]+/(?:|key|view/.*)", re.DOTALL)
SHARE_PATH = re.compile(r"/s/(?P<token>[^/]+)/.*", re.DOTALL)
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Content-Disposition, ETag, Last-Modified",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD",
    "Access-Control-Allow-Headers": "Range, If-None-Match, If-Modified-Since",
    "Access-Control-Max-Age": "86400",
}

# /s/<token>/k/<key> and what follows it. A key is 43 base64url characters (shares.models.share_link_key).
KEY_LINK = re.compile(r"/s/(?P<token>[^/]+)/k/(?P<key>[^/]*)(?P<rest>/.*)?", re.DOTALL)

FAST_ROUTES: list[tuple[re.Pattern[str], str, Callable[[str], str], str]] = [
    # s/<token>/r/<path>: as shares/urls.py routes it (str, then path converters); a path
    # ending with "/" is a folder's index, which the full view answers.
    (
        re.compile(r"/s/(?P<token>[^/]+)/r/(?P<value>.*[^/])"),
        "path",
        lambda value: f"“{value}”",
        "share_resolve",
    ),
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


# What URL routing would have noted on the request (metrics and logs read the route's name
# off it): one per route, made once, as building one per request costs more than the rest of
# the lane's own work. Nothing changes a ResolverMatch once made.
_FAST_MATCHES = {
    route: ResolverMatch(resolve.resolve_open_share, (), {}, url_name=route) for _, _, _, route in FAST_ROUTES
}


class ResolveFastLane:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path_info
        keyed = KEY_LINK.fullmatch(path)
        if keyed is not None:
            request.get_host()  # refuses a Host outside ALLOWED_HOSTS, as CommonMiddleware does
            path = f"/s/{keyed['token']}{keyed['rest'] or '/'}"
        fast = _fast_route(path) if request.method in ("GET", "HEAD") else None
        if fast is not None:
            request.get_host()  # refuses a Host outside ALLOWED_HOSTS, as CommonMiddleware does
        if keyed is not None:
            token, key = keyed["token"], keyed["key"]
            if fast is not None:
                # A download: the lookup it needs anyway has the share's key (no other query).
                match, value = fast[0], fast[1]
                found = resolver.lookup(token, match=match, value=value)
                request.resolve_lookup = ((token, match, value), found)  # type: ignore[attr-defined]
                matches = found is not None and bool(found.link_key) and constant_time_compare(key, found.link_key)
            else:
                matches = resolver.key_link_matches(token, key)
            if not matches:
                raise Http404("No such link")
            if keyed["rest"] is None:
                query = request.META.get("QUERY_STRING", "")
                return HttpResponsePermanentRedirect(request.path + "/" + (f"?{query}" if query else ""))
            request.share_key_link = KeyLink(token=token, key=key)  # type: ignore[attr-defined]
            request.path_info = path
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            preflight = _preflight(request, keyed is not None)
            if preflight is not None:
                return preflight
        response: HttpResponseBase | None = None
        if fast is not None:
            match, value, what, route, token = fast
            response = resolve.resolve_open_share(request, token, match=match, value=value, what=what)
            if response is not None:
                request.resolver_match = _FAST_MATCHES[route]
                response = with_length(response)
        if response is None:
            response = self.get_response(request)
        if getattr(request, "share_cors", False) and not PAGES.fullmatch(request.path_info):
            for name, header in CORS_HEADERS.items():
                response[name] = header
        return response


def _preflight(request: HttpRequest, keyed: bool) -> HttpResponseBase | None:
    """The answer to a browser's preflight for a download of an open share or a key link;
    None for anything else (the view then refuses OPTIONS)."""
    share = SHARE_PATH.fullmatch(request.path_info)
    if share is None or PAGES.fullmatch(request.path_info):
        return None
    if not keyed:
        state = resolver.share_state(share["token"])
        if state is None or state[0]:
            return None
    response = HttpResponse(status=204)
    for name, header in PREFLIGHT_HEADERS.items():
        response[name] = header
    return response


def _fast_route(path: str) -> tuple[str, str, str, str, str] | None:
    """For a path of FAST_ROUTES: (entry column, value, what it names, route name, token)."""
    for pattern, match, describe, route in FAST_ROUTES:
        found = pattern.fullmatch(path)
        if found is not None:
            value = found["value"]
            if "head" in found.groupdict():
                value = found["head"] + value
            return match, value, describe(value), route, found["token"]
    return None


def with_length(response: HttpResponseBase) -> HttpResponseBase:
    """The Content-Length that CommonMiddleware, skipped here, would have set. Without it a
    307 has no framing, so servers answer `Connection: close` and `wget -i urls.txt` opens a
    new connection for every file."""
    if not response.streaming and not response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]
    return response
