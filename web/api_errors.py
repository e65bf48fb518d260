"""The API's error answers and how the OpenAPI document describes them.

Every error the API answers is JSON `{"detail": "..."}` (plus `errors` or `fields` for
invalid requests). The statuses every route can answer are added to the document here,
once, so a new route is documented without repeating them:

- 400: the request does not match the schema (wrong type, missing field, bad JSON),
- 401: no valid token or session,
- 403: a route with path parameters names a team's object the caller's role there does
  not allow this on (teams/policy.py),
- 404: a route with path parameters names nothing the caller can see,
- 422: the request matches the schema but is refused for what it says (an expiry in the
  past, a key outside the source's prefix, a path that is not valid),
- 503: the database is unreachable for a moment (a restart); nothing was changed.

Statuses only some routes answer (409 conflicts, 502 storage failures, 507 a full disk) are declared on the
route with `errors(409)`.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja import Schema
from ninja.parser import Parser


class Error(Schema):
    detail: str
    errors: list[dict[str, Any]] | None = None
    fields: dict[str, list[str]] | None = None


_DESCRIPTIONS = {
    400: "The request does not match the schema.",
    401: "Authentication required: a session, or Authorization: Bearer <token>.",
    403: "Your role in the team that owns this does not allow it.",
    404: "Not found (or not yours, nor your team's).",
    409: "Conflicts with the current state.",
    422: "Well-formed, but refused for what it says.",
    502: "The storage service failed or did not answer.",
    503: "The database is not reachable right now; nothing was changed. Retry after Retry-After seconds.",
    507: "The server is out of disk space; nothing was saved.",
}
# Statuses any route may answer.
COMMON = (400, 401, 422, 503)


def errors(*statuses: int) -> dict[int, type[Error]]:
    """Route-specific error statuses, for `response={200: Out, **errors(409)}`."""
    return dict.fromkeys(statuses, Error)


def document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Add the common error answers to every operation of an OpenAPI document."""
    reference = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", Error.json_schema())
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            statuses = list(COMMON)
            if any(parameter.get("in") == "path" for parameter in operation.get("parameters", [])):
                statuses += [403, 404]
            documented = {str(status) for status in responses}  # ninja keys them by int
            for status in statuses:
                if str(status) not in documented:
                    responses[status] = {"description": _DESCRIPTIONS[status], **reference}
    return document


class ObjectBodyParser(Parser):
    """JSON bodies must be objects: every body schema of the API is one.

    ninja's schemas read their fields by attribute from whatever they are given, so without
    this a body of `5` or `[null]` would pass for a PATCH whose fields are all optional.
    ninja answers the ValueError with 400 "Cannot parse request body".
    """

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = json.loads(request.body)
        if not isinstance(data, dict):
            raise ValueError("The request body must be a JSON object.")
        return data
