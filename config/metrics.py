"""Prometheus metrics at /metrics, for the addresses in METRICS_ALLOWED_IPS only.

Counted as requests are served: requests by route name and status, and the latency of
the resolver (every file download passes through it). Read when scraped: jobs queued and
running by kind, the age of the oldest, and the access-log events this process has not
written yet.

Under gunicorn, set PROMETHEUS_MULTIPROC_DIR (an empty folder; config/gunicorn.py clears
it at start and forgets exited workers): every worker then writes its figures there and a
scrape, answered by any one worker, sums them all.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from web.http import client_ip

logger = logging.getLogger(__name__)

# Each process writes its figures under this folder, created if need be (a management
# command or a worker may import this module before gunicorn has made it).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

REQUESTS = Counter(
    "packager_http_requests", "HTTP requests answered, by route name, method and status.", ["route", "method", "status"]
)
# Share downloads redirect to storage: the resolver's own time is the whole request.
RESOLVE_ROUTES = frozenset({"share_resolve", "share_by_sha256", "share_by_md5", "share_dvc_object"})
RESOLVE_SECONDS = Histogram(
    "packager_resolve_seconds",
    "Time to answer a resolve request (a redirect to a signed storage URL), by route name.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ACCESS_LOG_BACKLOG = Gauge(
    "packager_access_log_backlog_events",
    "Share access events counted in memory and not yet written to the database (summed over live processes).",
    multiprocess_mode="livesum",
)


# Each labelled series, looked up once per process: labels() checks and sorts its
# arguments on every call, which every request would pay for.
_request_series: dict[tuple[str, str, int], Counter] = {}
_resolve_series: dict[str, Histogram] = {}
# process id -> what it last set ACCESS_LOG_BACKLOG to (set again only when that changes).
_backlog_reported: dict[int, int] = {}


def request_observed(*, route: str, method: str, status: int, seconds: float) -> None:
    key = (route, method, status)
    requests = _request_series.get(key)
    if requests is None:
        if len(_request_series) > 10_000:  # routes, methods and statuses are few; a client's
            _request_series.clear()  # made-up methods must not grow this without bound
        requests = _request_series[key] = REQUESTS.labels(route=route, method=method, status=str(status))
    requests.inc()
    if route in RESOLVE_ROUTES:
        resolve = _resolve_series.get(route)
        if resolve is None:
            resolve = _resolve_series[route] = RESOLVE_SECONDS.labels(route=route)
        resolve.observe(seconds)
    from shares.access_log import access_log_pending

    # After every request, as a request may have counted or written events.
    process, pending = os.getpid(), access_log_pending()
    if _backlog_reported.get(process) != pending:
        ACCESS_LOG_BACKLOG.set(pending)
        _backlog_reported.clear()  # a forked worker forgets its parent's
        _backlog_reported[process] = pending


class JobsCollector(Collector):
    """Background jobs waiting or running, and how long the oldest has been at it (read at scrape time).

    One query per kind of job, over its state column.
    """

    def collect(self) -> Iterator[Metric]:
        from packager.models import AddMatchesJob, PackageVersion, VersionPublication
        from shares.models import ShareRepository
        from sources.models import Source

        waiting = GaugeMetricFamily(
            "packager_jobs", "Background jobs queued or running, by kind and state.", labels=["kind", "state"]
        )
        oldest = GaugeMetricFamily(
            "packager_job_oldest_age_seconds",
            "Age of the oldest queued or running background job, by kind (0 when none).",
            labels=["kind"],
        )
        # kind: (its open jobs, their state column and states, when each was asked for).
        # A queued index run carries no time of its own yet: its age counts from its start.
        kinds: dict[str, tuple[QuerySet[Any], str, list[str], str]] = {
            "index": (
                Source.objects.filter(status__in=[Source.Status.QUEUED, Source.Status.INDEXING]),
                "status",
                [Source.Status.QUEUED, Source.Status.INDEXING],
                "index_started_at",
            ),
            # A version waiting for its curator to confirm a large read is not stuck: left out.
            "checksum": (
                PackageVersion.objects.filter(state=PackageVersion.State.CHECKSUMMING, awaiting_confirmation=False),
                "state",
                [PackageVersion.State.CHECKSUMMING],
                "created_at",
            ),
            "publish": (
                VersionPublication.objects.filter(
                    state__in=[VersionPublication.State.QUEUED, VersionPublication.State.RUNNING]
                ),
                "state",
                [VersionPublication.State.QUEUED, VersionPublication.State.RUNNING],
                "created_at",
            ),
            "add_matches": (
                AddMatchesJob.objects.filter(state__in=[AddMatchesJob.State.QUEUED, AddMatchesJob.State.RUNNING]),
                "state",
                [AddMatchesJob.State.QUEUED, AddMatchesJob.State.RUNNING],
                "created_at",
            ),
            "repository": (
                ShareRepository.objects.filter(
                    state__in=[ShareRepository.State.PENDING, ShareRepository.State.BUILDING]
                ),
                "state",
                [ShareRepository.State.PENDING, ShareRepository.State.BUILDING],
                "requested_at",
            ),
        }
        now = timezone.now()
        try:
            for kind, (jobs, state, states, asked_at) in kinds.items():
                counts: dict[str, int] = {str(name): 0 for name in states}  # a series per state, 0 included
                first = None
                for row in jobs.order_by().values(state).annotate(count=Count("pk"), first=Min(asked_at)):
                    counts[str(row[state])] = row["count"]
                    if row["first"] is not None:
                        first = row["first"] if first is None else min(first, row["first"])
                for name, count in counts.items():
                    waiting.add_metric([kind, name], count)
                oldest.add_metric([kind], (now - first).total_seconds() if first is not None else 0.0)
        except DatabaseError:
            logger.warning("metrics: the jobs could not be counted", exc_info=True)
            return
        yield waiting
        yield oldest


class _Scrape:
    """What one scrape reports: the counters (of every worker, with PROMETHEUS_MULTIPROC_DIR) and the jobs."""

    def __init__(self) -> None:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            counters = CollectorRegistry()
            multiprocess.MultiProcessCollector(counters)
            self.counters: Collector = counters
        else:
            self.counters = REGISTRY

    def collect(self) -> Iterator[Metric]:
        yield from self.counters.collect()
        yield from JobsCollector().collect()


@cache
def _allowed(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def metrics_allowed(request: HttpRequest) -> bool:
    address = client_ip(request)
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in _allowed(tuple(settings.METRICS_ALLOWED_IPS)))


def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponseNotFound("Not found.", content_type="text/plain")  # as if there were nothing here
    return HttpResponse(generate_latest(_Scrape()), content_type=CONTENT_TYPE_LATEST)
