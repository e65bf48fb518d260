"""The main flow as a person walks it, in Debian's chromium driven by Playwright."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from packager import services as packages
from packager import tasks
from packager.checksumming import version_publish_run
from packager.models import Package
from shares.demo import seed_demo
from tests import browser_support
from tests.factories import make_local_source, write_files

pytestmark = [pytest.mark.system, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

browser = browser_support.browser  # the module-scoped chromium every browser test uses


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
    monkeypatch.setattr(tasks.publish_version, "apply_async", lambda *args, **options: None)
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

    # Revoking asks first (a <dialog> from app.js, not an inline handler nor window.confirm).
    page.get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog", name="Revoke this share link?").get_by_role("button", name="Revoke share").click()
    expect(page.get_by_text("Share link revoked")).to_be_visible()
    visitor.goto(base + share_path)
    expect(visitor.get_by_role("heading", name="This link is no longer available")).to_be_visible()
    assert violations == []
    curator.close()
    collaborator.close()


def assert_no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth)"
        ".slice(0, 5).map(e => `${e.tagName}#${e.id} ${Math.round(e.getBoundingClientRect().right)}px`)"
    )  # what sticks out, to say so when it fails
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths[0]} px wide in a {widths[1]} px window: {wide}"


CREATORS = (
    "Carberry, Josiah | 0000-0002-1825-0097 | Brown University | https://ror.org/05gq02987\n"
    "Lovelace, Ada | https://orcid.org/0000-0001-5109-3700 | University College London | 02jx3x895"
)
METADATA = {
    "Title": "Alpine lake temperatures 2020–2023",
    "Description": "Hourly water temperature at four depths in three alpine lakes, quality-controlled by hand.",
    "Contributors": "Data desk",
    "License": "CC-BY-4.0",
    "Keywords": "lakes, temperature",
    "Subjects": "Earth sciences",
    "Funding": "Swiss National Science Foundation | https://ror.org/00yjd3n13 | 200021_123456",
    "Related": "https://doi.org/10.5072/paper.7 | IsSupplementTo",
    "Version name": "2023.1",
    "Publication date": "2024-02-29",
    "Language": "en",
    "Spatial coverage": "Lake Geneva",
    "Temporal coverage": "2020-01-01/2023-12-31",
}


@pytest.mark.parametrize("width", [1280, 390])
def test_an_owner_fills_the_citation_metadata_and_a_reader_cites_the_version(
    browser: Browser, live_server: Any, owner: Any, tmp_path: Path, output_dir: Path, width: int
) -> None:
    base = live_server.url
    write_files(tmp_path / "data", {"lake.csv": b"depth,temperature\n1,4.2\n"})
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Alpine lakes", description="")
    packages.package_add_objects(package=package, source=source, paths=["lake.csv"], target="")
    curator = browser.new_context(viewport={"width": width, "height": 900})
    page = curator.new_page()
    log_in(page, base, owner.username, "owner-password-1")

    page.goto(f"{base}/packages/{package.public_id}/metadata/")
    expect(page.get_by_role("heading", name="Citation metadata")).to_be_visible()
    assert_no_horizontal_scroll(page)
    for label, value in METADATA.items():
        page.get_by_label(label, exact=True).fill(value)
    # A mistyped ORCID iD (its check digit is wrong): a clear error, and nothing typed is lost.
    mistyped = CREATORS.replace("0000-0002-1825-0097", "0000-0002-1825-0096")
    page.get_by_label("Creators", exact=True).fill(mistyped)
    page.get_by_role("button", name="Save metadata").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "0000-0002-1825-0096 is not an ORCID iD: its check digit is wrong"
    )
    expect(page.get_by_label("Creators", exact=True)).to_have_value(mistyped)
    for label, value in METADATA.items():
        expect(page.get_by_label(label, exact=True)).to_have_value(value)
    assert_no_horizontal_scroll(page)
    page.screenshot(path=str(output_dir / f"metadata-form-error-{width}.png"), full_page=True)
    page.get_by_label("Creators", exact=True).fill(CREATORS)
    page.get_by_role("button", name="Save metadata").click()
    expect(page.get_by_text("Metadata saved")).to_be_visible()
    expect(page.get_by_label("Creators", exact=True)).to_have_value(
        CREATORS.replace("https://orcid.org/", "").replace("| 02jx3x895", "| https://ror.org/02jx3x895")
    )
    assert_no_horizontal_scroll(page)

    # Publish (checksummed inline: the tests' Celery runs tasks eagerly), then share.
    page.goto(f"{base}/packages/{package.public_id}/")
    page.get_by_role("button", name="Publish a new version").click()
    expect(page.get_by_text("Publishing version 1")).to_be_visible()
    page.goto(f"{base}/packages/{package.public_id}/")
    page.get_by_role("link", name="Share…").click()
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_text("Share link created")).to_be_visible()
    share_path = page.locator("td a.mono").first.get_attribute("href")
    assert share_path and share_path.startswith("/s/")

    # A reader, in a browser of their own.
    reader = browser.new_context(viewport={"width": width, "height": 900})
    visitor = reader.new_page()
    visitor.goto(base + share_path)
    cite = visitor.locator("#cite")
    expect(cite.get_by_role("heading", name="Cite this")).to_be_visible()
    apa = cite.locator(".citation")
    expect(apa).to_contain_text("Carberry J., Lovelace A. (2024). Alpine lake temperatures 2020–2023 (version 2023.1).")
    cite.get_by_text("BibTeX").click()
    bibtex = cite.locator("details pre").first
    expect(bibtex).to_be_visible()
    expect(bibtex).to_contain_text("version = {2023.1}")
    expect(bibtex).to_contain_text("Lovelace, Ada")
    linked = visitor.locator('script[type="application/ld+json"]').text_content()
    assert linked
    dataset = json.loads(linked)
    assert dataset["@type"] == "Dataset" and dataset["name"] == METADATA["Title"]
    assert [person["name"] for person in dataset["creator"]] == ["Carberry, Josiah", "Lovelace, Ada"]
    assert dataset["creator"][0]["sameAs"] == "https://orcid.org/0000-0002-1825-0097"
    assert dataset["version"] == "2023.1" and dataset["license"] == "https://spdx.org/licenses/CC-BY-4.0.html"
    curator.close()
    reader.close()
