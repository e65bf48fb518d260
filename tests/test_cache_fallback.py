"""The cache falls back to process memory while Redis is down (web.cache), and tries Redis
again after CACHE_FALLBACK_SECONDS."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.servers import RedisServer
from web.cache import UNREACHABLE, FallbackRedisCache


def test_it_serves_from_memory_while_redis_is_down_and_tries_redis_again(settings: Any) -> None:
    settings.CACHE_FALLBACK_SECONDS = 0.3
    server = RedisServer.start()  # its own: this test stops it
    try:
        cache = FallbackRedisCache(server.url, {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}})
        cache.set("shared", "in redis")
        assert cache.get("shared") == "in redis" and not cache.falling_back
        cache.redis_check()
    finally:
        server.stop()
    started = time.monotonic()
    assert cache.get("shared") is None  # Redis is gone: a miss, not an error
    assert cache.falling_back
    assert cache.add("marker", True) is True and cache.add("marker", True) is False
    cache.set_many({"a": 1, "b": 2})
    assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
    assert cache.incr("a") == 2
    cache.delete("b")
    assert cache.has_key("b") is False
    assert time.monotonic() - started < 1  # one connection attempt, then memory
    with pytest.raises(UNREACHABLE):
        cache.redis_check()
    time.sleep(0.35)
    assert not cache.falling_back  # the breaker lets the next call try Redis again
    assert cache.get("a") == 2  # which fails, and memory answers again
    assert cache.falling_back
