"""A collaborator opens CSV, Parquet and image previews from a password share, in chromium."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from packager import services as packages
from shares import services as shares
from tests import previews_data as data
from tests.conftest import S3Server
from tests.factories import make_source, publish
from tests.test_browser import browser  # noqa: F401  (the module's chromium fixture)

pytestmark = [pytest.mark.system, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_collaborator_previews_csv_parquet_and_an_image(
    browser: Browser,  # noqa: F811
    live_server: Any,
    owner: Any,
    seaweed: S3Server,
    s3_bucket: str,
    output_dir: Any,
) -> None:
    client = seaweed.client()
    client.put_object(Bucket=s3_bucket, Key="set/weather.csv", Body=data.CSV, ContentType="text/csv")
    client.put_object(Bucket=s3_bucket, Key="set/table.parquet", Body=data.parquet(row_groups=2))
    client.put_object(Bucket=s3_bucket, Key="set/dot.png", Body=data.png(40, 20), ContentType="image/png")
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    package = packages.package_create(owner=owner, name="Previews")
    packages.package_add_objects(package=package, source=source, paths=["set/"])
    publish(package)
    share = shares.share_create(package=package, created_by=owner, password="lake-2024")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{share.token}/")
    page.get_by_label("Password").fill("lake-2024")
    page.get_by_role("button", name="Unlock").click()
    page.get_by_role("link", name="set").click()

    page.get_by_role("link", name="weather.csv").click()
    preview = page.locator("section.preview")
    expect(preview.get_by_text("comma-separated · first line is the header")).to_be_visible()
    expect(preview.locator("th").nth(1)).to_have_text("temperature")
    expect(preview.locator("tbody tr")).to_have_count(100)
    page.go_back()

    page.get_by_role("link", name="table.parquet").click()
    expect(preview.get_by_text("80,000 rows in 2 row groups")).to_be_visible()
    expect(preview.locator("tbody tr").first.locator("td").nth(1)).to_have_text("row 0")
    page.go_back()

    page.get_by_role("link", name="dot.png").click()
    image = preview.locator("img.preview-image")
    expect(image).to_be_visible()
    # Loaded straight from the storage server by the browser, at its real size.
    page.wait_for_function("document.querySelector('img.preview-image').complete")
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [40, 20]
    assert (image.get_attribute("src") or "").startswith(seaweed.endpoint_url)
    page.screenshot(path=str(output_dir / "preview-image.png"), full_page=True)
    context.close()
