"""Background jobs killed mid-way (SIGKILL of a real Celery worker on Redis) are finished by
another worker once beat's sweep (web.jobs) finds them silent: publications to a bucket and
share repository builds here; checksum runs, index runs and add-matches jobs in
tests/test_tasks_worker.py."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from packager import publications
from packager import services as packages
from packager.models import PackageVersion, VersionPublication
from shares import services as share_services
from shares.models import ShareRepository
from tests.conftest import S3Server
from tests.factories import make_source, publish
from tests.servers import RedisServer
from tests.test_tasks_worker import redis_broker, start_worker, stop_worker

__all__ = ["redis_broker"]

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

TEXT_FILES = 150
# Short enough that the test waits little for a dead worker's job to count as silent.
FAST_SWEEP = {
    "JOB_SWEEP_SECONDS": "0.5",
    "PUBLICATION_STALE_SECONDS": "1",
    "SHARE_REPOSITORY_STALE_SECONDS": "1",
}


@pytest.fixture
def many_texts(owner: Any) -> PackageVersion:
    """A published version of many small text files: writing or building it takes a while."""
    package = packages.package_create(owner=owner, name="Many texts")
    for index in range(TEXT_FILES):
        packages.package_write_text(package=package, path=f"notes/{index:04d}.md", content=f"# Note {index}\n")
    return publish(package, created_by=owner)


def wait_for(condition: Callable[[], bool], timeout: float, worker: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        assert worker.poll() is None, log.read_text()[-3000:]
        time.sleep(0.01)


def kill(worker: subprocess.Popen[bytes]) -> None:
    worker.kill()  # SIGKILL: no chance to tidy up
    worker.wait()


def finish_with_another_worker_and_beat(
    redis_server: RedisServer, folder: Path, done: Callable[[], bool], timeout: float = 60
) -> None:
    second = start_worker(redis_server, folder, "second", **FAST_SWEEP)
    beat = start_worker(redis_server, folder, "beat", command="beat", **FAST_SWEEP)
    try:
        wait_for(done, timeout, second, folder / "second.log")
    finally:
        stop_worker(beat)
        stop_worker(second)


def test_a_publication_killed_mid_way_is_finished_by_another_worker(
    redis_broker: RedisServer, owner: Any, many_texts: PackageVersion, seaweed: S3Server, tmp_path: Path
) -> None:
    bucket = f"releases-{uuid.uuid4().hex[:10]}"
    seaweed.client().create_bucket(Bucket=bucket)
    destination = make_source(owner, seaweed.source_fields(bucket, name="releases"), index=False)
    first = start_worker(redis_broker, tmp_path, "first", **FAST_SWEEP)
    try:
        record = publications.publication_request(version=many_texts, source=destination, key_template="out/")
        wait_for(
            lambda: VersionPublication.objects.get(pk=record.pk).progress_done >= 20, 60, first, tmp_path / "first.log"
        )
        kill(first)
    finally:
        stop_worker(first)
    record.refresh_from_db()
    total = TEXT_FILES + 2  # manifest.jsonl and datapackage.json
    assert record.state == VersionPublication.State.RUNNING
    assert 20 <= record.progress_done < total == record.progress_total, record.progress_done

    def published() -> bool:
        record.refresh_from_db()
        assert record.state != VersionPublication.State.FAILED, record.error
        return record.state == VersionPublication.State.DONE

    finish_with_another_worker_and_beat(redis_broker, tmp_path, published)
    assert record.attempts == 2 and record.progress_done == total
    listed = seaweed.client().list_objects_v2(Bucket=bucket, Prefix="out/", MaxKeys=1000)
    keys = {item["Key"] for item in listed.get("Contents", [])}
    assert len(keys) == len(record.written) == total
    assert "out/notes/0149.md" in keys and "out/manifest.jsonl" in keys


def test_a_repository_build_killed_mid_way_is_finished_by_another_worker(
    redis_broker: RedisServer, owner: Any, many_texts: PackageVersion, tmp_path: Path, client: Any
) -> None:
    share = share_services.share_create(package=many_texts.package, created_by=owner)
    first = start_worker(redis_broker, tmp_path, "first", **FAST_SWEEP)
    try:
        repository = share_services.share_repository_request(
            share=share, version=many_texts, kind=ShareRepository.Kind.ANNEX, base_url="http://testserver"
        )

        def building() -> bool:
            state = ShareRepository.objects.get(pk=repository.pk).state
            assert state != ShareRepository.State.READY, "built before the kill: make the version bigger"
            return state == ShareRepository.State.BUILDING

        wait_for(building, 60, first, tmp_path / "first.log")
        kill(first)
    finally:
        stop_worker(first)

    def built() -> bool:
        repository.refresh_from_db()
        assert repository.state != ShareRepository.State.FAILED, repository.error
        return repository.is_ready

    finish_with_another_worker_and_beat(redis_broker, tmp_path, built)
    assert repository.attempts == 2
    response = client.get(f"/s/{share.token}/annex.git/info/refs")
    assert response.status_code == 200
    assert b"\trefs/heads/main" in b"".join(response.streaming_content)
