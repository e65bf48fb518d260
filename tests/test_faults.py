"""Faults: storage that ignores ranges, hangs or is down, and a disk that fills up.

Each gives a clear message, leaves nothing half-written and holds no worker for long.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage
from django.urls import reverse

from config.celery import app as celery_app
from packager import services as package_services
from packager.models import Package, PackageEntry
from sources.backends.s3 import S3Backend
from sources.models import Source
from sources.tasks import TransientStorageError, index_source
from tests.conftest import S3Server
from tests.factories import make_source

pytestmark = pytest.mark.django_db


class EndlessObjectHandler(BaseHTTPRequestHandler):
    """An S3 endpoint that ignores Range and streams an endless object to GET."""

    ranges: list[str] = []
    sent: list[int] = []

    def do_GET(self) -> None:
        self.ranges.append(self.headers.get("Range", ""))
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 40))
        self.send_header("ETag", '"endless"')
        self.end_headers()
        chunk = b"x" * 65536
        try:
            while True:
                self.wfile.write(chunk)
                self.sent.append(len(chunk))
        except OSError:
            return  # the client hung up

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def endless_endpoint() -> Iterator[str]:
    EndlessObjectHandler.ranges, EndlessObjectHandler.sent = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), EndlessObjectHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_s3_read_stops_at_its_length_when_the_endpoint_ignores_range(endless_endpoint: str) -> None:
    backend = S3Backend(
        {"bucket": "b", "endpoint_url": endless_endpoint, "addressing_style": "path", "read_timeout": 5},
        {"access_key_id": "k", "secret_access_key": "s"},
    )
    done: list[bytes] = []
    reader = threading.Thread(target=lambda: done.append(backend.read("big.bin", length=1000)), daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert not reader.is_alive(), "read() kept reading an endless body"
    assert done == [b"x" * 1000]
    assert EndlessObjectHandler.ranges == ["bytes=0-999"]


@pytest.fixture
def eager_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Celery runs an eager task's retries in turn only when task errors do not propagate:
    otherwise the first retry is raised to the caller as a Retry exception."""
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)


def gone_silent(source: Source, endpoint_url: str) -> Source:
    """The source's endpoint, working when it was added, stops answering (or goes down)."""
    Source.objects.filter(pk=source.pk).update(endpoint_url=endpoint_url)
    source.refresh_from_db()
    return source


@pytest.mark.slow
@pytest.mark.usefixtures("eager_retries")
def test_an_index_run_on_a_silent_endpoint_times_out_and_is_retried(
    owner: Any, settings: Any, seaweed: S3Server, s3_bucket: str, silent_server: int, caplog: Any
) -> None:
    settings.SOURCE_READ_TIMEOUT = 0.5
    settings.SOURCE_CONNECT_TIMEOUT = 0.5
    source = make_source(owner, seaweed.source_fields(s3_bucket), index=False)
    gone_silent(source, f"http://127.0.0.1:{silent_server}")
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="celery.app.trace"):
        result = index_source.apply(args=[source.pk])  # eager: its retries run at once, one after the other
    # The last retry gave up with the transient error.
    assert isinstance(result.result, TransientStorageError)
    # Four runs (the first and three retries), each bounded by the timeouts: nothing hangs.
    assert time.monotonic() - started < 60
    assert sum("retry: Retry in" in record.getMessage() for record in caplog.records) == 3
    source.refresh_from_db()
    assert source.status == Source.Status.ERROR
    assert "did not answer in time" in source.last_error


@pytest.mark.usefixtures("eager_retries")
def test_an_index_run_on_an_endpoint_that_is_down_says_so_and_is_retried(
    owner: Any, settings: Any, seaweed: S3Server, s3_bucket: str, caplog: Any
) -> None:
    settings.SOURCE_CONNECT_TIMEOUT = 0.5
    source = make_source(owner, seaweed.source_fields(s3_bucket), index=False)
    gone_silent(source, "http://127.0.0.1:9")
    with caplog.at_level(logging.INFO, logger="celery.app.trace"):
        result = index_source.apply(args=[source.pk])
    assert isinstance(result.result, TransientStorageError)
    assert sum("retry: Retry in" in record.getMessage() for record in caplog.records) == 3
    source.refresh_from_db()
    assert source.status == Source.Status.ERROR
    assert "Could not connect" in source.last_error


# A full disk ------------------------------------------------------------------------


class FullDiskStorage(FileSystemStorage):
    """The local text storage on a disk that fills up after the first few bytes of a file."""

    room = 10

    def _save(self, name: str, content: Any) -> str:
        full_path = Path(self.path(name))
        full_path.parent.mkdir(parents=True, exist_ok=True)
        data = content.read()
        with full_path.open("wb") as handle:
            handle.write(data[: self.room])  # what fitted, as a real full disk leaves it
            if len(data) > self.room:
                raise OSError(errno.ENOSPC, "No space left on device")
        return name


@pytest.fixture
def full_disk(settings: Any) -> Path:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.test_faults.FullDiskStorage", "OPTIONS": {"location": settings.MEDIA_ROOT}},
    }
    return Path(settings.MEDIA_ROOT)


def files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def test_a_full_disk_refuses_a_new_text_file_and_leaves_nothing(owner: Any, full_disk: Path) -> None:
    package = package_services.package_create(owner=owner, name="Full")
    with pytest.raises(package_services.PackageError) as refused:
        package_services.package_write_text(package=package, path="README.md", content="# A long enough readme\n")
    assert refused.value.status == 507
    assert "out of disk space" in refused.value.message
    assert not PackageEntry.objects.exists()
    assert files_under(full_disk) == []


def test_a_full_disk_keeps_the_old_content_of_a_text_file(owner: Any, settings: Any, full_disk: Path) -> None:
    package = package_services.package_create(owner=owner, name="Full")
    FullDiskStorage.room = 1000
    try:
        package_services.package_write_text(package=package, path="notes.txt", content="first version")
    finally:
        FullDiskStorage.room = 10
    before = files_under(full_disk)
    with pytest.raises(package_services.PackageError):
        package_services.package_write_text(package=package, path="notes.txt", content="a second, longer version")
    entry = PackageEntry.objects.get()
    assert entry.read_text() == "first version"
    assert files_under(full_disk) == before


def test_a_full_disk_gives_a_clear_message_in_the_page_and_the_api(
    owner: Any, owner_client: Any, full_disk: Path
) -> None:
    package = package_services.package_create(owner=owner, name="Full")
    response = owner_client.post(
        reverse("entry_write", args=[package.public_id]), {"path": "README.md", "content": "# Hello, world\n"}
    )
    assert b"out of disk space" in response.content
    _, token = package_services.api_token_create(user=owner, name="t")
    response = owner_client.post(
        f"/api/v1/packages/{package.public_id}/entries",
        {"path": "a.md", "text": "# Hello, world\n"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 507
    assert "out of disk space" in response.json()["detail"]
    assert not Package.objects.get().entries.exists()
    assert files_under(full_disk) == []
