"""Times in the viewer's own zone: UTC in the HTML (said so), the browser's zone once app.js runs."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def local_time(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    utc = moment.astimezone(dt.UTC)
    return format_html(
        '<time datetime="{}" data-local-time>{} UTC</time>', utc.isoformat(), utc.strftime("%Y-%m-%d %H:%M")
    )


@register.simple_tag
def access_log_flush_seconds() -> str:
    """How far behind batched access counts may be, in seconds, as settings say."""
    from django.conf import settings

    return f"{settings.ACCESS_LOG_FLUSH_SECONDS:g}"
