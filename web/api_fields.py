"""Field checks shared by the API routes of several apps."""

from __future__ import annotations

import datetime as dt
from typing import Any

ISO_8601 = "a date and time in ISO 8601, e.g. 2024-05-01T00:00:00Z"


def iso_datetime(value: Any) -> Any:
    """A search date as the OpenAPI document promises it: ISO 8601 text (or a datetime).

    pydantic would also take a number, or text holding one, as seconds since 1970, so
    `modified_before=0.5` searched for files older than half a second past 1970.
    """
    if value is None or isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(ISO_8601)
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(ISO_8601) from None
