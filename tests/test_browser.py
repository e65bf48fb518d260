"""The main flow as a person walks it, in Debian's chromium driven by Playwright."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from packager import tasks
from packager.checksumming import version_publish_run
from packager.models import Package
from shares.demo import seed_demo

pytestmark = [pytest.mark.system, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("Debian's chromium is not installed: run `make install-test`.")
    # Playwright's sync API runs an event loop in this thread; the tests' own ORM calls are
    # plain synchronous code all the same. Allowed while the browser is open only: a process
    # started by a later test inherits no DJANGO_ALLOW_ASYNC_UNSAFE (its system checks refuse it).
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def log_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Packages")).to_be_visible()


def test_a_curator_shares_a_package_and_a_collaborator_downloads_it(
    browser: Browser,
    live_server: Any,
    settings: Any,
    tmp_path: Path,
    output_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.VAR_DIR = tmp_path
    demo = seed_demo()
    base = live_server.url
    curator = browser.new_context(viewport={"width": 1280, "height": 900})
    page = curator.new_page()
    # The Content-Security-Policy allows no inline script or style: the pages must not need any.
    violations: list[str] = []

    def watch(tab: Page) -> None:
        tab.on(
            "console", lambda message: violations.append(message.text) if "Content Security" in message.text else None
        )

    watch(page)
    log_in(page, base, demo.username, demo.password)

    # Browse the demo source and pick two files.
    page.get_by_role("link", name="Sources").click()
    page.get_by_role("link", name="Demo data").click()
    page.get_by_role("link", name="measurements").click()
    page.get_by_label("Select 2024-summer.csv").check()
    page.get_by_label("Select 2024-winter.csv").check()
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    page.get_by_label("or a new package named").fill("Winter and summer")
    page.get_by_label("into folder").fill("measurements")
    page.get_by_role("button", name="Add to package").click()
    expect(page.get_by_text("Added 2 files")).to_be_visible()
    expect(page.get_by_role("heading", name="Winter and summer")).to_be_visible()

    # Write a README in the browser.
    page.get_by_role("link", name="Write a text file").click()
    page.get_by_label("Path").fill("README.md")
    page.get_by_label("Content").fill("# Two seasons\n\nSurface temperatures, **winter and summer**.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Two seasons")).to_be_visible()

    # A password share. Sharing publishes v1; the test runs its checksumming (not a worker)
    # while the collaborator waits.
    monkeypatch.setattr(tasks.publish_version, "delay", lambda version_pk: None)
    page.get_by_role("link", name="Share…").click()
    page.get_by_label("Password").fill("lake-2024")
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_text("Share link created")).to_be_visible()
    share_path = page.locator("td a.mono").first.get_attribute("href")
    assert share_path and share_path.startswith("/s/")

    version = Package.objects.get(name="Winter and summer").versions.get(number=1)
    assert version.state == "checksumming"

    # A collaborator, in a browser of their own.
    collaborator = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    visitor = collaborator.new_page()
    watch(visitor)
    visitor.goto(base + share_path)
    expect(visitor.get_by_text("protected by a password")).to_be_visible()
    visitor.get_by_label("Password").fill("wrong guess")
    visitor.get_by_role("button", name="Unlock").click()
    expect(visitor.get_by_text("That password is not right")).to_be_visible()
    visitor.get_by_label("Password").fill("lake-2024")
    visitor.get_by_role("button", name="Unlock").click()
    expect(visitor.get_by_text("Version 1 is being published")).to_be_visible()
    expect(visitor.get_by_text("0 of 2 files checksummed")).to_be_visible()
    version_publish_run(version_pk=version.pk)
    # The waiting page polls and reloads itself once the version is out.
    expect(visitor.get_by_role("heading", name="Two seasons")).to_be_visible(timeout=15_000)
    expect(visitor.locator("#version")).to_contain_text("v1")
    expect(visitor.locator(".readme strong")).to_have_text("winter and summer")
    expect(visitor.get_by_role("link", name="measurements")).to_be_visible()
    visitor.screenshot(path=str(output_dir / "share-page.png"), full_page=True)

    with visitor.expect_download() as download_info:
        visitor.get_by_role("link", name="Download ZIP").click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert download.suggested_filename == "winter-and-summer-v1.zip"
    names = sorted(zipfile.ZipFile(saved).namelist())
    assert names == [
        "winter-and-summer/CITATION.cff",
        "winter-and-summer/HOW-TO-DOWNLOAD.md",
        "winter-and-summer/README.md",
        "winter-and-summer/citation.bib",
        "winter-and-summer/citation.ris",
        "winter-and-summer/datacite.xml",
        "winter-and-summer/datapackage.json",
        "winter-and-summer/manifest.jsonl",
        "winter-and-summer/measurements/2024-summer.csv.pointer.json",
        "winter-and-summer/measurements/2024-winter.csv.pointer.json",
        "winter-and-summer/ro-crate-metadata.json",
        "winter-and-summer/urls.txt",
    ]

    # Revoking asks first (a confirm dialog from app.js, not an inline handler).
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Share link revoked")).to_be_visible()
    visitor.goto(base + share_path)
    expect(visitor.get_by_role("heading", name="This link is no longer available")).to_be_visible()
    assert violations == []
    curator.close()
    collaborator.close()
