"""Long jobs in the page, in chromium at desktop and phone width: an index run and a share
repository build show their progress with a rate and a time left (or "estimating…"), poll
by themselves, and end with their outcome.

Deterministic: the test is the worker. It runs the job in its own process and pauses it
half-way (a listing, a file iterator that call back into the test) to look at the page;
the job's start is set back so the rate does not depend on how fast this machine is.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from shares import services as shares
from shares import tasks as share_tasks
from shares.demo import Demo
from shares.models import ShareRepository
from sources import clients, indexing
from sources.models import Source
from tests.browser_support import WIDTHS, axe_violations, browser, context_for, demo, scrolls_sideways, watch_console

__all__ = ["browser", "demo"]

pytestmark = [pytest.mark.system, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class PausedListing:
    """A source's backend whose listing stops after `after` objects to run `check`."""

    def __init__(self, real: Any, *, after: int, check: Any) -> None:
        self.real, self.after, self.check = real, after, check

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def iter_objects(self, prefix: str, **options: Any) -> Iterator[Any]:
        for number, info in enumerate(self.real.iter_objects(prefix, **options)):
            if number == self.after:
                self.check()
            yield info


@pytest.mark.parametrize("width", WIDTHS)
def test_an_index_run_shows_rate_and_time_left_then_its_outcome(
    browser: Browser, live_server: Any, demo: Demo, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = demo.source
    assert indexing.source_index(source_pk=source.pk)  # the previous run, whose count is the estimate
    source.refresh_from_db()
    previous = source.object_count
    assert previous == 4
    context = context_for(browser, live_server, width, demo.package.owner)
    page = context.new_page()
    problems = watch_console(page)
    box = page.locator("#index-progress")
    report: list[str] = []

    def check() -> None:
        # Two objects listed and written as progress; 20 s since the start.
        Source.objects.filter(pk=source.pk).update(
            index_started_at=timezone.now() - dt.timedelta(seconds=20), object_count=0
        )
        page.goto(f"{live_server.url}/sources/{source.public_id}/browse/")
        expect(box).to_contain_text("Indexing the bucket")
        expect(box).to_contain_text("2 objects listed")
        # A first run has nothing to estimate the time left from.
        expect(box.locator("[data-estimate]")).to_have_text("0.1 objects/s · time left estimating…")
        report.extend(axe_violations(page))
        assert not scrolls_sideways(page)
        # The previous run's count is the estimate: the box, polling, says the time left.
        Source.objects.filter(pk=source.pk).update(object_count=previous)
        expect(box.locator("[data-estimate]")).to_have_text(
            re.compile(r"^0\.1 objects/s · about 2\d s left$"), timeout=10_000
        )
        expect(box).to_contain_text("2 objects listed of about 4")

    real_backend_for = clients.backend_for
    monkeypatch.setattr(indexing, "INDEX_PROGRESS_EVERY", 2)
    monkeypatch.setattr(indexing, "_read_ahead", lambda objects, **options: iter(objects))  # in this thread
    monkeypatch.setattr(
        clients, "backend_for", lambda source: PausedListing(real_backend_for(source), after=2, check=check)
    )
    assert indexing.source_index(source_pk=source.pk)
    # No reload: the box polls and ends with the outcome.
    expect(box).to_contain_text("Indexed 4 objects", timeout=10_000)
    expect(box).not_to_have_attribute("hx-trigger", "every 2s")
    assert problems == []
    assert report == [], "\n".join(report)
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_repository_build_shows_rate_and_time_left_then_its_outcome(
    browser: Browser, live_server: Any, demo: Demo, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from packager.exports import gitrepo

    package = demo.package
    version = package.latest_version
    assert version is not None and version.entry_count >= 3
    # The test is the worker: nothing is built behind its back.
    monkeypatch.setattr(share_tasks.build_share_repository, "apply_async", lambda *args, **options: None)
    monkeypatch.setattr(share_tasks.prepare_share_repositories, "apply_async", lambda *args, **options: None)
    share = shares.share_create(package=package, created_by=package.owner, label="for the build")
    repository = shares.share_repository_request(
        share=share, version=version, kind=ShareRepository.Kind.DVC, base_url=live_server.url
    )
    context = context_for(browser, live_server, width, package.owner)
    page = context.new_page()
    problems = watch_console(page)
    page.goto(f"{live_server.url}/packages/{package.public_id}/shares/")
    row = page.locator(f"#repository-build-{repository.public_id}")
    expect(row).to_contain_text("waiting")
    report: list[str] = []

    def check() -> None:
        ShareRepository.objects.filter(pk=repository.pk).update(started_at=timezone.now() - dt.timedelta(seconds=20))
        expect(row.locator(".badge")).to_have_text("building", timeout=10_000)
        total = version.entry_count
        expect(row.locator("[data-progress]")).to_have_text(
            re.compile(rf"^2 of {total} files · 0\.1 files/s · about \d+ (s|min) left$"), timeout=10_000
        )
        report.extend(axe_violations(page))
        assert not scrolls_sideways(page)

    real_files = gitrepo.version_files

    def paused_files(*args: Any, **options: Any) -> Iterator[Any]:
        for number, item in enumerate(real_files(*args, **options)):
            if number == 2:
                check()
            yield item

    monkeypatch.setattr(shares, "REPOSITORY_PROGRESS_EVERY", 1)
    monkeypatch.setattr(gitrepo, "version_files", paused_files)
    shares.share_repository_build(repository_pk=repository.pk)
    # No reload: the box polls and ends with the outcome.
    expect(row.locator(".badge")).to_have_text("ready", timeout=10_000)
    expect(row).to_contain_text(f"{version.entry_count} files")
    expect(row).to_contain_text("built in")
    assert problems == []
    assert report == [], "\n".join(report)
    context.close()
