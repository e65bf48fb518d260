"""Health probes: /healthz (the process answers) and /readyz (what it needs answers too).

/healthz touches nothing: an orchestrator restarts a process that fails it, and a
database outage is no reason to restart every web node. /readyz checks the database, the
cache, the Celery broker and the text storage, each bounded by READINESS_TIMEOUT_SECONDS
(all at once, so the answer comes within one timeout): a node that fails it is taken out
of the load balancer until it passes again. The answer names each check's outcome but no
error text (it is public); the log has the details.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok\n", content_type="text/plain")


def check_database() -> None:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # a thread of the probe pool: its connection is not kept


def check_cache() -> None:
    redis_check = getattr(cache, "redis_check", None)
    if redis_check is not None:  # the fallback to local memory would hide a Redis outage
        redis_check()
        return
    key = f"readyz:{os.getpid()}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not return what was just stored")


def check_broker() -> None:
    from config.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)


def check_storage() -> None:
    """The text storage answers: its folder is writable, or its bucket/container exists."""
    storage = default_storage
    if settings.TEXT_STORAGE == "local":
        root = settings.MEDIA_ROOT
        os.makedirs(root, exist_ok=True)
        if not os.access(root, os.W_OK):
            raise PermissionError("MEDIA_ROOT is not writable")
    elif settings.TEXT_STORAGE == "s3":
        storage.connection.meta.client.head_bucket(Bucket=storage.bucket_name)  # type: ignore[attr-defined]
    else:
        storage.client.get_container_properties()  # type: ignore[attr-defined]


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "storage": check_storage,
}
# Threads that outlive a timed-out check finish on their own; a few probes in a row that
# all hang wait for a free thread (and then time out themselves).
_pool = ThreadPoolExecutor(max_workers=4 * len(CHECKS), thread_name_prefix="readyz")


def _timed(check: Callable[[], None]) -> float:
    started = time.perf_counter()
    check()
    return time.perf_counter() - started


def readyz(request: HttpRequest) -> JsonResponse:
    timeout = settings.READINESS_TIMEOUT_SECONDS
    deadline = time.monotonic() + timeout
    running = {name: _pool.submit(_timed, check) for name, check in CHECKS.items()}
    checks: dict[str, dict[str, object]] = {}
    for name, future in running.items():
        try:
            seconds = future.result(timeout=max(deadline - time.monotonic(), 0))
        except FutureTimeout:
            logger.warning("readyz: %s did not answer within %ss", name, timeout)
            checks[name] = {"status": "fail", "error": f"no answer within {timeout:g} s"}
        except Exception as error:
            logger.warning("readyz: %s failed: %s", name, error)
            checks[name] = {"status": "fail", "error": type(error).__name__}
        else:
            checks[name] = {"status": "ok", "seconds": round(seconds, 4)}
    ready = all(check["status"] == "ok" for check in checks.values())
    response = JsonResponse({"status": "ok" if ready else "fail", "checks": checks}, status=200 if ready else 503)
    response["Cache-Control"] = "no-store"
    return response
