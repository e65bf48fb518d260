"""Limits on password guessing (share passwords, account logins), shared by every process.

An attempt takes a slot *before* the password hash is checked, with one conditional
UPDATE, so a burst of parallel requests cannot all slip in while the slow hash runs; a
right password gives its slot back. A client that gave a share's right password is
remembered (trust_grant) so that others' guessing cannot lock it out. Counts live in the database (AttemptCounter), so
several web processes count together without Redis.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable

from django.db.models import F
from django.utils import timezone

from packager.models import AttemptCounter


def client_network(ip_address: str | None) -> str:
    """What counts as one client: an IPv4 address, or the /64 an IPv6 address lies in.

    One IPv6 subscriber usually gets a whole /64, so counting single addresses would give
    them billions of fresh tries.
    """
    try:
        address = ipaddress.ip_address(ip_address or "")
    except ValueError:
        return "-"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def attempt_take(*, key: str, limit: int, window: int) -> bool:
    """Take one attempt for `key`; False when `limit` were already taken in the current window.

    Three statements, each atomic on its own, and correct in any interleaving: an expired
    window is dropped (a live one never is), a window is opened unless one exists, and a
    slot is taken by one conditional UPDATE, which the database serializes.
    """
    now = timezone.now()
    AttemptCounter.objects.filter(key=key, window_ends_at__lte=now).delete()
    AttemptCounter.objects.bulk_create(
        [AttemptCounter(key=key, count=0, window_ends_at=now + dt.timedelta(seconds=window))], ignore_conflicts=True
    )
    return (
        AttemptCounter.objects.filter(key=key, count__lt=limit, window_ends_at__gt=now).update(count=F("count") + 1)
        == 1
    )


def attempt_refund(*, key: str) -> None:
    """Give an attempt back: a right password costs nothing."""
    AttemptCounter.objects.filter(key=key, count__gt=0).update(count=F("count") - 1)


def trust_grant(*, key: str, seconds: int) -> None:
    """Remember for `seconds` that `key` (a client of one share) gave the right password."""
    until = timezone.now() + dt.timedelta(seconds=seconds)
    AttemptCounter.objects.update_or_create(key=key, defaults={"count": 0, "window_ends_at": until})


def trust_holds(*, key: str) -> bool:
    """Whether trust_grant(key) was given and has not run out (one query)."""
    return AttemptCounter.objects.filter(key=key, window_ends_at__gt=timezone.now()).exists()


def attempts_exhausted(*, keys: Iterable[str], limit: int) -> dict[str, dt.datetime]:
    """Of these keys, those at their limit now, with the time their window ends (one query)."""
    rows = AttemptCounter.objects.filter(key__in=list(keys), count__gte=limit, window_ends_at__gt=timezone.now())
    return dict(rows.values_list("key", "window_ends_at"))
