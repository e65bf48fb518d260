"""Progress of index runs and share repository builds: throttled writes, the rate and time
left the polled boxes show (or "estimating…"), their outcome, and a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from packager import services as packages
from packager.models import Package
from shares import services as shares
from shares.models import ShareRepository
from sources import indexing
from sources.models import Source
from tests.factories import make_local_source, publish, write_files
from web import jobs, progress
from web.progress import ProgressThrottle, rate_and_estimate

# The clock the rates and estimates read, held still: a loaded machine must not turn
# "about 40 s left" into "about 39 s left" between setting a start time and reading the page.
FROZEN = timezone.now()


@pytest.fixture(autouse=True)
def _frozen_progress_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "timezone", SimpleNamespace(now=lambda: FROZEN))


HTMX = {"HTTP_HX_REQUEST": "true"}


def shown(response: Any) -> str:
    """The fragment's text (tags out), then its polling attribute if it has one."""
    html = response.content.decode()
    return " ".join(re.sub(r"<[^>]+>", "", html).split()) + "\n" + " ".join(re.findall(r'hx-trigger="[^"]*"', html))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_it_writes_progress_every_so_many_items_or_seconds_whichever_first() -> None:
    clock = Clock()
    throttle = ProgressThrottle(every=3, seconds=2.0, clock=clock)
    assert [throttle.due() for _ in range(7)] == [False, False, True, False, False, True, False]
    clock.now += 2.5  # a slow stretch: one item is enough once the seconds passed
    assert throttle.due() is True
    clock.now += 5
    assert throttle.due(0) is False  # nothing new: nothing to write
    throttle.due()
    throttle.written()  # written for another reason (a full batch): the count starts over
    assert [throttle.due() for _ in range(3)] == [False, False, True]


def test_it_estimates_the_time_left_only_when_it_has_an_expected_total() -> None:
    started = FROZEN - dt.timedelta(seconds=10)
    assert rate_and_estimate(50, 100, started, unit="objects") == "5.0 objects/s · about 10 s left"
    assert rate_and_estimate(50, 0, started, unit="objects") == "5.0 objects/s · time left estimating…"
    assert rate_and_estimate(150, 100, started, unit="objects") == "15 objects/s · time left estimating…"
    assert rate_and_estimate(0, 100, started, unit="objects") == "estimating…"
    assert rate_and_estimate(10, 100, None) == "estimating…"


# Index runs ------------------------------------------------------------------------------


@pytest.fixture
def local_source(owner: Any, tmp_path: Path) -> Source:
    write_files(tmp_path / "data", {f"d{index % 3}/f{index:02d}.txt": b"x" * index for index in range(25)})
    return make_local_source(owner, tmp_path / "data")


@pytest.mark.django_db
def test_an_index_run_writes_its_progress_in_batches_not_per_object(
    local_source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexing, "INDEX_PROGRESS_EVERY", 10)
    seen: list[int] = []
    real = jobs.job_heartbeat

    def recording(queryset: Any, **updates: Any) -> int:
        if "index_listed" in updates:
            seen.append(updates["index_listed"])
        return real(queryset, **updates)

    monkeypatch.setattr(jobs, "job_heartbeat", recording)
    assert indexing.source_index(source_pk=local_source.pk)
    # Every 10 objects (and once at the end), never once per object.
    assert seen[:2] == [10, 20] and seen[-1] == 25 and len(seen) <= 5
    local_source.refresh_from_db()
    assert (local_source.status, local_source.object_count, local_source.index_listed) == ("ready", 25, 25)


@pytest.mark.django_db
def test_the_index_box_shows_rate_and_time_left_then_its_outcome_in_a_fixed_number_of_queries(
    owner_client: Any, local_source: Source, django_assert_num_queries: Any
) -> None:
    url = reverse("source_index_progress", args=[local_source.public_id])
    started = FROZEN - dt.timedelta(seconds=8)
    # A re-index: the previous run's 25 objects are the estimate.
    Source.objects.filter(pk=local_source.pk).update(
        status=Source.Status.INDEXING, index_started_at=started, index_finished_at=None, index_listed=20
    )
    with django_assert_num_queries(3):  # the session, its user, the source
        response = owner_client.get(url, **HTMX)
    body = shown(response)
    assert "20 objects listed of about 25" in body
    assert "2.5 objects/s · about 2 s left" in body
    assert 'hx-trigger="every 2s"' in body  # still polling
    # A first run: nothing to estimate from yet.
    Source.objects.filter(pk=local_source.pk).update(object_count=0)
    body = shown(owner_client.get(url, **HTMX))
    assert "2.5 objects/s · time left estimating…" in body
    Source.objects.filter(pk=local_source.pk).update(index_started_at=FROZEN, index_listed=0)
    assert "objects listed · estimating…" in shown(owner_client.get(url, **HTMX))
    # The outcome ends the polling: the count, or the reason it failed.
    Source.objects.filter(pk=local_source.pk).update(
        status=Source.Status.READY, object_count=25, index_finished_at=timezone.now()
    )
    body = shown(owner_client.get(url, **HTMX))
    assert "Indexed 25 objects" in body and "hx-trigger" not in body
    Source.objects.filter(pk=local_source.pk).update(status=Source.Status.ERROR, last_error="The bucket is gone.")
    body = shown(owner_client.get(url, **HTMX))
    assert "Listing failed: The bucket is gone." in body and "hx-trigger" not in body


# Repository builds -------------------------------------------------------------------------


@pytest.fixture
def local_package(owner: Any, tmp_path: Path) -> Package:
    write_files(tmp_path / "data", {f"part{index}.csv": b"a,b\n1,2\n" * index for index in range(1, 8)})
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Local set")
    packages.package_add_objects(package=package, source=source, paths=[f"part{i}.csv" for i in range(1, 8)])
    packages.package_write_text(package=package, path="README.md", content="# Local\n")
    publish(package)
    return package


@pytest.mark.django_db
def test_a_repository_build_writes_its_progress_throttled_and_ends_with_every_file(
    owner: Any, local_package: Package, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shares, "REPOSITORY_PROGRESS_EVERY", 3)
    share = shares.share_create(package=local_package, created_by=owner)
    version = local_package.latest_version
    assert version is not None and version.entry_count == 8
    repository = shares.share_repository_request(
        share=share, version=version, kind=ShareRepository.Kind.ANNEX, base_url="http://testserver"
    )
    seen: list[tuple[int, int, str]] = []
    real = jobs.job_heartbeat

    def recording(queryset: Any, **updates: Any) -> int:
        written = real(queryset, **updates)
        row = ShareRepository.objects.get(pk=repository.pk)
        seen.append((row.progress_done, row.progress_total, row.state))
        return written

    monkeypatch.setattr(jobs, "job_heartbeat", recording)
    shares.share_repository_build(repository_pk=repository.pk)
    assert seen == [(3, 8, "building"), (6, 8, "building")]  # every 3 files, not one write per file
    repository.refresh_from_db()
    assert (repository.state, repository.progress_done, repository.progress_total) == ("ready", 8, 8)


@pytest.mark.django_db
def test_the_builds_box_shows_rate_and_time_left_then_the_outcome_in_a_fixed_number_of_queries(
    client: Any, owner: Any, outsider: Any, local_package: Package, django_assert_num_queries: Any
) -> None:
    owner_client = client
    owner_client.force_login(owner)
    first = shares.share_create(package=local_package, created_by=owner)
    second = shares.share_create(package=local_package, created_by=owner, password="a long password 1")
    version = local_package.latest_version
    assert version is not None
    for share in (first, second):
        for kind in ShareRepository.Kind:
            shares.share_repository_request(share=share, version=version, kind=kind, base_url="http://testserver")
    builds = ShareRepository.objects.filter(share__package=local_package)
    assert builds.count() == 4
    builds.update(
        state=ShareRepository.State.BUILDING,
        started_at=FROZEN - dt.timedelta(seconds=10),
        progress_done=5,
        progress_total=25,
    )
    url = reverse("package_shares", args=[local_package.public_id]) + "?part=repositories"
    with django_assert_num_queries(4):  # the session, its user, the package, the builds (however many)
        response = owner_client.get(url, **HTMX)
    body = shown(response)
    assert body.count("5 of 25 files · 0.5 files/s · about 40 s left") == 4
    assert 'hx-trigger="every 1s"' in body
    builds.update(progress_done=0, started_at=FROZEN)
    assert "0 of 25 files · estimating…" in shown(owner_client.get(url, **HTMX))
    builds.exclude(kind="dvc").update(state=ShareRepository.State.READY, progress_done=25, size=4096, build_seconds=2.5)
    builds.filter(kind="dvc").update(state=ShareRepository.State.FAILED, error="git is not installed on this server")
    body = shown(owner_client.get(url, **HTMX))
    assert body.count("25 files · 4.0 KB · built in 2.5 s") == 2
    assert body.count("git is not installed on this server") == 2
    assert "hx-trigger" not in body  # the outcome ends the polling
    # The whole page shows the box too; an outsider sees neither.
    assert (
        'id="repository-builds"'
        in owner_client.get(reverse("package_shares", args=[local_package.public_id])).content.decode()
    )
    client.force_login(outsider)
    assert client.get(url, **HTMX).status_code == 404
