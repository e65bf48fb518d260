"""System checks of the project's own settings: a production start that would hand out
links built from a header the client chose is refused."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from web.http import LOOPBACK_HOSTS, is_wildcard_host


@register()
def public_url_known(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """PUBLIC_URL well formed, and set wherever the allowed hosts do not say one origin."""
    if settings.PUBLIC_URL:
        parts = urlsplit(settings.PUBLIC_URL)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
            return [
                Error(
                    "PUBLIC_URL must be an http:// or https:// origin, e.g. https://data.example.org "
                    "(a path prefix is allowed; no query string).",
                    id="web.E002",
                )
            ]
        return []
    if settings.DEBUG:
        return []
    public = [host for host in settings.ALLOWED_HOSTS if host.lower() not in LOOPBACK_HOSTS]
    if len(public) > 1 or any(is_wildcard_host(host) for host in public):
        return [
            Error(
                f"ALLOWED_HOSTS names several hosts ({', '.join(public)}) and PUBLIC_URL is not set: links "
                "handed out (share links, urls.txt, pointer files, git repositories) would name whichever host "
                "a request chose.",
                hint="Set PUBLIC_URL to the address collaborators use, e.g. PUBLIC_URL=https://data.example.org.",
                id="web.E001",
            )
        ]
    return []
