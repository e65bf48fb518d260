"""Limits on password guessing (share passwords, account logins), shared by every process.

An attempt takes a slot *before* the password hash is checked, with one conditional
UPDATE, so a burst of parallel requests cannot all slip in while the slow hash runs; a
right password gives its slot back. Counts live in the database (AttemptCounter), so
several web processes count together without Redis.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable

from django.db import IntegrityError, transaction
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
    """Take one attempt for `key`; False when `limit` were already taken in the current window."""
    for _ in range(3):
        now = timezone.now()
        with transaction.atomic():
            live = AttemptCounter.objects.filter(key=key, window_ends_at__gt=now)
            if live.filter(count__lt=limit).update(count=F("count") + 1):
                return True
            if live.exists():
                return False
            AttemptCounter.objects.filter(key=key).delete()  # an expired window
            try:
                with transaction.atomic():
                    AttemptCounter.objects.create(key=key, count=1, window_ends_at=now + dt.timedelta(seconds=window))
            except IntegrityError:
                continue  # another process opened the window first: take a slot in it
        return limit > 0
    return False


def attempt_refund(*, key: str) -> None:
    """Give an attempt back: a right password costs nothing."""
    AttemptCounter.objects.filter(key=key, count__gt=0).update(count=F("count") - 1)


def attempts_exhausted(*, keys: Iterable[str], limit: int) -> dict[str, dt.datetime]:
    """Of these keys, those at their limit now, with the time their window ends (one query)."""
    rows = AttemptCounter.objects.filter(key__in=list(keys), count__gte=limit, window_ends_at__gt=timezone.now())
    return dict(rows.values_list("key", "window_ends_at"))
