"""The source form's "Test connection" in chromium: the fields keep what was typed, the failed part is named."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from sources.models import Source
from tests.browser_support import WIDTHS, browser, context_for, scrolls_sideways, watch_console
from tests.conftest import S3Server

__all__ = ["browser"]

pytestmark = [pytest.mark.system, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", WIDTHS)
def test_it_tests_a_connection_without_leaving_the_form(
    browser: Browser, live_server: Any, owner: Any, seaweed: S3Server, s3_bucket: str, width: int
) -> None:
    context = context_for(browser, live_server, width, owner)
    page = context.new_page()
    problems = watch_console(page)
    page.goto(f"{live_server.url}/sources/add/")
    page.get_by_label("Name").fill("lake")
    page.get_by_label("Kind").select_option("s3")
    page.get_by_label("Bucket or container").fill(s3_bucket)
    page.get_by_label("Endpoint or account URL").fill(seaweed.endpoint_url)
    page.get_by_label("Region").fill(seaweed.region)
    page.get_by_label("Access key id").fill(seaweed.access_key_id)
    page.get_by_label("Secret access key").fill("not-the-secret")
    url = page.url

    page.get_by_role("button", name="Test connection only").click()
    expect(page.locator("#connection-result")).to_contain_text("Failed at: Credentials")
    assert page.url == url
    # Nothing was re-rendered: every typed value is still in its field, secrets included.
    expect(page.get_by_label("Secret access key")).to_have_value("not-the-secret")
    expect(page.get_by_label("Access key id")).to_have_value(seaweed.access_key_id)
    expect(page.get_by_label("Bucket or container")).to_have_value(s3_bucket)

    page.get_by_label("Bucket or container").fill("no-such-bucket")
    page.get_by_label("Secret access key").fill(seaweed.secret_access_key)
    page.get_by_role("button", name="Test connection only").click()
    expect(page.locator("#connection-result")).to_contain_text("Failed at: Bucket or container")

    page.get_by_label("Bucket or container").fill(s3_bucket)
    page.get_by_role("button", name="Test connection only").click()
    expect(page.locator("#connection-result")).to_contain_text("Connection test passed")
    assert not Source.objects.exists()
    assert not scrolls_sideways(page)

    page.get_by_role("button", name="Test and connect").click()
    expect(page.get_by_text("Its listing is being indexed")).to_be_visible()
    assert Source.objects.get().credentials["secret_access_key"] == seaweed.secret_access_key
    assert problems == []
    context.close()
