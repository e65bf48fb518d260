"""Every page as curators and collaborators see it, in chromium at desktop and phone width.

Each page: no sideways scrolling, no serious or critical axe-core violation, no script or
Content-Security-Policy error; and what each page promises (unpublished changes, drift
marks, times in the viewer's zone, the file tree by keyboard).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from packager import services as packages
from packager.models import PackageVersion, VersionEntry
from shares.demo import Demo
from tests.browser_support import WIDTHS, axe_violations, browser, context_for, demo, scrolls_sideways, watch_console

__all__ = ["browser", "demo"]

pytestmark = [pytest.mark.system, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def check_page(page: Page, url: str, problems: list[str], report: list[str]) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    if scrolls_sideways(page):
        wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                 .filter((element) => element.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                   && !element.closest('.table-wrap, pre, .nb-html'))
                 .slice(0, 5).map((element) => element.tagName + '.' + element.className)"""
        )
        report.append(f"{url}: scrolls sideways ({wide})")
    report.extend(f"{url}: {violation}" for violation in axe_violations(page))
    report.extend(f"{url}: {problem}" for problem in problems)
    problems.clear()


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_width_and_passes_axe(browser: Browser, live_server: Any, demo: Demo, width: int) -> None:
    base = live_server.url
    package, share = demo.package, demo.share
    version = package.latest_version
    assert version is not None
    owner = package.owner
    report: list[str] = []

    anonymous = context_for(browser, live_server, width)
    page = anonymous.new_page()
    problems = watch_console(page)
    check_page(page, f"{base}/login/", problems, report)
    anonymous.close()

    curator = context_for(browser, live_server, width, owner, timezone_id="Europe/Berlin")
    page = curator.new_page()
    problems = watch_console(page)
    check_page(page, f"{base}/packages/", problems, report)
    check_page(page, f"{base}/sources/", problems, report)
    check_page(page, f"{base}/sources/{demo.source.public_id}/browse/", problems, report)
    check_page(page, f"{base}/sources/{demo.source.public_id}/browse/measurements/", problems, report)
    check_page(page, f"{base}/sources/add/", problems, report)
    # A notebook kept in the bucket, rendered as Jupyter shows it (not hex).
    check_page(page, f"{base}/sources/{demo.source.public_id}/object/notebooks/overview.ipynb", problems, report)
    expect(page.locator(".preview .notebook h1")).to_have_text("Overview")

    # Published and untouched: the page says there is nothing to publish, before anyone tries.
    check_page(page, f"{base}/packages/{package.public_id}/", problems, report)
    expect(page.locator("#unpublished")).to_contain_text("No unpublished changes")
    expect(page.locator("#publish-form")).to_contain_text("Nothing to publish")
    expect(page.get_by_role("button", name="Publish a new version")).to_have_count(0)

    packages.package_write_text(package=package, path="notes.md", content="# Notes\n")
    check_page(page, f"{base}/packages/{package.public_id}/", problems, report)
    expect(page.locator("#unpublished")).to_contain_text("1 unpublished change")
    expect(page.locator("#unpublished")).to_contain_text("notes.md")
    expect(page.get_by_role("button", name="Publish a new version")).to_be_visible()

    # A file found gone by the scheduled verify: marked for the curator and the collaborator.
    entry = version.entries.filter(kind="pointer").first()
    assert entry is not None
    VersionEntry.objects.filter(pk=entry.pk).update(drift=VersionEntry.Drift.MISSING)
    PackageVersion.objects.filter(pk=version.pk).update(drift_checked_at=timezone.now(), drift_missing=[entry.path])
    check_page(page, f"{base}/packages/{package.public_id}/versions/{version.number}/", problems, report)
    expect(page.locator("#drift")).to_contain_text("1 missing, 0 changed")
    expect(page.locator("#drift time")).to_contain_text("Europe/Berlin")
    check_page(page, f"{base}/packages/{package.public_id}/versions/", problems, report)
    check_page(page, f"{base}/packages/{package.public_id}/shares/", problems, report)
    check_page(page, f"{base}/shares/{share.token}/log/", problems, report)
    expect(page.locator(".counts-written")).to_contain_text("Counts")
    curator.close()

    collaborator = context_for(browser, live_server, width, timezone_id="America/New_York")
    page = collaborator.new_page()
    problems = watch_console(page)
    check_page(page, f"{base}/s/{share.token}/", problems, report)
    expect(page.locator("#drift-status")).to_contain_text("1 missing, 0 changed")
    expect(page.locator("#drift-status time")).to_contain_text("America/New_York")
    folder = entry.path.split("/")[0]
    check_page(page, f"{base}/s/{share.token}/?path={folder}/", problems, report)
    # The file tree by keyboard: Tab reaches the folders' links and Enter opens one.
    page.goto(f"{base}/s/{share.token}/")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.textContent.trim()") == folder:
            break
    else:
        report.append(f"the folder link “{folder}” is not reachable by Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/s/{share.token}/?path={folder}/**")
    with page.expect_response(lambda response: "/r/" in response.url) as clicked:
        page.goto(f"{base}/s/{share.token}/r/{entry.path}")
    assert clicked.value.status == 409
    expect(page.get_by_role("heading", name="This file is not available")).to_be_visible()
    report.extend(axe_violations(page))
    collaborator.close()

    assert report == [], "\n".join(report)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_csv_preview_lets_the_viewer_say_whether_the_first_row_names_the_columns(
    browser: Browser, live_server: Any, demo: Demo, width: int
) -> None:
    context = context_for(browser, live_server, width, demo.package.owner)
    page = context.new_page()
    problems = watch_console(page)
    page.goto(f"{live_server.url}/sources/{demo.source.public_id}/object/measurements/2024-summer.csv")
    table = page.locator("table[data-header-table]")
    first_name = table.locator("thead th").first.text_content()
    assert first_name and first_name == first_name.strip() and not first_name.isupper()  # as written
    expect(table.locator("thead th").first).to_have_css("text-transform", "none")
    page.get_by_role("button", name="The first row is data, not names").click()
    expect(table.locator("thead")).to_have_count(0)
    expect(table.locator("tbody tr").first.locator("td").first).to_have_text(first_name)
    page.get_by_role("button", name="The first row names the columns").click()
    expect(table.locator("thead th").first).to_have_text(first_name)
    assert not scrolls_sideways(page)
    assert problems == []
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_collaborator_downloads_every_file_from_the_browser(
    browser: Browser, live_server: Any, demo: Demo, width: int, tmp_path: Path
) -> None:
    context = context_for(browser, live_server, width, accept_downloads=True)
    page = context.new_page()
    problems = watch_console(page)
    # The picker needs a person; the origin's private folder stands in for the folder picked.
    page.add_init_script("window.showDirectoryPicker = () => navigator.storage.getDirectory();")
    page.goto(f"{live_server.url}/s/{demo.share.token}/")
    version = demo.package.latest_version
    assert version is not None
    expected = {entry.path: entry.size for entry in version.entries.all()}

    page.get_by_role("button", name="Download all into a folder…").click()
    status = page.locator("[data-download-status]")
    expect(status).to_contain_text("Done: every file is in the folder", timeout=20_000)
    written = page.evaluate(
        """async () => {
            const found = {};
            async function walk(folder, prefix) {
                for await (const [name, handle] of folder.entries()) {
                    if (handle.kind === "directory") await walk(handle, prefix + name + "/");
                    else found[prefix + name] = (await handle.getFile()).size;
                }
            }
            await walk(await navigator.storage.getDirectory(), "");
            return found;
        }"""
    )
    assert written == expected
    # Again: everything is there at its full size, so nothing is fetched.
    page.get_by_role("button", name="Download all into a folder…").click()
    expect(status).to_contain_text(f"{len(expected)} already there", timeout=20_000)

    # The script for a system without the picker: bash with curl, run here for real.
    with page.expect_download() as saved:
        page.get_by_role("button", name="Script for Linux and macOS (bash + curl)").click()
    script = tmp_path / saved.value.suggested_filename
    saved.value.save_as(script)
    subprocess.run(["bash", str(script)], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    folder = tmp_path / demo.package.slug
    assert {
        str(path.relative_to(folder)): path.stat().st_size for path in folder.rglob("*") if path.is_file()
    } == expected
    with page.expect_download() as saved_ps:
        page.get_by_role("button", name="Script for Windows (PowerShell)").click()
    assert saved_ps.value.suggested_filename.endswith(".ps1")
    assert not scrolls_sideways(page)
    assert problems == []
    context.close()


def test_the_readme_screenshots_show_the_current_pages(
    browser: Browser, live_server: Any, demo: Demo, output_dir: Path
) -> None:
    """Writes test-output/*.png; `cp test-output/{share-page,package-page,share-page-phone}.png docs/` refreshes
    the README's pictures."""
    package = demo.package
    packages.package_write_text(package=package, path="notes.md", content="# Field notes\n")
    desktop = context_for(browser, live_server, 1280, package.owner)
    page = desktop.new_page()
    page.goto(f"{live_server.url}/packages/{package.public_id}/")
    expect(page.locator("#unpublished")).to_contain_text("1 unpublished change")
    page.screenshot(path=str(output_dir / "package-page.png"), full_page=True)
    desktop.close()
    for width, name in ((1280, "share-page.png"), (390, "share-page-phone.png")):
        context = context_for(browser, live_server, width)
        page = context.new_page()
        page.goto(f"{live_server.url}/s/{demo.share.token}/")
        expect(page.locator("#download-all")).to_be_visible()
        page.screenshot(path=str(output_dir / name), full_page=True)
        context.close()
    assert all((output_dir / name).stat().st_size > 10_000 for name in ("package-page.png", "share-page.png"))


@pytest.mark.parametrize("width", WIDTHS)
def test_publishing_shows_its_progress_and_ends_with_its_outcome(
    browser: Browser, live_server: Any, demo: Demo, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from packager import tasks
    from packager.checksumming import version_publish_run

    monkeypatch.setattr(tasks.publish_version, "apply_async", lambda *args, **options: None)  # the test is the worker
    package = demo.package
    packages.package_write_text(package=package, path="docs/notes.md", content="![map](../data/2024-summer.csv)\n")
    context = context_for(browser, live_server, width, package.owner)
    page = context.new_page()
    problems = watch_console(page)
    page.goto(f"{live_server.url}/packages/{package.public_id}/")
    expect(page.locator("#unpublished")).to_contain_text("1 unpublished change")
    page.get_by_role("button", name="Publish a new version").click()
    status = page.locator("#version-2-status")
    expect(status).to_contain_text("checksumming")
    expect(status).to_contain_text("pinning every file to its current version in storage")
    version = package.versions.get(number=2)
    version_publish_run(version_pk=version.pk)
    # No reload: the status polls itself and ends with the outcome, never a stuck banner.
    expect(status).to_contain_text("published", timeout=10_000)
    expect(status.locator(".badge")).to_have_text("published")
    page.goto(f"{live_server.url}/packages/{package.public_id}/")
    expect(page.locator("#unpublished")).to_contain_text("No unpublished changes")
    expect(page.locator("#publish-form")).to_contain_text("Nothing to publish")
    # The draft text's relative image leads to the draft's own file route.
    page.goto(f"{live_server.url}/packages/{package.public_id}/view/docs/notes.md")
    expect(page.locator("img[alt=map]")).to_have_attribute(
        "src", f"/packages/{package.public_id}/file/data/2024-summer.csv"
    )
    assert not scrolls_sideways(page)
    assert problems == []
    context.close()
