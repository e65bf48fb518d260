"""Background jobs, one mechanism for every kind: a record, a claim, a heartbeat, a sweep.

Every kind of background work (index runs, checksum runs, add-matches jobs, publications
to a bucket, share repository builds) is a row that mixes in `JobRecord`: its own state
field says whether it still needs a worker, `heartbeat_at` when a worker last showed
life (or when the job was queued), `attempts` how many times a worker claimed it.

- A request queues the job with `job_enqueue`: after the commit, and a broker that is
  down leaves the job for the sweep instead of failing the request.
- A task claims its row with `job_claim` (a conditional UPDATE: one worker wins), writes
  its progress with `job_heartbeat` as it goes, and a rerun resumes where the row says.
- Beat runs `jobs_resume_stalled` (sources.tasks.resume_stalled_jobs): every waiting row
  whose heartbeat is older than its kind's stale time is queued again (a lost task, a
  killed worker, a broker that was down); one claimed JOB_MAX_ATTEMPTS times is failed
  with a message rather than retried forever.

Kinds register themselves (`register`) from their app's tasks module, which the Celery
worker imports, so this module, at the bottom of the layers, names no app.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)


class JobRecord(models.Model):
    """The fields every background job shares (mixed into each kind's model)."""

    # When a worker last showed life: set when the job is queued, claimed, and as it
    # progresses. A waiting job whose heartbeat is older than its kind's stale time has no
    # worker (lost task, killed worker) and is queued again by beat.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # How many times a worker claimed the job since it was last asked for.
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


@dataclasses.dataclass(frozen=True)
class JobKind:
    """One kind of background job, as the sweep sees it."""

    name: str
    model: type[JobRecord]
    # The rows that still need a worker (queued or running).
    waiting: Callable[[], models.Q]
    # Seconds of silence after which a waiting job is taken to have no worker.
    stale_seconds: Callable[[], float]
    # The Celery task, called with the row's pk.
    task: Callable[[], Any]
    # The fields that mark a job failed once it has used up its attempts.
    failed: Callable[[str], dict[str, Any]]


# Filled as the apps' job modules are imported: each app's ready() imports them, so every
# process that has set Django up knows every kind.
KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    KINDS[kind.name] = kind
    return kind


def stale_before(kind: JobKind, *, now: dt.datetime | None = None) -> models.Q:
    """The rows of `kind` nobody has shown life for (or never claimed, with no heartbeat)."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=kind.stale_seconds())
    return models.Q(heartbeat_at__isnull=True) | models.Q(heartbeat_at__lt=cutoff)


def job_claim(queryset: models.QuerySet[Any], **updates: Any) -> bool:
    """Claim one job row (a queryset already filtered to the claimable row): True when this
    worker won it. The claim is the first heartbeat and counts an attempt."""
    return queryset.update(heartbeat_at=timezone.now(), attempts=models.F("attempts") + 1, **updates) == 1


def job_heartbeat(queryset: models.QuerySet[Any], **updates: Any) -> int:
    """Record progress (and life) on a job row; how many rows were updated."""
    return int(queryset.update(heartbeat_at=timezone.now(), **updates))


def queued_fields() -> dict[str, Any]:
    """What a row (re)queued by a request carries: a fresh heartbeat and no attempts yet."""
    return {"heartbeat_at": timezone.now(), "attempts": 0}


def job_send(task: Any, *args: Any) -> bool:
    """Hand a task to the broker now; False (logged) when the broker cannot be reached, in
    which case a job's row waits for beat's sweep."""
    try:
        task.apply_async(args, retry=False)
    except (OperationalError, OSError) as error:
        logger.warning("jobs: could not queue %s%s, left for the sweep: %s", task.name, args, error)
        return False
    return True


def job_enqueue(task: Any, *args: Any) -> None:
    """Queue a task once the current transaction commits (now, outside one); a broker that
    is down never fails the request that asked."""
    transaction.on_commit(lambda: job_send(task, *args))


def jobs_resume_stalled() -> dict[str, int]:
    """Beat: queue again every waiting job of every kind whose heartbeat went silent, and
    fail those that have used up JOB_MAX_ATTEMPTS. How many of each kind were queued."""
    queued: dict[str, int] = {}
    now = timezone.now()
    for kind in list(KINDS.values()):
        stalled = kind.model._default_manager.filter(kind.waiting()).filter(stale_before(kind, now=now))
        exhausted = stalled.filter(attempts__gte=settings.JOB_MAX_ATTEMPTS)
        message = f"Stopped after {settings.JOB_MAX_ATTEMPTS} attempts: a worker died each time it ran this job."
        given_up = exhausted.update(**kind.failed(message))
        if given_up:
            logger.warning("jobs: %d %s job(s) failed after their last attempt", given_up, kind.name)
        # A job queued twice is run once: the second task finds it claimed (or done).
        pks = list(stalled.values_list("pk", flat=True)[:100])
        task = kind.task()
        queued[kind.name] = sum(job_send(task, pk) for pk in pks)
    return queued
