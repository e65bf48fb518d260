"""Confirmation dialogs, by keyboard only, in chromium at desktop and phone width.

Forms that cannot be undone (revoke a share, remove a folder…) ask in a modal <dialog>
from app.js, never the browser's own confirm(): Cancel has the focus, Tab stays inside,
Escape cancels, focus goes back to the button that asked, and confirming submits the form.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from packager.models import PackageEntry
from shares.demo import Demo
from shares.models import Share
from tests.browser_support import WIDTHS, axe_violations, browser, context_for, demo, scrolls_sideways, watch_console

__all__ = ["browser", "demo"]

pytestmark = [pytest.mark.system, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def focused(page: Page) -> dict[str, Any]:
    """What has the keyboard focus: its tag, text, and the action of its form."""
    return dict(
        page.evaluate(
            """() => {
                const element = document.activeElement;
                return {
                    tag: element ? element.tagName : "",
                    text: element ? element.textContent.trim() : "",
                    action: element && element.form ? element.form.getAttribute("action") : "",
                    inDialog: !!(element && element.closest("dialog[open]")),
                };
            }"""
        )
    )


def tab_to(page: Page, *, text: str, action: str) -> None:
    """Press Tab until the button named `text` of the form posting to `action` has the focus."""
    for _ in range(120):
        page.keyboard.press("Tab")
        now = focused(page)
        if now["tag"] == "BUTTON" and now["text"] == text and now["action"] == action:
            return
    raise AssertionError(f"the {text!r} button of {action} is not reachable by Tab")


def check_dialog_by_keyboard(page: Page, *, title: str, confirm: str, report: list[str]) -> None:
    """The dialog is open: named, Cancel focused, Tab and Shift+Tab go round inside it, no axe violation."""
    dialog = page.get_by_role("dialog", name=title)
    expect(dialog).to_be_visible()
    expect(dialog).to_have_attribute("open", "")
    assert focused(page)["text"] == "Cancel" and focused(page)["inDialog"]
    seen = []
    for _ in range(4):
        page.keyboard.press("Tab")
        seen.append(focused(page))
    assert [item["text"] for item in seen] == [confirm, "Cancel", confirm, "Cancel"]
    assert all(item["inDialog"] for item in seen)
    page.keyboard.press("Shift+Tab")
    assert focused(page)["text"] == confirm and focused(page)["inDialog"]
    page.keyboard.press("Shift+Tab")
    assert focused(page)["text"] == "Cancel"
    report.extend(f"{title}: {violation}" for violation in axe_violations(page))
    box = dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]  # type: ignore[index]


@pytest.mark.parametrize("width", WIDTHS)
def test_a_curator_revokes_a_share_and_removes_a_folder_by_keyboard(
    browser: Browser, live_server: Any, demo: Demo, width: int
) -> None:
    package, share = demo.package, demo.share
    context = context_for(browser, live_server, width, package.owner)
    page = context.new_page()
    problems = watch_console(page)
    native_dialogs: list[str] = []
    page.on("dialog", lambda dialog: (native_dialogs.append(dialog.message), dialog.dismiss()))
    report: list[str] = []

    page.goto(f"{live_server.url}/packages/{package.public_id}/shares/")
    revoke = page.locator("form[data-confirm-action='Revoke share']").first.get_attribute("action") or ""
    assert share.token in revoke
    tab_to(page, text="Revoke", action=revoke)
    page.keyboard.press("Enter")
    check_dialog_by_keyboard(page, title="Revoke this share link?", confirm="Revoke share", report=report)
    expect(page.get_by_role("dialog")).to_contain_text("Anyone using this link will be refused")

    # Escape cancels: nothing is sent, and the focus is back on the Revoke button.
    page.keyboard.press("Escape")
    expect(page.locator("dialog[open]")).to_have_count(0)
    assert focused(page)["text"] == "Revoke" and focused(page)["action"] == revoke
    share.refresh_from_db()
    assert share.is_active
    expect(page.locator(f"form[action='{revoke}']")).to_have_count(1)

    # Cancel (Enter on it) cancels as well.
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Revoke this share link?")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("dialog[open]")).to_have_count(0)
    assert focused(page)["action"] == revoke
    share.refresh_from_db()
    assert share.is_active

    # Confirmed by keyboard: the form is posted (with its CSRF token) and the share revoked.
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Revoke this share link?")).to_be_visible()
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Revoke share"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_text("Share link revoked")).to_be_visible()
    share.refresh_from_db()
    assert not share.is_active and share.revoked_at is not None

    # Removing a folder from the draft: Escape keeps it, Space on the confirm button removes it.
    page.goto(f"{live_server.url}/packages/{package.public_id}/")
    remove = page.locator("form[data-confirm-action='Remove folder']").first.get_attribute("action") or ""
    folder = remove.rstrip("/").rsplit("/", 1)[-1]
    in_folder = PackageEntry.objects.filter(package=package, path__startswith=f"{folder}/")
    assert in_folder.exists()
    tab_to(page, text="Remove", action=remove)
    page.keyboard.press("Enter")
    check_dialog_by_keyboard(page, title="Remove this folder from the package?", confirm="Remove folder", report=report)
    page.keyboard.press("Escape")
    expect(page.locator("dialog[open]")).to_have_count(0)
    assert focused(page)["action"] == remove
    assert in_folder.exists()
    page.keyboard.press("Space")
    expect(page.get_by_role("dialog", name="Remove this folder from the package?")).to_be_visible()
    page.keyboard.press("Shift+Tab")
    assert focused(page)["text"] == "Remove folder"
    with page.expect_navigation():
        page.keyboard.press("Space")
    page.wait_for_load_state()
    assert not in_folder.exists()

    assert native_dialogs == [], "window.confirm (or another native dialog) was used"
    assert not scrolls_sideways(page)
    assert problems == []
    assert report == [], "\n".join(report)
    context.close()


def test_a_form_with_a_confirmation_still_submits_without_javascript(
    browser: Browser, live_server: Any, demo: Demo
) -> None:
    share = demo.share
    context = context_for(browser, live_server, 1280, demo.package.owner, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/packages/{demo.package.public_id}/shares/")
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Share link revoked")).to_be_visible()
    assert not Share.objects.get(pk=share.pk).is_active
    context.close()
