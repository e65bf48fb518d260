"""The cache, shared through Redis, that falls back to each process's memory while Redis is down.

What packager caches (rendered READMEs and previews, verified share passwords, "asked
for these repositories already" markers) is worth having, never worth a 500: with Redis
unreachable, a request is served from a per-process local-memory cache instead. A short
circuit breaker keeps every request from paying a connection timeout: after a failure
the process uses its local cache for CACHE_FALLBACK_SECONDS, then tries Redis again.

What must be shared between processes does not rely on the cache: the password-attempt
limits count in the database (packager.ratelimit).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)

# The cache operations Django's cache API offers, each served locally while Redis is out.
_OPERATIONS = (
    "add",
    "get",
    "set",
    "touch",
    "delete",
    "get_many",
    "has_key",
    "incr",
    "decr",
    "set_many",
    "delete_many",
    "clear",
)


class FallbackRedisCache(RedisCache):
    """RedisCache, served from a local-memory cache while Redis cannot be reached."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self.local = LocMemCache(f"fallback-{id(self)}", {"OPTIONS": {"MAX_ENTRIES": 10_000}})
        self._lock = threading.Lock()
        self._redis_again_at = 0.0  # monotonic time; before it, Redis is not tried

    @property
    def falling_back(self) -> bool:
        return time.monotonic() < self._redis_again_at

    def _trip(self, error: BaseException) -> None:
        with self._lock:
            if not self.falling_back:
                logger.warning("cache: Redis unreachable (%s); this process uses its local cache for now", error)
            self._redis_again_at = time.monotonic() + settings.CACHE_FALLBACK_SECONDS

    def redis_check(self) -> None:
        """Raise unless Redis itself answers (for /readyz: the fallback hides the outage)."""
        RedisCache.set(self, "readyz:ping", "1", timeout=10)


def _served_locally_when_down(name: str) -> Callable[..., Any]:
    shared = getattr(RedisCache, name)
    local = getattr(LocMemCache, name)

    @functools.wraps(shared)
    def operation(self: FallbackRedisCache, *args: Any, **kwargs: Any) -> Any:
        if not self.falling_back:
            try:
                return shared(self, *args, **kwargs)
            except UNREACHABLE as error:
                self._trip(error)
        return local(self.local, *args, **kwargs)

    return operation


for _name in _OPERATIONS:
    setattr(FallbackRedisCache, _name, _served_locally_when_down(_name))
