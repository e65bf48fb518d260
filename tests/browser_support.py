"""What the page-by-page browser tests share: Debian's chromium, a signed-in context, the two widths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from shares.demo import Demo, seed_demo

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
#: a desktop and a phone
WIDTHS = [1280, 390]
AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("Debian's chromium is not installed: run `make install-test`.")
    # Playwright's sync API runs an event loop in this thread; the tests' own ORM calls are
    # plain synchronous code all the same. Allowed while the browser is open only: a process
    # started by a later test inherits no DJANGO_ALLOW_ASYNC_UNSAFE (its system checks refuse it).
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def context_for(browser: Browser, live_server: Any, width: int, user: Any = None, **options: Any) -> BrowserContext:
    """A browser context at `width` px, signed in as `user` (through a session cookie)."""
    context = browser.new_context(viewport={"width": width, "height": 900}, **options)
    if user is not None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    return context


def watch_console(page: Page) -> list[str]:
    """Content-Security-Policy refusals and script errors seen by the page."""
    problems: list[str] = []

    def seen(message: Any) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            problems.append(message.text)

    page.on("console", seen)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def scrolls_sideways(page: Page) -> bool:
    """True when the page is wider than the window (its tables may scroll inside themselves)."""
    return bool(page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth + 1"))


def axe_violations(page: Page) -> list[str]:
    """Serious and critical axe-core violations of the page as it is now."""
    # From this site's own origin: the Content-Security-Policy (script-src 'self') stays on
    # and is checked too; the route hands over node_modules' axe.min.js for that address.
    origin = "/".join(page.url.split("/")[:3])
    page.route(f"{origin}/__axe.min.js", lambda route: route.fulfill(path=str(AXE), content_type="text/javascript"))
    page.add_script_tag(url=f"{origin}/__axe.min.js")
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations
              .filter((violation) => ["serious", "critical"].includes(violation.impact))
              .map((violation) => violation.id + ": " + violation.nodes.map((node) => node.target.join(" ")).join(", "));
        }"""
    )
    return [str(item) for item in found]


@pytest.fixture
def demo(settings: Any, tmp_path: Path) -> Demo:
    settings.VAR_DIR = tmp_path
    seeded = seed_demo()
    seeded.package.refresh_from_db()
    assert seeded.package.latest_version is not None
    return seeded
