from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone

from sources import names

register = template.Library()


@register.filter
def visible(value: object) -> str:
    """A storage key or name with bidi overrides and zero-width characters written out."""
    return names.visible(str(value))


# A folder page shows two timestamps per row: Django's `date` filter costs about half of the
# page's rendering at 200 rows (bench/browse.py), these a fraction of that.
# tests/test_sources_browse_dates.py pins them to `date:"Y-m-d H:i"` and `date:"c"`.
@register.filter
def minute(value: dt.datetime | None) -> str:
    """ "2024-05-01 13:45" in the current time zone, as |date:"Y-m-d H:i" writes it."""
    if value is None:
        return ""
    return _local(value).strftime("%Y-%m-%d %H:%M")


@register.filter
def iso_time(value: dt.datetime | None) -> str:
    """ISO 8601 in the current time zone, as |date:"c" writes it."""
    return "" if value is None else _local(value).isoformat()


def _local(value: dt.datetime) -> dt.datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value
