"""django-csp's middleware, with the header of an ordinary response built once per process.

django-csp builds the Content-Security-Policy anew for every response (a deep copy of the
settings' directives, then the policy and the report-only policy, each put together), which
costs more than all of a resolver redirect's own work. A response that asks for nothing of
its own (no per-view `_csp_*` attribute, no nonce used while it was made) gets the same
headers every time: django-csp itself makes them for the first such response, and they are
reused until a CSP setting changes. Every other response goes through django-csp as before,
as does every response while DEBUG is on or when a policy excludes URL prefixes.
"""

from __future__ import annotations

from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase

# What a view sets on its response to change or skip the policy (django-csp's decorators).
_OWN_POLICY = (
    "_csp_exempt",
    "_csp_exempt_ro",
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
_SETTINGS = frozenset({"CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY", "DEBUG"})

# The headers of an ordinary response, (name, value) pairs; None until the first is made.
_ordinary: list[tuple[str, str]] | None = None


@receiver(setting_changed)
def _forget(*, setting: str, **_: Any) -> None:
    global _ordinary
    if setting in _SETTINGS:
        _ordinary = None


def _shared(request: HttpRequest, response: HttpResponseBase) -> bool:
    """Whether the response gets the headers every ordinary response gets."""
    if settings.DEBUG or getattr(request, "_csp_nonce", None) is not None:
        return False
    if any(hasattr(response, name) for name in _OWN_POLICY):
        return False
    for name in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY"):
        policy = getattr(settings, name, None) or {}
        if policy.get("EXCLUDE_URL_PREFIXES"):  # then the headers depend on the path
            return False
    return True


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        global _ordinary
        if not _shared(request, response):
            return super().process_response(request, response)
        headers = _ordinary
        if headers is None:
            made = super().process_response(request, HttpResponse())
            headers = _ordinary = [(name, made[name]) for name in (HEADER, HEADER_REPORT_ONLY) if name in made]
        for name, value in headers:
            if name not in response:  # a view's own header stays, as with django-csp
                response[name] = value
        # As django-csp does once the header is written: a nonce asked for now would be in no header.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response
