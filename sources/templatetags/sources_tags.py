from __future__ import annotations

from django import template

from sources import names

register = template.Library()


@register.filter
def visible(value: object) -> str:
    """A storage key or name with bidi overrides and zero-width characters written out."""
    return names.visible(str(value))
