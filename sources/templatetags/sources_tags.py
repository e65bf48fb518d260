from __future__ import annotations

from typing import Any

from django import template

from sources import names
from web import progress

register = template.Library()


@register.filter
def visible(value: object) -> str:
    """A storage key or name with bidi overrides and zero-width characters written out."""
    return names.visible(str(value))


@register.simple_tag
def rate_and_estimate(done: int, expected: int, started: Any, unit: str = "files") -> str:
    """A long job's rate and time left when its total may be unknown: "estimating…" until known."""
    return progress.rate_and_estimate(done, expected, started, unit=unit)
