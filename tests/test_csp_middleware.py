"""web.csp: django-csp's headers, with an ordinary response's made once per process."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from csp.constants import NONCE
from csp.middleware import CSPMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.test import RequestFactory, override_settings

from web.csp import ContentSecurityPolicyMiddleware

HEADERS = ("Content-Security-Policy", "Content-Security-Policy-Report-Only")


def _headers(middleware: type[CSPMiddleware], view: Callable[[HttpRequest], HttpResponseBase]) -> dict[str, str]:
    response = middleware(view)(RequestFactory().get("/s/token/r/a.csv"))
    return {name: response[name] for name in HEADERS if name in response}


def _redirect(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(status=307)
    response["Location"] = "https://bucket.example.org/a.csv"
    return response


def _with_image_origin(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("<img>")
    response._csp_update = {"img-src": ["https://images.example.org"]}  # type: ignore[attr-defined]
    return response


def _with_nonce(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"<script nonce='{request.csp_nonce}'></script>")  # type: ignore[attr-defined]


def test_it_gives_an_ordinary_response_the_headers_django_csp_gives() -> None:
    expected = _headers(CSPMiddleware, _redirect)
    assert "default-src 'self'" in expected["Content-Security-Policy"]
    assert _headers(ContentSecurityPolicyMiddleware, _redirect) == expected  # made
    assert _headers(ContentSecurityPolicyMiddleware, _redirect) == expected  # reused


def test_a_response_with_its_own_policy_gets_its_own_and_leaves_the_ordinary_one_alone() -> None:
    ordinary = _headers(ContentSecurityPolicyMiddleware, _redirect)
    own = _headers(ContentSecurityPolicyMiddleware, _with_image_origin)
    assert own == _headers(CSPMiddleware, _with_image_origin)
    assert "https://images.example.org" in own["Content-Security-Policy"]
    assert _headers(ContentSecurityPolicyMiddleware, _redirect) == ordinary


def test_a_nonce_used_by_a_view_is_in_its_header() -> None:
    with override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": {"script-src": ["'self'", NONCE]}}):
        _headers(ContentSecurityPolicyMiddleware, _redirect)  # the ordinary headers are made first
        request = RequestFactory().get("/")
        response = ContentSecurityPolicyMiddleware(_with_nonce)(request)
        nonce = request._csp_nonce  # type: ignore[attr-defined]
        assert f"script-src 'self' 'nonce-{nonce}'" in response["Content-Security-Policy"]


def test_a_nonce_asked_for_after_the_header_is_written_is_refused() -> None:
    request = RequestFactory().get("/")
    ContentSecurityPolicyMiddleware(_redirect)(request)
    with pytest.raises(Exception, match="not available after the CSP header has been written"):
        str(request.csp_nonce)  # type: ignore[attr-defined]


def test_a_changed_policy_is_used_at_once() -> None:
    _headers(ContentSecurityPolicyMiddleware, _redirect)
    policy = {"DIRECTIVES": {"default-src": ["'none'"]}}
    with override_settings(CONTENT_SECURITY_POLICY=policy, CONTENT_SECURITY_POLICY_REPORT_ONLY=policy):
        changed = _headers(ContentSecurityPolicyMiddleware, _redirect)
        assert changed == _headers(CSPMiddleware, _redirect)
        assert changed == dict.fromkeys(HEADERS, "default-src 'none'")
    assert _headers(ContentSecurityPolicyMiddleware, _redirect) == _headers(CSPMiddleware, _redirect)


def test_excluded_prefixes_still_leave_their_paths_without_a_policy() -> None:
    policy = {"EXCLUDE_URL_PREFIXES": ["/s/"], "DIRECTIVES": {"default-src": ["'self'"]}}
    with override_settings(CONTENT_SECURITY_POLICY=policy):
        assert _headers(ContentSecurityPolicyMiddleware, _redirect) == {}
