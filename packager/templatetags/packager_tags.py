from __future__ import annotations

from typing import Any

from django import template

from packager.models import Package

register = template.Library()


@register.simple_tag(takes_context=True)
def user_packages(context: dict[str, Any]) -> Any:
    """The current user's packages, for the "add to package" chooser of the source browser."""
    user = context["request"].user
    return Package.objects.filter(owner=user).only("public_id", "name").order_by("name")
