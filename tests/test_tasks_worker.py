"""Indexing by a real Celery worker process on Redis, sharing the test database."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from kombu import pools as kombu_pools

from config.celery import app as celery_app
from packager import services as packages
from shares import services as share_services
from shares.models import ShareRepository
from sources import indexing, services
from sources.models import Source, SourceObject
from sources.tasks import resume_stalled_jobs
from tests.conftest import S3Server
from tests.factories import make_local_source, make_source, publish, write_files
from tests.s3_servers import SeaweedS3
from tests.servers import RedisServer
from web import jobs

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]


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


def start_worker(
    redis_server: RedisServer, folder: Path, name: str = "worker", *, command: str = "worker", **extra_env: str
) -> subprocess.Popen[bytes]:
    """A real Celery worker (or, with command="beat", beat) process on Redis, sharing the test
    database; its log goes to folder/<name>.log."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis_server.url,
        "SOURCE_ENDPOINT_ALLOWLIST": "127.0.0.1,localhost",
        "PACKAGER_VAR_DIR": str(folder),
        # The tests' local sources live in pytest's temporary folders, as in this process.
        "LOCAL_SOURCE_ROOTS": ",".join(settings.LOCAL_SOURCE_ROOTS),
        **extra_env,
    }
    log = (folder / f"{name}.log").open("wb")
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            "--app",
            "config",
            command,
            *(["--pool", "solo"] if command == "worker" else ["--schedule", str(folder / "beat-schedule")]),
            "--loglevel",
            "INFO",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def redis_broker(redis_server: RedisServer) -> Iterator[RedisServer]:
    """This process sends tasks to Redis instead of running them inline."""
    names = ("task_always_eager", "broker_url", "broker_transport_options")
    saved = {name: celery_app.conf[name] for name in names}
    celery_app.conf.update(task_always_eager=False, broker_url=redis_server.url, broker_transport_options={})
    _reset_connections()
    yield redis_server
    _reset_connections()
    celery_app.conf.update(saved)


@pytest.fixture
def worker(redis_broker: RedisServer, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = start_worker(redis_broker, tmp_path)
    yield process
    stop_worker(process)


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
    worker: subprocess.Popen[bytes], seaweed: S3Server, s3_bucket: str, owner: Any, tmp_path: Path
) -> None:
    client = seaweed.client()
    for index in range(30):
        client.put_object(Bucket=s3_bucket, Key=f"runs/{index:02d}/result.json", Body=b"{}" * index)
    data = seaweed.source_fields(s3_bucket)
    credentials = {key: data.pop(key) for key in ("access_key_id", "secret_access_key")}
    data.pop("kind")
    source = services.source_create(owner=owner, kind="s3", fields=data, credentials=credentials)
    assert source.status == Source.Status.QUEUED
    source = wait_for_status(source, Source.Status.READY, worker, tmp_path / "worker.log")
    assert source.object_count == 30
    assert SourceObject.objects.filter(source=source, parent="runs/", is_dir=True).count() == 30


def test_a_rerun_finishes_what_a_killed_worker_left(
    worker: subprocess.Popen[bytes], seaweed: S3Server, s3_bucket: str, owner: Any, tmp_path: Path
) -> None:
    client = seaweed.client()
    client.put_object(Bucket=s3_bucket, Key="kept.csv", Body=b"kept")
    source = make_source(owner, seaweed.source_fields(s3_bucket), index=False)
    # A run that died half-way: claimed long ago, rows of a newer generation written,
    # one of them for an object that no longer exists.
    Source.objects.filter(pk=source.pk).update(
        status=Source.Status.INDEXING,
        index_started_at=timezone.now() - indexing.stale_after() * 3,
        heartbeat_at=timezone.now() - indexing.stale_after() * 2,
        index_generation=1,
    )
    SourceObject.objects.create(source=source, path="gone.csv", parent="", name="gone.csv", size=1, generation=1)
    services.source_index_request(source=source)
    source = wait_for_status(source, Source.Status.READY, worker, tmp_path / "worker.log")
    live = SourceObject.objects.filter(source=source, vanished_at__isnull=True)
    assert list(live.values_list("path", flat=True)) == ["kept.csv"]
    assert SourceObject.objects.get(source=source, path="gone.csv").vanished_at is not None
    assert source.index_generation == 2


@pytest.mark.system
def test_a_publish_killed_mid_way_resumes_without_reading_finished_objects(
    redis_broker: RedisServer, owner: Any, tmp_path: Path
) -> None:
    from packager import services as packages
    from packager import versions
    from packager.models import PackageVersion
    from tests.factories import make_local_source, write_files

    count, size = 60, 4 * 1024 * 1024
    files = {f"part-{index:03d}.bin": bytes([index]) * size for index in range(count)}
    write_files(tmp_path / "data", files)
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Big")
    packages.package_add_objects(package=package, source=source, paths=[""])
    # One object at a time with a short heartbeat: the kill lands mid-way and is noticed fast.
    settings = {"CHECKSUM_CONCURRENCY": "1", "PUBLISH_HEARTBEAT_SECONDS": "0.2"}
    first = start_worker(redis_broker, tmp_path, "first", **settings)
    version = versions.package_publish(package=package)  # enqueued on commit (transactional test)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            version.refresh_from_db()
            if version.progress_done >= 5:
                break
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            time.sleep(0.02)
        first.kill()  # SIGKILL: no chance to tidy up
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    version.refresh_from_db()
    done_at_kill = version.progress_done
    assert 5 <= done_at_kill < count, (done_at_kill, (tmp_path / "first.log").read_text()[-3000:])
    assert version.state == PackageVersion.State.CHECKSUMMING
    second = start_worker(redis_broker, tmp_path, "second", **settings)
    try:
        time.sleep(1.2)  # the killed run's heartbeat goes stale
        resume_stalled_jobs.delay()  # what beat does every minute
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            version.refresh_from_db()
            if version.state != PackageVersion.State.CHECKSUMMING:
                break
            time.sleep(0.2)
    finally:
        stop_worker(second)
    log = (tmp_path / "second.log").read_text()
    assert version.state == PackageVersion.State.PUBLISHED, log[-3000:]
    match = re.search(r"Version \d+: read (\d+) objects", log)
    assert match is not None, log[-3000:]
    assert int(match.group(1)) <= count - done_at_kill  # finished objects were not read again
    hashes = dict(version.entries.values_list("path", "sha256"))
    assert hashes == {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
    assert version.progress_done == count


def test_a_worker_on_redis_builds_the_repository_a_request_asked_for(
    worker: subprocess.Popen[bytes], owner: Any, tmp_path: Path, client: Any
) -> None:
    write_files(tmp_path / "data", {"a.csv": b"alpha\n", "sub/b.bin": b"\x00\x01"})
    package = packages.package_create(owner=owner, name="Worked")
    packages.package_add_objects(
        package=package, source=make_local_source(owner, tmp_path / "data"), paths=["a.csv", "sub/"]
    )
    packages.package_write_text(package=package, path="README.md", content="# Worked\n")
    publish(package)
    share = share_services.share_create(package=package, created_by=owner)
    url = f"/s/{share.token}/dvc.git/info/refs"
    # The request only asks; the worker (sharing the database and the media folder) builds.
    assert client.get(url).status_code == 503
    deadline = time.monotonic() + 60
    repository = ShareRepository.objects.get(share=share, kind="dvc")
    while not repository.is_ready and time.monotonic() < deadline:
        assert repository.state != ShareRepository.State.FAILED, repository.error
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
        time.sleep(0.2)
        repository.refresh_from_db()
    assert repository.is_ready, (tmp_path / "worker.log").read_text()[-3000:]
    response = client.get(url)
    assert response.status_code == 200
    assert b"\trefs/heads/main" in b"".join(response.streaming_content)


def put_objects(server: S3Server, bucket: str, keys: list[str]) -> None:
    client = server.client()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=key.encode()), keys))


@pytest.mark.slow
@pytest.mark.system
def test_a_worker_killed_mid_index_is_finished_by_another_without_duplicates_or_losses(
    redis_broker: RedisServer,
    seaweed: S3Server,
    s3_bucket: str,
    owner: Any,
    tmp_path: Path,
    settings: Any,
) -> None:
    # Two listing pages (S3 answers 1,000 keys a page): the kill lands once the first page
    # is written, while the proxy holds back the request for the second.
    keys = [f"runs/{index % 20:02d}/part-{index:05d}.json" for index in range(1500)]
    put_objects(seaweed, s3_bucket, keys)
    worker_settings = {"INDEX_BATCH_SIZE": "100", "INDEX_STALE_SECONDS": "2"}
    settings.INDEX_STALE_SECONDS = 2
    assert isinstance(seaweed, SeaweedS3) and seaweed.proxy is not None
    second_page = seaweed.proxy.holding(lambda method, path: f"/{s3_bucket}" in path and "continuation-token=" in path)
    first = start_worker(redis_broker, tmp_path, "first", **worker_settings)
    try:
        with second_page as hold:
            source = make_source(owner, seaweed.source_fields(s3_bucket), index=False)
            services.source_index_request(source=source)
            assert hold.arrived.wait(60), "the index never asked for its second page"
            deadline = time.monotonic() + 60
            while not (source.status == Source.Status.INDEXING and source.index_listed >= 1000):
                assert time.monotonic() < deadline, (source.status, source.index_listed)
                time.sleep(0.05)
                source.refresh_from_db()
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
    finally:
        stop_worker(first)
    source.refresh_from_db()
    assert source.status == Source.Status.INDEXING
    assert 1000 <= source.index_listed < len(keys)  # killed mid-way
    written = SourceObject.objects.filter(source=source, is_dir=False).count()
    assert 0 < written < len(keys)
    assert source.index_resume_after == sorted(keys)[written - 1]
    first_generation = source.index_generation

    time.sleep(2.5)  # the dead run's heartbeat grows stale
    second = start_worker(redis_broker, tmp_path, "second", **worker_settings)
    try:
        assert jobs.jobs_resume_stalled()["index"] == 1  # what beat does every minute
        source = wait_for_status(source, Source.Status.READY, second, tmp_path / "second.log")
    finally:
        stop_worker(second)
    files = SourceObject.objects.filter(source=source, is_dir=False)
    assert source.object_count == len(keys) == files.count()
    assert sorted(files.values_list("path", flat=True)) == sorted(keys)  # no duplicates, no losses
    assert not files.filter(vanished_at__isnull=False).exists()
    # The second worker went on after the last object the first one wrote, and wrote the rest.
    assert files.filter(generation=first_generation).count() == written
    assert files.filter(generation=source.index_generation).count() == len(keys) - written
    assert source.index_generation == first_generation + 1
    folders = SourceObject.objects.filter(source=source, parent="runs/", is_dir=True)
    assert folders.count() == 20 and sum(folders.values_list("file_count", flat=True)) == len(keys)


@pytest.mark.slow
def test_beat_started_with_a_worker_reindexes_a_source_on_its_schedule(
    redis_broker: RedisServer,
    worker: subprocess.Popen[bytes],
    seaweed: S3Server,
    s3_bucket: str,
    owner: Any,
    tmp_path: Path,
) -> None:
    seaweed.client().put_object(Bucket=s3_bucket, Key="a.csv", Body=b"a")
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    seaweed.client().put_object(Bucket=s3_bucket, Key="b.csv", Body=b"b")
    long_ago = timezone.now() - dt.timedelta(hours=2)
    Source.objects.filter(pk=source.pk).update(
        reindex_every_hours=1, index_finished_at=long_ago, last_indexed_at=long_ago
    )
    beat = start_worker(redis_broker, tmp_path, "beat", command="beat", INDEX_SCHEDULE_SECONDS="1")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            source.refresh_from_db()
            if source.status == Source.Status.READY and source.last_indexed_at and source.last_indexed_at > long_ago:
                break
            assert beat.poll() is None, (tmp_path / "beat.log").read_text()[-3000:]
            time.sleep(0.2)
        else:
            raise AssertionError((tmp_path / "beat.log").read_text()[-3000:])
    finally:
        stop_worker(beat)
    assert source.object_count == 2


@pytest.mark.system
def test_a_worker_adds_a_large_match_set_and_a_killed_one_is_finished_without_duplicates(
    redis_broker: RedisServer, owner: Any, tmp_path: Path, settings: Any
) -> None:
    from packager import services as packages
    from packager.models import AddMatchesJob
    from sources.search import Search

    count = 12_000  # six batches of 2,000
    settings.ADD_MATCHES_INLINE_LIMIT = 1_000  # this process decides: a job for the worker
    (tmp_path / "empty").mkdir()
    source = make_local_source(owner, tmp_path / "empty")
    SourceObject.objects.bulk_create(
        (
            SourceObject(source=source, path=f"big/p{index % 40:02d}/f{index:06d}.bin", parent="", name="", size=index)
            for index in range(count)
        ),
        batch_size=5000,
    )
    package = packages.package_create(owner=owner, name="Big")
    job = packages.package_add_search(package=package, source=source, search=Search(glob="big/**"), target="all")
    assert isinstance(job, AddMatchesJob) and job.total == count  # enqueued on commit (transactional test)
    stale = {"ADD_MATCHES_STALE_SECONDS": "0.5"}
    first = start_worker(redis_broker, tmp_path, "first", **stale)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.added >= 4_000:
                break
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            time.sleep(0.02)
        first.kill()  # SIGKILL mid-way
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    job.refresh_from_db()
    assert job.state == AddMatchesJob.State.RUNNING and 4_000 <= job.added < count, job.added
    second = start_worker(redis_broker, tmp_path, "second", **stale)
    try:
        time.sleep(1)  # the killed run's heartbeat goes stale
        resume_stalled_jobs.delay()  # what beat does every minute
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if not job.running:
                break
            time.sleep(0.2)
    finally:
        stop_worker(second)
    assert (job.state, job.added, job.error) == ("done", count, ""), (tmp_path / "second.log").read_text()[-3000:]
    paths = list(package.entries.values_list("path", flat=True))
    assert len(paths) == len(set(paths)) == count
    assert package.entries.filter(path="all/p07/f000007.bin", parent="all/p07/").exists()


def test_a_worker_registers_a_doi_once_datacite_recovers_from_an_outage(
    redis_broker: RedisServer, owner: Any, tmp_path: Path, settings: Any
) -> None:
    """End to end: the worker publishes the version, its registration task meets DataCite
    down (503 twice), retries with back-off on Redis, and the DOI ends up registered."""
    from packager import versions
    from packager.models import PackageVersion
    from tests import datacite_server

    for datacite in datacite_server.start():
        account = {
            "DATACITE_URL": datacite.url,
            "DATACITE_PREFIX": datacite.prefix,
            "DATACITE_USERNAME": datacite.username,
            "DATACITE_PASSWORD": datacite.password,
            "SITE_URL": "https://data.example.org",
        }
        for name, value in account.items():
            setattr(settings, name, value)
        datacite.fail_with.extend([503, 503])
        write_files(tmp_path / "data", {"a.csv": b"x\n"})
        source = make_local_source(owner, tmp_path / "data")
        package = packages.package_create(owner=owner, name="Lakes", description="")
        packages.package_add_objects(package=package, source=source, paths=["a.csv"], target="")
        process = start_worker(redis_broker, tmp_path, DATACITE_RETRY_BACKOFF_SECONDS="1", **account)
        try:
            version = versions.package_publish(package=package)  # enqueued on commit (transactional test)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                version.refresh_from_db()
                if version.doi_state:
                    break
                assert process.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
                time.sleep(0.2)
        finally:
            stop_worker(process)
        log = (tmp_path / "worker.log").read_text()
        assert version.state == PackageVersion.State.PUBLISHED
        assert version.doi_state == "draft", log[-3000:]
        assert version.doi == f"10.5072/{package.public_id.hex[:16]}.v1" and version.doi_error == ""
        assert datacite.dois[version.doi]["state"] == "draft"
        # Two answers of 503, then the registration: each attempt a POST /dois, retried by the task.
        assert [request["method"] for request in datacite.requests] == ["POST", "POST", "POST"]
        assert len(re.findall(r"register_doi\[[^\]]+\] retry: Retry in \d+s: DataCiteUnavailable", log)) == 2
        assert len(re.findall(r"register_doi\[[^\]]+\] succeeded", log)) == 1
