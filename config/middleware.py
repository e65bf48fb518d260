"""Every request: an id, a log line, metrics; and the health probes and /metrics, answered first."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from config import health, logs, metrics

logger = logging.getLogger("packager.requests")

# An incoming X-Request-ID (from a proxy or a client) is kept when it looks like an id;
# anything else (too long, spaces, control characters) is replaced by a fresh one.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}")
# A key link carries a secret in its path: /s/<token>/k/<key>/…
_KEY_IN_PATH = re.compile(r"^(/s/[^/]+/k/)[^/]+")

_STATIC_PREFIX = "/" + settings.STATIC_URL.lstrip("/")

# Answered here, before the host check and everything else: an orchestrator probes a node
# by its own address, which is not among ALLOWED_HOSTS, and a probe needs no session.
PROBES: dict[str, Callable[[HttpRequest], HttpResponseBase]] = {
    "/healthz": health.healthz,
    "/readyz": health.readyz,
    "/metrics": metrics.metrics,
}


def loggable_path(path: str) -> str:
    """The path without the secret of a key link (the query string is never logged)."""
    return _KEY_IN_PATH.sub(r"\1…", path) if "/k/" in path else path


def _new_request_id() -> str:
    # 32 random hex digits, as uuid4().hex writes them, without building a UUID object.
    return os.urandom(16).hex()


class RequestObservability:
    """Every request pays for this: it reads headers off META (request.headers would copy
    them all), labels metrics through metrics.request_observed's cached series, and builds
    its log line only when INFO is logged."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if incoming and _SANE_REQUEST_ID.fullmatch(incoming) else _new_request_id()
        token = logs.request_id.set(request_id)
        try:
            probe = PROBES.get(request.path_info)
            if probe is not None:
                route = request.path_info.lstrip("/")
                response = probe(request)
            else:
                response = self.get_response(request)
                match = request.resolver_match
                # The route's name, never the path: paths hold tokens and file names, and
                # would make one series per file.
                if match is not None:
                    route = match.view_name or "unnamed"
                elif request.path_info.startswith(_STATIC_PREFIX):
                    route = "static"  # answered by whitenoise, before URL routing
                else:
                    route = "unmatched"
            duration = time.perf_counter() - started
            response["X-Request-ID"] = request_id
            metrics.request_observed(
                route=route, method=request.method or "", status=response.status_code, seconds=duration
            )
            if logger.isEnabledFor(logging.INFO):
                path = loggable_path(request.path)
                logger.info(
                    "%s %s %s %.1fms",
                    request.method,
                    path,
                    response.status_code,
                    duration * 1000,
                    extra={
                        "method": request.method,
                        "path": path,
                        "route": route,
                        "status": response.status_code,
                        "duration_ms": round(duration * 1000, 2),
                    },
                )
            return response
        finally:
            logs.request_id.reset(token)
