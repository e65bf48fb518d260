"""Error pages: HTML for people, JSON `{"detail": ...}` under /api/ (as the API's own errors).

The project's error handlers and the middlewares that turn an exception into a clear answer
instead of a 500 page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from web.errors import ApplicationError

logger = logging.getLogger(__name__)


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # An API address that matches no route (a malformed id, say) answers like the API.
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Something went wrong on the server; it has been logged."}, status=500)
    return render(request, "500.html", status=500)


DATABASE_UNAVAILABLE = "The database is not reachable right now; nothing was changed. Try again in a moment."


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: the database restarted, or a lock was held too long."""
    response: HttpResponse
    if _is_api(request):
        response = JsonResponse({"detail": DATABASE_UNAVAILABLE}, status=503)
    else:
        response = render(request, "503.html", {"message": DATABASE_UNAVAILABLE}, status=503)
    response["Retry-After"] = "5"
    return response


NUL_IN_ADDRESS = "The address holds a NUL character (%00), which no name, key or value here can contain."
NUL_IN_BODY = "The request body holds a NUL character (\\u0000), which no name, path, text or value here can contain."


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _nul_in_json(request: HttpRequest) -> bool:
    """Whether a JSON body holds a NUL in a string; read only when its text has the escape."""
    if request.content_type != "application/json" or b"\\u0000" not in request.body:
        return False
    try:
        return _holds_nul(json.loads(request.body))
    except ValueError:
        return False  # not JSON: the API says so itself


class RefuseNulMiddleware:
    """A request with a NUL character in its address or in a JSON string is refused (API 422,
    pages 400).

    No storage key, package path, name or setting can hold one (S3 keys are XML text,
    PostgreSQL text refuses it), and a value that reached the database with one would fail
    there: a 500 instead of a clear answer. First in the chain after the security headers,
    so the share fast lane never sees one either. (Forms refuse it themselves: Django's
    CharField does.)
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")  # a NUL arrives there as %00: no parsing needed
        if "\x00" in request.path_info or "%00" in query or "\x00" in query:
            return self._refuse(request, NUL_IN_ADDRESS)
        if _nul_in_json(request):
            return self._refuse(request, NUL_IN_BODY)
        return self.get_response(request)

    @staticmethod
    def _refuse(request: HttpRequest, message: str) -> HttpResponse:
        # The API's 422: the request matches the OpenAPI document (which puts no pattern on
        # its strings) and is refused for what it says.
        if _is_api(request):
            return JsonResponse({"detail": message}, status=422)
        return render(request, "400.html", {"message": message}, status=400)


class DatabaseUnavailableMiddleware:
    """A lost database connection answers 503 and a clear message instead of a 500.

    The request's transaction, if any, was rolled back; the next request reconnects
    (CONN_HEALTH_CHECKS), so a restarted PostgreSQL costs the requests in flight, not more.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.warning("database unavailable on %s %s: %s", request.method, request.path, exception)
            return database_unavailable(request)
        return None


class ApplicationErrorMiddleware:
    """An ApplicationError that a page did not catch answers with its status and message.

    Pages that can say more (a form error, a message on the next page) catch the errors
    they expect; this is the one place where the rest become a clear 4xx/5xx page instead
    of a 500. The API answers them itself (config/api.py), with the same status.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ApplicationError):
            return None
        if _is_api(request):
            return JsonResponse({"detail": exception.message}, status=exception.status)
        return render(
            request, "error.html", {"message": exception.message, "status": exception.status}, status=exception.status
        )
