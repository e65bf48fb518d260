"""The owner's access log of a share, after scripted visits, downloads and wrong passwords."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from packager import services as packages
from shares import access_log, services
from shares.access_report import CHART_DAYS
from shares.models import Share, ShareRepository
from tests.factories import make_local_source, publish, write_files

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def share(owner: Any, tmp_path: Path) -> Share:
    write_files(tmp_path / "data", {"a.csv": b"x,y\n1,2\n", "b.bin": b"\0" * 100, "=cmd.txt": b"text\n"})
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Logged")
    packages.package_add_objects(package=package, source=source, paths=["a.csv", "b.bin", "=cmd.txt"])
    publish(package)
    return services.share_create(package=package, created_by=owner, password="open sesame", label="field team")


def basic(password: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"x:{password}".encode()).decode()}


def scripted_downloads(client: Any, share: Share) -> None:
    """What a collaborator and a guesser do: wrong passwords, a view, lists, the ZIP, files."""
    page = reverse("share_page", args=[share.token])
    for address in ("127.0.0.7", "127.0.0.8"):
        assert client.post(page, {"password": "guess"}, REMOTE_ADDR=address).status_code == 403
    assert client.post(page, {"password": "open sesame"}).status_code == 302
    assert client.get(page).status_code == 200
    assert client.get(reverse("share_download_zip", args=[share.token])).status_code == 200
    assert client.get(reverse("share_urls", args=[share.token])).status_code == 200
    assert client.get(reverse("share_manifest", args=[share.token])).status_code == 200
    for path in ("a.csv", "a.csv", "a.csv", "b.bin", "=cmd.txt"):
        response = client.get(reverse("share_resolve", args=[share.token, path]), **basic("open sesame"))
        assert response.status_code == 307
    access_log.access_log_flush()  # what the web process counted in memory, written as it would be


def test_the_owner_sees_counts_files_days_and_failed_unlocks(
    client: Any, owner: Any, share: Share, django_assert_num_queries: Any
) -> None:
    scripted_downloads(client, share)
    client.force_login(owner)
    with django_assert_num_queries(7):  # session, user, share, then 4 aggregates: not one per event
        response = client.get(reverse("share_access_log", args=[share.token]))
    assert response.status_code == 200
    body = response.content.decode()
    totals = body.split('class="meta access-totals"')[1].split("</dl>")[0]
    assert "<dt>Views</dt><dd>1</dd>" in totals
    assert "<dt>ZIP downloads</dt><dd>1</dd>" in totals
    assert "<dd>1 urls.txt · 1 manifest.jsonl" in totals
    assert "<dt>Files fetched</dt><dd>5</dd>" in totals
    assert "<dt>Failed unlocks</dt><dd>2</dd>" in totals
    files = body.split("Files fetched, by file")[1].split("</table>")[0]
    assert files.index("a.csv") < files.index("b.bin")
    assert '<td class="mono name">a.csv</td><td class="num">3</td>' in files
    assert "127.0.0.7" in body and "127.0.0.8" in body
    chart = body.split('<svg class="chart"')[1].split("</svg>")[0]
    assert chart.count("<rect") == CHART_DAYS
    assert ": 5 files fetched</title>" in chart
    assert "<script" not in chart and "style=" not in chart
    shares_page = client.get(reverse("package_shares", args=[share.package.public_id])).content.decode()
    share.refresh_from_db()
    assert share.last_accessed_at is not None
    assert f'<span title="{share.last_accessed_at:%Y-%m-%d %H:%M} UTC">' in shares_page  # when it was last used
    assert reverse("share_access_log", args=[share.token]) in shares_page
    # The counts say when they were written (batched: they may lag).
    assert share.counts_written_at is not None
    written = f'<time datetime="{share.counts_written_at.astimezone(dt.UTC).isoformat()}" data-local-time>'
    assert "as last written " + written in body
    assert "counted in batches" in shares_page


def test_the_log_exports_as_csv(client: Any, owner: Any, share: Share, django_assert_num_queries: Any) -> None:
    scripted_downloads(client, share)
    client.force_login(owner)
    with django_assert_num_queries(6):  # session, user, share, daily counts, files, failed unlocks
        response = client.get(reverse("share_access_log_csv", args=[share.token]))
        content = b"".join(response.streaming_content).decode()
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(content)))
    daily = {row["kind"]: int(row["count"]) for row in rows if row["record"] == "daily"}
    assert daily == {"view": 1, "zip": 1, "urls": 1, "manifest": 1, "resolve": 5, "unlock_failed": 2}
    files = {row["path"]: int(row["count"]) for row in rows if row["record"] == "file"}
    assert files == {"a.csv": 3, "b.bin": 1, "'=cmd.txt": 1}  # no formula for spreadsheets
    unlocks = sorted(row["address"] for row in rows if row["record"] == "failed_unlock")
    assert unlocks == ["127.0.0.7", "127.0.0.8"]


def test_only_the_owner_reads_the_log(client: Any, outsider: Any, share: Share) -> None:
    for name in ("share_access_log", "share_access_log_csv"):
        url = reverse(name, args=[share.token])
        assert client.get(url).status_code == 302  # anonymous: to the login page
        client.force_login(outsider)
        assert client.get(url).status_code == 404
        assert client.post(url).status_code in {404, 405}
        client.logout()


def test_a_share_never_used_says_so(client: Any, owner: Any, share: Share) -> None:
    client.force_login(owner)
    body = client.get(reverse("share_access_log", args=[share.token])).content.decode()
    assert "Never used yet." in body and "No file fetched yet." in body and "No wrong password given." in body
    assert "never" in client.get(reverse("package_shares", args=[share.package.public_id])).content.decode()


def test_text_files_datapackage_and_clones_are_counted_by_kind(client: Any, owner: Any, tmp_path: Path) -> None:
    write_files(tmp_path / "data", {"a.csv": b"x,y\n1,2\n"})
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Counted")
    packages.package_add_objects(package=package, source=source, paths=["a.csv"])
    packages.package_write_text(package=package, path="README.md", content="# Counted\n")
    publish(package)
    share = services.share_create(package=package, created_by=owner)
    assert client.get(reverse("share_resolve", args=[share.token, "README.md"])).status_code == 200
    assert client.head(reverse("share_resolve", args=[share.token, "README.md"])).status_code == 200  # not counted
    assert client.get(reverse("share_datapackage", args=[share.token])).status_code == 200
    for kind in ("annex", "dvc"):
        refs = reverse(f"share_{kind}_repository", kwargs={"token": share.token, "name": "info/refs"})
        assert client.get(refs).status_code == 503  # still being built: not a clone
        repository = ShareRepository.objects.get(share=share, kind=kind)
        services.share_repository_build(repository_pk=repository.pk)
        assert client.get(refs).status_code == 200
        head = reverse(f"share_{kind}_repository", kwargs={"token": share.token, "name": "HEAD"})
        assert client.get(head).status_code == 200  # the same clone's next request
    access_log.access_log_flush()
    client.force_login(owner)
    body = client.get(reverse("share_access_log", args=[share.token])).content.decode()
    totals = body.split('class="meta access-totals"')[1].split("</dl>")[0]
    assert "<dt>Text files fetched</dt><dd>1</dd>" in totals
    assert "<dt>datapackage.json</dt><dd>1</dd>" in totals
    assert "<dd>1 git-annex · 1 DVC</dd>" in totals
    rows = list(
        csv.DictReader(
            io.StringIO(
                b"".join(client.get(reverse("share_access_log_csv", args=[share.token])).streaming_content).decode()
            )
        )
    )
    daily = {row["kind"]: int(row["count"]) for row in rows if row["record"] == "daily"}
    assert daily == {"text": 1, "datapackage": 1, "annex_clone": 1, "dvc_clone": 1}
    assert {row["path"] for row in rows if row["record"] == "file"} == {"README.md"}
