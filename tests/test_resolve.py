"""The resolver's hot path: a fixed number of queries, no writes, no session for open shares,
and an access log that counts without writing per request and loses nothing on a graceful
restart of the web server."""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from packager import services as packages
from packager.models import Package, VersionEntry
from shares import access_log, services
from shares.models import Share, ShareDailyCount, ShareEvent, ShareFileCount
from tests.conftest import AzureServer, S3Server
from tests.factories import make_local_source, make_source, publish, write_files
from tests.servers import GunicornServer, database_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

FILES = {"a.csv": b"a,b\n1,2\n", "b #1.bin": b"\x00" * 300, "c d+e ü.txt": b"hello"}


@pytest.fixture
def s3_package(owner: Any, seaweed: S3Server, s3_bucket: str) -> Package:
    client = seaweed.client()
    for key, content in FILES.items():
        client.put_object(Bucket=s3_bucket, Key=key, Body=content)
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    package = packages.package_create(owner=owner, name="hot")
    packages.package_add_objects(package=package, source=source, paths=list(FILES), target="data")
    packages.package_write_text(package=package, path="README.md", content="# Hot\n")
    publish(package)
    return package


@pytest.fixture
def azure_package(owner: Any, azurite: AzureServer, azure_container: str) -> Package:
    container = azurite.service().get_container_client(azure_container)
    container.upload_blob("blob one.bin", b"azure bytes")
    source = make_source(owner, azurite.source_fields(azure_container))
    package = packages.package_create(owner=owner, name="hot azure")
    packages.package_add_objects(package=package, source=source, paths=["blob one.bin"])
    publish(package)
    return package


def resolve_url(share: Share, path: str) -> str:
    return reverse("share_resolve", args=[share.token, path])


def test_it_resolves_get_and_head_in_one_query_without_a_session(
    client: Any, owner: Any, s3_package: Package, django_assert_num_queries: Any
) -> None:
    share = services.share_create(package=s3_package, created_by=owner)
    for method in ("get", "head"):
        for path in FILES:
            with django_assert_num_queries(1):
                response = getattr(client, method)(resolve_url(share, f"data/{path}"))
            assert response.status_code == 307
            assert response["Cache-Control"] == "private, no-store"
            assert "X-Amz-Signature=" in response["Location"]
            # The session was never touched: no cookie, no Vary on it.
            assert "Cookie" not in response.get("Vary", "") and not response.cookies
    head = client.head(resolve_url(share, "data/a.csv"))["Location"]
    get = client.get(resolve_url(share, "data/a.csv"))["Location"]
    assert head.split("X-Amz-Signature=")[1] != get.split("X-Amz-Signature=")[1]  # HEAD signed for HEAD


def test_it_frames_every_answer_so_connections_stay_open(client: Any, owner: Any, s3_package: Package) -> None:
    # A 307 without Content-Length (or chunking) ends its connection: wget -i urls.txt would
    # connect again for every file. Open shares are answered by the fast lane, which skips
    # CommonMiddleware; password shares go through it.
    open_share = services.share_create(package=s3_package, created_by=owner)
    locked = services.share_create(package=s3_package, created_by=owner, password="framing pass")
    authorization = "Basic " + base64.b64encode(b"x:framing pass").decode()
    for share, headers in ((open_share, {}), (locked, {"Authorization": authorization})):
        for method in ("get", "head"):
            response = getattr(client, method)(resolve_url(share, "data/a.csv"), headers=headers)
            assert response.status_code == 307 and response["Content-Length"] == "0"
        missing = client.get(resolve_url(share, "data/missing.csv"), headers=headers)
        assert missing.status_code == 404 and missing["Content-Length"] == str(len(missing.content))
    assert client.get(resolve_url(locked, "data/a.csv"))["Content-Length"] != ""  # the 401 too


def test_it_answers_refusals_in_one_query(
    client: Any, owner: Any, s3_package: Package, django_assert_num_queries: Any
) -> None:
    share = services.share_create(package=s3_package, created_by=owner)
    with django_assert_num_queries(1):
        missing = client.get(resolve_url(share, "data/missing.csv"))
    assert missing.status_code == 404 and "missing.csv" in missing.content.decode()
    with django_assert_num_queries(1):
        past_end = client.get(resolve_url(share, "data/a.csv"), HTTP_RANGE=f"bytes={len(FILES['a.csv'])}-")
    assert past_end.status_code == 416 and past_end["Content-Range"] == f"bytes */{len(FILES['a.csv'])}"
    assert client.get(resolve_url(share, "data/a.csv"), HTTP_RANGE="bytes=2-").status_code == 307
    VersionEntry.objects.filter(path="data/a.csv").update(drift=VersionEntry.Drift.CHANGED)
    with django_assert_num_queries(1):
        drifted = client.get(resolve_url(share, "data/a.csv"))
    assert drifted.status_code == 409 and "has changed" in drifted.content.decode()
    with django_assert_num_queries(1):
        assert client.get(reverse("share_resolve", args=["no-such-token", "data/a.csv"])).status_code == 404


def test_it_serves_the_version_a_share_pins_and_text_files(
    client: Any, owner: Any, s3_package: Package, django_assert_num_queries: Any
) -> None:
    first = s3_package.latest_version
    assert first is not None
    packages.package_write_text(package=s3_package, path="NEW.md", content="# New\n")
    publish(s3_package)
    pinned = services.share_create(package=s3_package, created_by=owner)
    Share.objects.filter(pk=pinned.pk).update(version=first)
    latest = services.share_create(package=s3_package, created_by=owner)
    assert client.get(resolve_url(pinned, "NEW.md")).status_code == 404
    with django_assert_num_queries(1):
        text = client.get(resolve_url(latest, "NEW.md"))
    assert text.status_code == 200 and text.content == b"# New\n"


def test_an_unpublished_package_has_nothing_to_resolve(client: Any, owner: Any, tmp_path: Path) -> None:
    write_files(tmp_path / "data", {"x.txt": b"x"})
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="draft only")
    packages.package_add_objects(package=package, source=source, paths=["x.txt"])
    share = services.share_create(package=package, created_by=owner)
    response = client.get(resolve_url(share, "x.txt"))  # the share's first version is being published
    assert response.status_code == 503 and b"being published" in response.content


def test_it_resolves_azure_entries_to_a_sas_azurite_accepts(
    client: Any, owner: Any, azure_package: Package, django_assert_num_queries: Any
) -> None:
    share = services.share_create(package=azure_package, created_by=owner)
    with django_assert_num_queries(1):
        response = client.get(resolve_url(share, "blob one.bin"))
    assert response.status_code == 307
    with urllib.request.urlopen(response["Location"], timeout=10) as fetched:  # Azurite on 127.0.0.1
        assert fetched.read() == b"azure bytes"


def test_password_shares_still_check_the_password_on_the_fast_path(
    client: Any, owner: Any, s3_package: Package
) -> None:
    share = services.share_create(package=s3_package, created_by=owner, password="open sesame")
    assert client.get(resolve_url(share, "data/a.csv")).status_code == 401
    token = base64.b64encode(b"x:open sesame").decode()
    assert client.get(resolve_url(share, "data/a.csv"), HTTP_AUTHORIZATION=f"Basic {token}").status_code == 307
    wrong = base64.b64encode(b"x:nope").decode()
    assert client.get(resolve_url(share, "data/a.csv"), HTTP_AUTHORIZATION=f"Basic {wrong}").status_code == 401
    services.share_revoke(share=share)
    assert client.get(resolve_url(share, "data/a.csv"), HTTP_AUTHORIZATION=f"Basic {token}").status_code == 410


def test_the_access_log_counts_a_thousand_resolves_without_a_write_per_request(
    client: Any, owner: Any, s3_package: Package
) -> None:
    share = services.share_create(package=s3_package, created_by=owner)
    paths = [f"data/{path}" for path in FILES]
    with CaptureQueriesContext(connection) as queries:
        for number in range(1000):
            assert client.get(resolve_url(share, paths[number % 3])).status_code == 307
        for _ in range(10):
            assert client.head(resolve_url(share, paths[0])).status_code == 307  # HEAD is not a fetch
    assert len(queries) == 1010
    assert all(query["sql"].lstrip().upper().startswith("SELECT") for query in queries.captured_queries)
    assert access_log.access_log_pending() == 1000
    assert not ShareDailyCount.objects.exists()

    assert access_log.access_log_flush() == 1000
    assert access_log.access_log_pending() == 0
    daily = ShareDailyCount.objects.get(share=share)
    assert (daily.kind, daily.count) == (ShareEvent.Kind.RESOLVE, 1000)
    assert dict(ShareFileCount.objects.filter(share=share).values_list("path", "count")) == {
        paths[0]: 334,
        paths[1]: 333,
        paths[2]: 333,
    }
    share.refresh_from_db()
    assert share.resolve_count == 1000 and share.last_accessed_at is not None

    # A second batch adds to the same rows.
    for _ in range(5):
        client.get(resolve_url(share, paths[1]))
    access_log.access_log_flush()
    assert ShareDailyCount.objects.get(share=share).count == 1005
    assert ShareFileCount.objects.get(share=share, path=paths[1]).count == 338


def test_the_access_log_writes_in_batches_and_keeps_failed_unlocks(
    client: Any, owner: Any, s3_package: Package, settings: Any
) -> None:
    settings.ACCESS_LOG_FLUSH_EVENTS = 100
    share = services.share_create(package=s3_package, created_by=owner, password="right one")
    wrong = base64.b64encode(b"x:wrong").decode()
    for _ in range(3):
        assert client.get(resolve_url(share, "data/a.csv"), HTTP_AUTHORIZATION=f"Basic {wrong}").status_code == 401
    right = base64.b64encode(b"x:right one").decode()
    for _ in range(250):
        client.get(resolve_url(share, "data/a.csv"), HTTP_AUTHORIZATION=f"Basic {right}")
    assert access_log.access_log_pending() == 53  # two batches of 100 were written on the way
    access_log.access_log_flush()
    assert ShareDailyCount.objects.get(share=share, kind=ShareEvent.Kind.RESOLVE).count == 250
    failures = share.events.filter(kind=ShareEvent.Kind.UNLOCK_FAILED)
    assert failures.count() == 3 and {event.ip_address for event in failures} == {"127.0.0.1"}


@pytest.mark.system
@pytest.mark.django_db(transaction=True)
def test_a_graceful_restart_of_gunicorn_loses_no_count(owner: Any, tmp_path: Path) -> None:
    write_files(tmp_path / "data", {"one.txt": b"1", "two.txt": b"22"})
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="restart")
    packages.package_add_objects(package=package, source=source, paths=["one.txt", "two.txt"])
    publish(package)
    share = services.share_create(package=package, created_by=owner)
    server = GunicornServer.start(
        "config.wsgi",
        workers=2,
        environment={
            "DATABASE_URL": database_url(connection.settings_dict),
            "PACKAGER_VAR_DIR": str(tmp_path / "var"),
            "LOCAL_SOURCE_ROOTS": str(tmp_path),
            "ACCESS_LOG_FLUSH_EVENTS": "100000",
            "ACCESS_LOG_FLUSH_SECONDS": "3600",
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        },
    )

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        for number in range(60):
            name = "one.txt" if number % 3 else "two.txt"
            try:
                opener.open(f"{server.url}/s/{share.token}/r/{name}", timeout=60)
            except urllib.error.HTTPError as error:
                assert error.code == 307
        assert not ShareDailyCount.objects.exists()  # counted in the workers' memory only
    finally:
        assert server.stop_gracefully() == 0
    assert ShareDailyCount.objects.get(share=share).count == 60
    assert dict(ShareFileCount.objects.filter(share=share).values_list("path", "count")) == {
        "one.txt": 40,
        "two.txt": 20,
    }
    assert Share.objects.get(pk=share.pk).resolve_count == 60
    assert os.environ.get("ACCESS_LOG_FLUSH_EVENTS") is None  # the test process kept its own settings


def test_a_process_reuses_a_lookup_briefly_and_forgets_it_when_a_share_changes(
    client: Any, owner: Any, s3_package: Package, settings: Any, django_assert_num_queries: Any
) -> None:
    settings.RESOLVE_CACHE_SECONDS = 60
    share = services.share_create(package=s3_package, created_by=owner)
    with django_assert_num_queries(1):
        assert client.get(resolve_url(share, "data/a.csv")).status_code == 307
    with django_assert_num_queries(0):
        for _ in range(3):
            assert client.get(resolve_url(share, "data/a.csv")).status_code == 307
    with django_assert_num_queries(1):
        assert client.get(resolve_url(share, "data/b #1.bin")).status_code == 307
    services.share_revoke(share=share)
    assert client.get(resolve_url(share, "data/a.csv")).status_code == 410
    settings.RESOLVE_CACHE_SECONDS = 0.05
    other = services.share_create(package=s3_package, created_by=owner)
    assert client.get(resolve_url(other, "data/a.csv")).status_code == 307
    Share.objects.filter(pk=other.pk).update(revoked_at=timezone.now())  # as another process would
    import time

    time.sleep(0.1)
    assert client.get(resolve_url(other, "data/a.csv")).status_code == 410


def test_the_fast_lane_still_checks_the_host(client: Any, owner: Any, s3_package: Package) -> None:
    share = services.share_create(package=s3_package, created_by=owner)
    assert client.get(resolve_url(share, "data/a.csv"), HTTP_HOST="evil.example.org").status_code == 400


@pytest.fixture
def long_version(owner: Any, seaweed: S3Server, s3_bucket: str) -> Package:
    """A published version of 600 files on an S3 source (rows written straight: nothing is
    fetched, the resolver only signs)."""
    from packager.models import PackageVersion

    source = make_source(owner, seaweed.source_fields(s3_bucket))
    package = packages.package_create(owner=owner, name="long")
    version = PackageVersion.objects.create(
        package=package, number=1, state=PackageVersion.State.PUBLISHED, entry_count=600, file_count=600
    )
    VersionEntry.objects.bulk_create(
        VersionEntry(
            package_version=version,
            position=index,
            path=f"part/{index:04d}.bin",
            parent="part/",
            kind="pointer",
            size=10,
            sha256=f"{index:064x}",
            md5=f"{index:032x}",
            source=source,
            key=f"raw/{index:04d}.bin",
        )
        for index in range(600)
    )
    Package.objects.filter(pk=package.pk).update(latest_version=version)
    package.refresh_from_db()
    return package


def test_going_through_a_version_in_order_costs_a_query_per_block_of_files(
    client: Any, owner: Any, long_version: Package, settings: Any
) -> None:
    settings.RESOLVE_CACHE_SECONDS = 60
    share = services.share_create(package=long_version, created_by=owner)
    with CaptureQueriesContext(connection) as queries:
        for index in range(600):
            response = client.get(resolve_url(share, f"part/{index:04d}.bin"))
            assert response.status_code == 307
            assert f"/raw/{index:04d}.bin?" in response["Location"]  # each its own object
    # The first file with the share, the second alone; the third shows the order: blocks of
    # 256 from there on.
    assert len(queries) == 1 + 1 + 3
    # A client asking for files at random (here: a process that has read nothing yet) pays
    # a query per file but reads no blocks it would not use.
    from shares import resolver

    resolver._entries.clear()
    resolver._streaks.clear()
    with CaptureQueriesContext(connection) as queries:
        for index in (590, 450, 300, 120, 7):
            assert f"/raw/{index:04d}.bin?" in client.get(resolve_url(share, f"part/{index:04d}.bin"))["Location"]
    assert len(queries) == 5 and len(resolver._entries) == 5
    # Two clients going through the version at once, each in order, interleaved.
    resolver._entries.clear()
    resolver._streaks.clear()
    with CaptureQueriesContext(connection) as queries:
        for index in range(250):
            for start in (0, 300):
                assert client.get(resolve_url(share, f"part/{start + index:04d}.bin")).status_code == 307
    assert len(queries) <= 2 * (2 + 1 + 1)  # per client: two misses alone, then blocks of 256
    with CaptureQueriesContext(connection) as queries:
        assert client.get(resolve_url(share, "part/no-such.bin")).status_code == 404
        assert client.get(resolve_url(share, "part/no-such.bin")).status_code == 404
    assert len(queries) == 1  # a miss is remembered too


def test_a_cached_entry_gives_way_to_a_verify_and_a_source_to_new_settings(
    client: Any, owner: Any, long_version: Package, settings: Any, django_assert_num_queries: Any
) -> None:
    from packager.models import PackageVersion
    from shares import resolver
    from sources.models import Source

    settings.RESOLVE_CACHE_SECONDS = 60
    share = services.share_create(package=long_version, created_by=owner)
    assert client.get(resolve_url(share, "part/0001.bin")).status_code == 307
    assert client.get(resolve_url(share, "part/0002.bin")).status_code == 307
    # Another process changes the source's settings: seen once this process's copy expires
    # (here: forced), with one query for the source alone.
    Source.objects.update(bucket="renamed-bucket")
    resolver._sources.clear()
    with django_assert_num_queries(1):
        moved = client.get(resolve_url(share, "part/0003.bin"))
    assert "/renamed-bucket/raw/0003.bin?" in moved["Location"]
    # A verify marks an entry changed and stamps the version, as drift.version_verify_run
    # does in one transaction; once the share's state is read again, the entry is refused.
    VersionEntry.objects.filter(path="part/0003.bin").update(drift=VersionEntry.Drift.CHANGED)
    PackageVersion.objects.update(drift_checked_at=timezone.now())
    assert client.get(resolve_url(share, "part/0003.bin")).status_code == 307  # within the lifetime
    resolver._shares.clear()  # the share's state expires
    assert client.get(resolve_url(share, "part/0001.bin")).status_code == 307
    drifted = client.get(resolve_url(share, "part/0003.bin"))  # read with the block, before the verify
    assert drifted.status_code == 409 and "has changed" in drifted.content.decode()
    assert client.get(resolve_url(share, "part/0004.bin")).status_code == 307


def test_lookups_by_content_are_cached_per_value(
    client: Any, owner: Any, long_version: Package, settings: Any, django_assert_num_queries: Any
) -> None:
    settings.RESOLVE_CACHE_SECONDS = 60
    share = services.share_create(package=long_version, created_by=owner)
    digest = f"{7:064x}"
    with django_assert_num_queries(1):
        assert client.get(reverse("share_by_sha256", args=[share.token, digest])).status_code == 307
    with django_assert_num_queries(0):
        again = client.get(reverse("share_by_sha256", args=[share.token, digest]))
    assert "/raw/0007.bin?" in again["Location"]
    with django_assert_num_queries(1):
        other = client.get(reverse("share_by_sha256", args=[share.token, f"{8:064x}"]))
    assert "/raw/0008.bin?" in other["Location"]
