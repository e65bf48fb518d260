"""Error pages: HTML for people, JSON `{"detail": ...}` under /api/ (as the API's own errors)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

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
