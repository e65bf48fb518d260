from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template

from packager.models import Package, PackageVersion
from teams import policy

register = template.Library()


@register.simple_tag(takes_context=True)
def user_packages(context: dict[str, Any]) -> Any:
    """The packages the current user may add files to, for the "add to package" chooser of the source browser."""
    user = context["request"].user
    return Package.objects.filter(policy.usable(user, "curator")).only("public_id", "name").order_by("name")


@register.filter
def any_publishing(versions: Iterable[PackageVersion]) -> bool:
    """Whether one of these versions is still being checksummed (its page keeps refreshing)."""
    return any(version.state == PackageVersion.State.CHECKSUMMING for version in versions)


@register.filter
def percent(done: int, total: int) -> int:
    return int(100 * done / total) if total else 100


@register.simple_tag
def rate_and_time_left(done: int, total: int, started: Any, unit: str = "files") -> str:
    """A long job's rate and the time it still needs, from its counters and its start."""
    from web.progress import rate_and_time_left as compute

    return compute(done, total, started, unit=unit)
