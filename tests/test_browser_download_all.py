"""Download all from a browser, with the bytes straight from S3: a password share, and CORS.

Storage is SeaweedFS behind the strict proxy (tests/s3_servers.py) on another origin than
packager (`localhost:<port>` against `127.0.0.1:<port>`), so every file is a cross-origin
read that the bucket's CORS rules must allow. SeaweedFS answers every origin by default
(its `-s3.allowedOrigins` is `*`), which AWS never does: tests/servers.py starts it with an
allowed origin that no page has, so a bucket without a CORS rule refuses this site as an S3
bucket does (no CORS headers, preflight 403), and a rule set with PutBucketCors is applied by
SeaweedFS itself, origin by origin. The proxy adds no CORS header of its own and refuses a
presigned URL that comes with an `Authorization` header, as AWS does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from packager import services as packages
from packager.models import Package
from shares import services as shares
from shares.models import Share
from tests.browser_support import WIDTHS, browser, context_for, scrolls_sideways, watch_console
from tests.factories import make_source, publish
from tests.s3_servers import SeaweedS3
from tests.test_browser_pages import axe_violations

__all__ = ["browser"]

pytestmark = [pytest.mark.system, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = 'otter "pond" \\ 7'  # a quote, a backslash and spaces: the script must carry them intact
OBJECTS = {
    "survey/stations.csv": b"station,lat,lon\nnorth,46.1,7.2\nsouth,45.9,7.3\n",
    "survey/hourly/2024-07.csv": b"time,temperature\n"
    + b"".join(b"%d,%0.2f\n" % (h, 18 + h / 100) for h in range(744)),
    "survey/hourly/2024-08.csv": b"time,temperature\n" + b"".join(b"%d,%0.2f\n" % (h, 19 + h / 97) for h in range(744)),
    "survey/raw/sensor dump.bin": os.urandom(700_000),
    "survey/raw/empty.bin": b"",
    "survey/notes/field notes.txt": "Ice on the north shore · 3 °C\n".encode(),
}

READ_FOLDER = """async () => {
    const found = {};
    async function walk(folder, prefix) {
        for await (const [name, handle] of folder.entries()) {
            if (handle.kind === "directory") await walk(handle, prefix + name + "/");
            else {
                const bytes = await (await handle.getFile()).arrayBuffer();
                const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
                found[prefix + name] = [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
            }
        }
    }
    await walk(await navigator.storage.getDirectory(), "");
    return found;
}"""


@dataclass
class Shared:
    package: Package
    share: Share
    bucket: str


def share_of_bucket(owner: Any, seaweed: SeaweedS3, bucket: str, *, password: str = "") -> Shared:
    client = seaweed.client()
    for key, body in OBJECTS.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    source = make_source(owner, seaweed.source_fields(bucket))
    package = packages.package_create(owner=owner, name="Lake survey")
    packages.package_add_objects(package=package, source=source, paths=["survey/"])
    packages.package_write_text(package=package, path="README.md", content="# Lake survey\n")
    publish(package)
    return Shared(package, shares.share_create(package=package, created_by=owner, password=password), bucket)


def allow_origin(seaweed: SeaweedS3, bucket: str, origin: str) -> None:
    """The rule the README gives, for packager's origin only."""
    seaweed.client().put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [origin],
                    "AllowedMethods": ["GET", "HEAD"],
                    "AllowedHeaders": ["Range"],
                    "ExposeHeaders": ["ETag", "Content-Length", "Content-Range"],
                    "MaxAgeSeconds": 3600,
                }
            ]
        },
    )


def manifest(live_server: Any, share: Share, password: str = "") -> list[dict[str, Any]]:
    request = urllib.request.Request(f"{live_server.url}/s/{share.token}/manifest.jsonl")
    if password:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"share:{password}".encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return [json.loads(line) for line in response.read().decode().splitlines()]


def pick_private_folder(page: Page) -> None:
    # The picker needs a person; the origin's private folder stands in for the folder picked.
    page.add_init_script("window.showDirectoryPicker = () => navigator.storage.getDirectory();")


def storage_reads(page: Page, seaweed: SeaweedS3) -> list[str]:
    """The storage URLs the page read a body from (200 straight from storage)."""
    seen: list[str] = []
    page.on(
        "response",
        lambda response: (
            seen.append(response.url)
            if response.url.startswith(seaweed.endpoint_url) and response.status == 200
            else None
        ),
    )
    return seen


def storage_key(url: str, seaweed: SeaweedS3, bucket: str) -> str:
    """The object key a signed storage URL names (path-style addressing)."""
    return unquote(url.split("?")[0].removeprefix(f"{seaweed.endpoint_url}/{bucket}/"))


def run_script(
    script: Path, folder: Path, *, stdin: str = "", log: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The saved bash script, run for real with the system's curl (through a wrapper that
    notes every command line when `log` is given)."""
    environment = {key: value for key, value in os.environ.items() if key != "SHARE_PASSWORD"}
    if log is not None:
        wrapper = folder / "bin" / "curl"
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec /usr/bin/curl "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
        environment["PATH"] = f"{wrapper.parent}:{environment['PATH']}"
    return subprocess.run(
        ["bash", str(script)], cwd=folder, input=stdin, env=environment, capture_output=True, text=True, timeout=60
    )


def digests_under(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.fixture
def cors_bucket(seaweed: SeaweedS3, s3_bucket: str, live_server: Any) -> Iterator[str]:
    allow_origin(seaweed, s3_bucket, live_server.url)
    yield s3_bucket


@pytest.mark.parametrize("width", WIDTHS)
def test_a_collaborator_unlocks_a_password_share_and_downloads_every_file_from_storage(
    browser: Browser, live_server: Any, owner: Any, seaweed: SeaweedS3, cors_bucket: str, width: int, tmp_path: Path
) -> None:
    shared = share_of_bucket(owner, seaweed, cors_bucket, password=PASSWORD)
    token = shared.share.token
    expected = {line["path"]: line["sha256"] for line in manifest(live_server, shared.share, PASSWORD)}
    data_files = {line["path"] for line in manifest(live_server, shared.share, PASSWORD) if line["kind"] == "file"}
    assert len(data_files) == len(OBJECTS) and "README.md" in expected
    assert seaweed.proxy is not None
    refused_before = seaweed.proxy.refused

    context = context_for(browser, live_server, width, accept_downloads=True)
    page = context.new_page()
    problems = watch_console(page)
    pick_private_folder(page)
    read = storage_reads(page, seaweed)
    page.goto(f"{live_server.url}/s/{token}/")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Unlock").click()
    page.get_by_role("button", name="Download all into a folder…").click()
    status = page.locator("[data-download-status]")
    expect(status).to_contain_text("Done: every file is in the folder", timeout=30_000)
    assert page.evaluate(READ_FOLDER) == expected
    # Every data file's bytes came from storage itself (packager only redirected), with no
    # Authorization header: the proxy would have refused it as S3 does.
    assert len(read) == len(data_files)
    assert {storage_key(url, seaweed, cors_bucket) for url in read} == set(OBJECTS)
    assert seaweed.proxy.refused == refused_before
    expect(page.locator("[data-download-refused]")).to_be_hidden()

    # The script: it holds no password and no key link, asks for the password when it runs.
    expect(page.locator("#download-all")).to_contain_text("The scripts hold no password")
    with page.expect_download() as saved:
        page.get_by_role("button", name="Script for Linux and macOS (bash + curl)").click()
    script = tmp_path / saved.value.suggested_filename
    saved.value.save_as(script)
    text = script.read_text()
    assert "otter" not in text and f"/k/{shared.share.link_key}" not in text and "Authorization" not in text
    assert "read -rsp" in text

    wrong = run_script(script, tmp_path, stdin="not the password\n")
    assert wrong.returncode == 1 and "refused that password" in wrong.stderr
    assert not (tmp_path / shared.package.slug).exists()

    log = tmp_path / "curl.log"
    done = run_script(script, tmp_path, stdin=PASSWORD + "\n", log=log)
    assert done.returncode == 0, done.stderr
    assert f"Done: {len(expected)} files" in done.stdout
    assert digests_under(tmp_path / shared.package.slug) == expected
    assert seaweed.proxy.refused == refused_before
    # The password was on no command line and in no URL; every file went through the key link.
    calls = log.read_text().splitlines()
    assert calls and not any("otter" in call or "pond" in call for call in calls)
    assert sum(f"/s/{token}/k/{shared.share.link_key}/r/" in call for call in calls) == len(expected)
    assert not any("--location-trusted" in call or " -u " in call for call in calls)
    # Run again: everything is there, so only the key is asked for.
    log.unlink()
    assert run_script(script, tmp_path, stdin=PASSWORD + "\n", log=log).returncode == 0
    assert len(log.read_text().splitlines()) == 1

    with page.expect_download() as saved_ps:
        page.get_by_role("button", name="Script for Windows (PowerShell)").click()
    powershell = Path(saved_ps.value.path()).read_text()
    assert "Read-Host 'Password of this share' -AsSecureString" in powershell and "otter" not in powershell
    assert not scrolls_sideways(page)
    assert problems == []
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_download_all_from_s3_with_a_cors_rule_resumes_after_the_tab_is_closed_midway(
    browser: Browser, live_server: Any, owner: Any, seaweed: SeaweedS3, cors_bucket: str, width: int
) -> None:
    shared = share_of_bucket(owner, seaweed, cors_bucket)
    token = shared.share.token
    lines = manifest(live_server, shared.share)
    expected = {line["path"]: line["sha256"] for line in lines}
    context = context_for(browser, live_server, width)
    page = context.new_page()
    problems = watch_console(page)
    pick_private_folder(page)
    page.goto(f"{live_server.url}/s/{token}/")

    # The first run: three files come through, the fourth is held in flight, then the tab
    # is reloaded (as when a person closes it) in the middle of that download.
    resolved: list[str] = []
    held: list[Route] = []

    def through(route: Route) -> None:
        resolved.append(route.request.url)
        if len(resolved) <= 3:
            route.continue_()
        else:
            held.append(route)

    page.route(f"**/s/{token}/r/**", through)
    page.get_by_role("button", name="Download all into a folder…").click()
    page.wait_for_function("() => document.querySelector('[data-download-status]').textContent.startsWith('3 of')")
    page.wait_for_timeout(200)
    assert len(held) == 1
    page.reload()  # the held request dies with the page that made it
    page.unroute_all(behavior="ignoreErrors")
    first = page.evaluate(READ_FOLDER)
    assert len(first) == 3 and all(expected[path] == digest for path, digest in first.items())  # no partial file

    # The second run skips the three complete files and fetches the others from storage.
    read = storage_reads(page, seaweed)
    page.get_by_role("button", name="Download all into a folder…").click()
    status = page.locator("[data-download-status]")
    expect(status).to_contain_text("Done: every file is in the folder", timeout=30_000)
    expect(status).to_contain_text("3 already there")
    assert page.evaluate(READ_FOLDER) == expected
    data_left = [line["path"] for line in lines if line["kind"] == "file" and line["path"] not in first]
    assert sorted(storage_key(url, seaweed, cors_bucket) for url in read) == sorted(data_left)
    assert not scrolls_sideways(page)
    assert problems == []
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_without_a_cors_rule_the_page_says_what_is_wrong_and_the_script_still_works(
    browser: Browser,
    live_server: Any,
    owner: Any,
    seaweed: SeaweedS3,
    s3_bucket: str,
    width: int,
    tmp_path: Path,
    settings: Any,
) -> None:
    settings.DOCS_URL = "https://docs.example.org/packager/README.md"
    shared = share_of_bucket(owner, seaweed, s3_bucket)
    expected = {line["path"]: line["sha256"] for line in manifest(live_server, shared.share)}
    context = context_for(browser, live_server, width, accept_downloads=True)
    page = context.new_page()
    problems = watch_console(page)
    pick_private_folder(page)
    page.goto(f"{live_server.url}/s/{shared.share.token}/")
    page.get_by_role("button", name="Download all into a folder…").click()

    refused = page.get_by_role("alert")
    expect(refused).to_contain_text("The storage service does not let this site download into a folder")
    expect(refused).to_contain_text(f"no CORS rule allowing {live_server.url}")
    link = refused.get_by_role("link", name="Allowing browser downloads (CORS)")
    expect(link).to_have_attribute("href", f"{settings.DOCS_URL}#allowing-browser-downloads-cors")
    expect(page.locator("[data-download-status]")).to_contain_text("Stopped: the storage service does not allow")
    # It stopped at the first refused file (the README, served by packager, may be there).
    assert set(page.evaluate(READ_FOLDER)) <= {"README.md"}
    assert axe_violations(page) == []  # the message as shown passes axe too
    # The browser's own report of the refusal is all the console holds: no script error.
    assert problems and all("CORS" in problem or "net::ERR_FAILED" in problem for problem in problems), problems

    with page.expect_download() as saved:
        page.get_by_role("button", name="Script for Linux and macOS (bash + curl)").click()
    script = tmp_path / saved.value.suggested_filename
    saved.value.save_as(script)
    done = run_script(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert digests_under(tmp_path / shared.package.slug) == expected
    assert not scrolls_sideways(page)
    context.close()
