"""Opaque cursors for keyset pagination: the sort key of the last row a page showed."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from django.db.models import Model, Q, QuerySet

from web.errors import ApplicationError


class InvalidCursor(ApplicationError, ValueError):
    """A damaged page link (422)."""

    def __init__(self) -> None:
        super().__init__("This page link is not valid (the cursor is damaged); start from the first page.")


def encode_cursor(*values: Any) -> str:
    """A URL-safe token that carries JSON values (strings, numbers)."""
    raw = json.dumps(list(values), ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """The values of a cursor, checked against the expected types, or InvalidCursor."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        raise InvalidCursor() from None
    if (
        not isinstance(values, list)
        or len(values) != len(types)
        or not all(type(value) is kind for value, kind in zip(values, types, strict=True))
    ):
        raise InvalidCursor()
    return tuple(values)


def newest_first_page(
    rows: QuerySet[Model], *, time_field: str, cursor: str, limit: int
) -> tuple[list[Any], str | None]:
    """One page of rows ordered by (time_field, id) descending, and the cursor of the next
    page (None after the last): the cursor carries the last (time, id) shown."""
    if cursor:
        at_text, last_id = decode_cursor(cursor, str, int)
        try:
            at = dt.datetime.fromisoformat(at_text)
        except ValueError:
            raise InvalidCursor() from None
        rows = rows.filter(Q(**{f"{time_field}__lt": at}) | Q(**{time_field: at, "id__lt": last_id}))
    page = list(rows[: limit + 1])
    if len(page) <= limit:
        return page, None
    page = page[:limit]
    return page, encode_cursor(getattr(page[-1], time_field).isoformat(), page[-1].pk)
