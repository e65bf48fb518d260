"""Limits on expensive downloads, counted in Django's cache (Redis when REDIS_URL is set).

A budget is a number of cost units per fixed window of time, kept under one cache key
per window: `cache.add` opens the window and `cache.incr` takes the units, both atomic
in Redis and in the local-memory cache, so parallel requests cannot all slip in. Without
Redis every web process counts on its own (the limits then hold per process).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class Budget:
    key: str  # what is counted: a client of a share, a share
    limit: int  # units per window


def _take(key: str, cost: int, window: int) -> int:
    """Add `cost` to the window's count of `key`; the new count."""
    cache.add(key, 0, timeout=window + 1)
    try:
        return int(cache.incr(key, cost))
    except ValueError:  # the window expired between add and incr: open the next one
        cache.add(key, 0, timeout=window + 1)
        return int(cache.incr(key, cost))


def throttle_take(budgets: list[Budget], *, cost: int, window: int, now: float | None = None) -> int:
    """Take `cost` units from every budget, in order; 0 when all had them, otherwise the
    seconds until the window ends (for Retry-After). A refused request takes nothing, from
    no budget: a client past its own budget spends none of a share's."""
    moment = time.time() if now is None else now
    index = int(moment // window)
    taken: list[str] = []
    for budget in budgets:
        key = f"throttle:{budget.key}:{index}"
        if _take(key, cost, window) > budget.limit:
            # A refused request costs nothing: what it took goes back.
            for earlier in [*taken, key]:
                cache.decr(earlier, cost)
            return max(1, math.ceil((index + 1) * window - moment))
        taken.append(key)
    return 0
