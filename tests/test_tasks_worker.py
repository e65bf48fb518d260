"""Indexing by a real Celery worker process on Redis, sharing the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from kombu import pools as kombu_pools

from packager.celery import app as celery_app
from sources import services
from sources.models import Source, SourceObject
from tests.conftest import S3Server
from tests.factories import make_source
from tests.servers import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)


def database_url() -> str:
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    return f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"


def _reset_connections() -> None:
    """Make the app open new broker connections from its current configuration."""
    kombu_pools.reset()  # kombu keeps producer pools per broker URL, process-wide
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def worker(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis_server.url,
        "SOURCE_ENDPOINT_ALLOWLIST": "127.0.0.1,localhost",
        "PACKAGER_VAR_DIR": str(tmp_path),
    }
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            "--app",
            "packager",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    # This process sends to the same Redis instead of running tasks inline.
    names = ("task_always_eager", "broker_url", "broker_transport_options")
    saved = {name: celery_app.conf[name] for name in names}
    celery_app.conf.update(task_always_eager=False, broker_url=redis_server.url, broker_transport_options={})
    _reset_connections()
    yield process
    _reset_connections()
    celery_app.conf.update(saved)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def wait_for_status(
    source: Source, wanted: str, worker: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> Source:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        source.refresh_from_db()
        if source.status == wanted:
            return source
        assert worker.poll() is None, log.read_text()[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"status stayed {source.status}; worker log:\n{log.read_text()[-3000:]}")


def test_a_worker_on_redis_indexes_a_new_source(
    worker: subprocess.Popen[bytes], moto_server: S3Server, s3_bucket: str, owner: Any, tmp_path: Path
) -> None:
    client = moto_server.client()
    for index in range(30):
        client.put_object(Bucket=s3_bucket, Key=f"runs/{index:02d}/result.json", Body=b"{}" * index)
    data = moto_server.source_fields(s3_bucket)
    credentials = {key: data.pop(key) for key in ("access_key_id", "secret_access_key")}
    data.pop("kind")
    source = services.source_create(owner=owner, kind="s3", fields=data, credentials=credentials)
    assert source.status == Source.Status.QUEUED
    source = wait_for_status(source, Source.Status.READY, worker, tmp_path / "worker.log")
    assert source.object_count == 30
    assert SourceObject.objects.filter(source=source, parent="runs/", is_dir=True).count() == 30


def test_a_rerun_finishes_what_a_killed_worker_left(
    worker: subprocess.Popen[bytes], moto_server: S3Server, s3_bucket: str, owner: Any, tmp_path: Path
) -> None:
    client = moto_server.client()
    client.put_object(Bucket=s3_bucket, Key="kept.csv", Body=b"kept")
    source = make_source(owner, moto_server.source_fields(s3_bucket), index=False)
    # A run that died half-way: claimed long ago, rows of a newer generation written,
    # one of them for an object that no longer exists.
    Source.objects.filter(pk=source.pk).update(
        status=Source.Status.INDEXING,
        index_started_at=timezone.now() - services.stale_after() * 3,
        index_heartbeat_at=timezone.now() - services.stale_after() * 2,
        index_generation=1,
    )
    SourceObject.objects.create(source=source, path="gone.csv", parent="", name="gone.csv", size=1, generation=1)
    services.source_index_request(source=source)
    source = wait_for_status(source, Source.Status.READY, worker, tmp_path / "worker.log")
    live = SourceObject.objects.filter(source=source, vanished_at__isnull=True)
    assert list(live.values_list("path", flat=True)) == ["kept.csv"]
    assert SourceObject.objects.get(source=source, path="gone.csv").vanished_at is not None
    assert source.index_generation == 2
