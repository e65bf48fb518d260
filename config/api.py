"""The JSON API, /api/v1/: one NinjaAPI with a router per app and JSON errors throughout."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from packager.api import router as packages_router
from packager.api_auth import AUTH
from shares.api import router as shares_router
from sources.api import router as sources_router
from teams.api import router as teams_router
from web.api_errors import ObjectBodyParser, document_errors
from web.error_pages import database_unavailable
from web.errors import ApplicationError

logger = logging.getLogger(__name__)


class PackagerAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None) -> Any:
        return document_errors(super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params))


api = PackagerAPI(
    title="packager", version="1", auth=AUTH, urls_namespace="api-1", docs_url="/docs", parser=ObjectBodyParser()
)
api.add_router("", sources_router)
api.add_router("", packages_router)
api.add_router("", shares_router)
api.add_router("", teams_router)


# Errors: JSON with a message and the right status, never a 500 page ---------------------


def _error(request: HttpRequest, message: Any, status: int) -> HttpResponse:
    return api.create_response(request, {"detail": message}, status=status)


@api.exception_handler(NinjaValidationError)
def on_invalid_request(request: HttpRequest, error: NinjaValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": "The request is not valid.", "errors": error.errors}, status=400)


@api.exception_handler(DjangoValidationError)
def on_invalid_data(request: HttpRequest, error: DjangoValidationError) -> HttpResponse:
    fields = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
    first = next(iter(fields.values()))[0]
    return api.create_response(request, {"detail": first, "fields": fields}, status=422)


@api.exception_handler(ApplicationError)
def on_application_error(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    """Every error a service raises for the user (packages, versions, shares, storage) has its status."""
    return _error(request, error.message, error.status)


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def on_database_unavailable(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.warning("database unavailable on %s %s: %s", request.method, request.path, error)
    return database_unavailable(request)


@api.exception_handler(PermissionDenied)
def on_forbidden(request: HttpRequest, error: PermissionDenied) -> HttpResponse:
    """A member of the team whose role does not allow this (teams/policy.py); others get 404."""
    return _error(request, str(error) or "Your role in this team does not allow this.", 403)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, error: Http404) -> HttpResponse:
    return _error(request, "Not found.", 404)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return _error(request, "Authentication required: log in, or send Authorization: Bearer <token>.", 401)


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, error: Exception) -> HttpResponse:
    if isinstance(error, HttpError):
        return _error(request, str(error), error.status_code)
    logger.exception("API error on %s %s", request.method, request.path)
    return _error(request, "Something went wrong on the server; it has been logged.", 500)
