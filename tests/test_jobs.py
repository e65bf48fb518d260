"""Background jobs share one mechanism (web.jobs): a broker that is down leaves a job for
beat's sweep, the sweep queues every kind whose worker went silent, and gives up after
JOB_MAX_ATTEMPTS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from config.celery import app as celery_app
from packager import checksumming, publications
from packager import services as packages
from packager.models import PackageVersion, VersionPublication
from shares import services as share_services
from sources import indexing
from sources.models import Source
from tests.test_publications import TEMPLATE, data_source, version, versioned_destination  # noqa: F401
from web import jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down() -> Iterator[None]:
    """Tasks go to a broker nobody listens on (as when Redis is down), not inline."""
    names = ("task_always_eager", "broker_url", "broker_transport_options")
    saved = {name: celery_app.conf[name] for name in names}
    celery_app.conf.update(task_always_eager=False, broker_url="redis://127.0.0.1:9/0", broker_transport_options={})
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    yield
    celery_app.conf.update(saved)
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def test_every_kind_of_background_job_is_swept() -> None:
    assert {kind.name for kind in jobs.KINDS.values()} == {
        "checksum",
        "publication",
        "add-matches",
        "index",
        "repository",
    }
    assert jobs.KINDS["checksum"] is checksumming.CHECKSUM_RUNS
    assert jobs.KINDS["publication"] is publications.PUBLICATIONS
    assert jobs.KINDS["add-matches"] is packages.ADD_MATCHES_JOBS
    assert jobs.KINDS["index"] is indexing.INDEX_RUNS
    assert jobs.KINDS["repository"] is share_services.REPOSITORY_BUILDS


def test_a_publish_to_a_bucket_with_the_broker_down_is_left_for_the_sweep(
    client: Any,
    owner: Any,
    version: PackageVersion,  # noqa: F811
    versioned_destination: Source,  # noqa: F811
    broker_down: None,
    django_capture_on_commit_callbacks: Any,
    caplog: Any,
) -> None:
    client.force_login(owner)
    url = reverse("version_publications", args=[version.package.public_id, version.number])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"destination": versioned_destination.public_id, "key_template": TEMPLATE})
    assert response.status_code == 302  # not 500: the row is saved, beat will queue it
    record = VersionPublication.objects.get()
    assert record.state == VersionPublication.State.QUEUED
    assert "left for the sweep" in caplog.text
    # The broker is back (tasks run inline here); once the row's heartbeat is old, the sweep queues it.
    celery_app.conf.task_always_eager = True
    assert jobs.jobs_resume_stalled()["publication"] == 0  # queued a moment ago: not yet
    VersionPublication.objects.update(heartbeat_at=timezone.now() - dt.timedelta(hours=1))
    assert jobs.jobs_resume_stalled()["publication"] == 1
    record.refresh_from_db()
    assert record.state == VersionPublication.State.DONE and record.attempts == 1
    assert {item["key"].rsplit("/", 1)[-1] for item in record.written} >= {"manifest.jsonl", "datapackage.json"}


def test_a_running_job_is_taken_over_only_once_silent_and_failed_after_its_last_attempt(
    owner: Any,
    version: PackageVersion,  # noqa: F811
    versioned_destination: Source,  # noqa: F811
    settings: Any,
) -> None:
    record = VersionPublication.objects.create(
        package_version=version,
        source=versioned_destination,
        key_template=TEMPLATE,
        prefix="x/",
        state=VersionPublication.State.RUNNING,
        heartbeat_at=timezone.now(),
        attempts=1,
    )
    assert publications.publication_run(publication_pk=record.pk) is False  # its worker is alive
    silent = timezone.now() - dt.timedelta(seconds=settings.PUBLICATION_STALE_SECONDS + 1)
    VersionPublication.objects.filter(pk=record.pk).update(heartbeat_at=silent, attempts=settings.JOB_MAX_ATTEMPTS)
    jobs.jobs_resume_stalled()
    record.refresh_from_db()
    assert record.state == VersionPublication.State.FAILED
    assert f"after {settings.JOB_MAX_ATTEMPTS} attempts" in record.error
    # Asking again starts afresh, with its attempts counted from zero.
    with_request = publications.publication_request(version=version, source=versioned_destination, key_template="x/")
    assert with_request.pk == record.pk and with_request.attempts == 0
