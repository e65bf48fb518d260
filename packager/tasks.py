from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from packager import checksumming, doi, drift, publications, services

# The tasks that call DataCite retry while it cannot be reached (DataCiteUnavailable: no answer,
# 5xx, 429), backing off exponentially from DATACITE_RETRY_BACKOFF_SECONDS (with jitter) to an
# hour, about a day in all; a refusal (4xx) is recorded on the version instead.
DATACITE_RETRIES: dict[str, Any] = {
    "autoretry_for": (doi.DataCiteUnavailable,),
    "retry_backoff": settings.DATACITE_RETRY_BACKOFF_SECONDS,
    "retry_backoff_max": 3600,
    "max_retries": 8,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@shared_task(acks_late=True, reject_on_worker_lost=True)
def publish_version(version_pk: int) -> None:
    """Checksum and seal a version. Idempotent: a rerun resumes where a killed one stopped."""
    checksumming.version_publish_run(version_pk=version_pk)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def verify_version(version_pk: int) -> None:
    """Re-stat every object of a published version and record drift."""
    drift.version_verify_run(version_pk=version_pk)


@shared_task
def verify_due_versions() -> int:
    """Queue a drift check of every published version not verified for DRIFT_VERIFY_HOURS."""
    return drift.versions_verify_due()


@shared_task
def resume_stalled_publishes() -> int:
    """Re-enqueue versions whose publishing worker died (its heartbeat stopped)."""
    return checksumming.version_resume_stalled()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def publish_to_bucket(publication_pk: int) -> None:
    """Write a version's manifest, datapackage, text files and ZIP to a bucket. Idempotent."""
    publications.publication_run(publication_pk=publication_pk)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def add_matches(job_pk: int) -> None:
    """Add every match of a search to a package. Idempotent: a rerun resumes after the last batch."""
    services.add_matches_job_run(job_pk=job_pk)


@shared_task
def resume_stalled_add_matches() -> int:
    """Re-enqueue "add all matches" jobs whose worker died (their heartbeat stopped)."""
    return services.add_matches_resume_stalled()


@shared_task(**DATACITE_RETRIES)
def register_doi(version_pk: int) -> None:
    """Register a published version's draft DOI at DataCite; retried while DataCite is unreachable
    (the failure is on the version page meanwhile). Idempotent: a version with a DOI is skipped."""
    doi.version_doi_register(version_pk=version_pk)


@shared_task(**DATACITE_RETRIES)
def follow_doi_visibility(version_pk: int) -> None:
    """Hide a withdrawn version's findable DOI at DataCite (findable again once it is public again);
    retried while DataCite is unreachable. Idempotent: it acts on the version's current state."""
    doi.version_doi_follow_run(version_pk=version_pk)
