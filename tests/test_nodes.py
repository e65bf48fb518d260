"""Web nodes as deployed (gunicorn, config/gunicorn.py) on the test database: nothing lost
when a node is SIGTERMed under load or goes idle, and nothing broken when Redis stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import global_settings, settings
from django.db.models import OuterRef, Subquery, Sum

from packager import services as packages
from shares import services as share_services
from shares.models import Share, ShareDailyCount, ShareEvent
from tests.factories import make_local_source, publish, write_files
from tests.nodes import Node
from tests.servers import RedisServer
from tests.test_tasks_worker import database_url

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
CSV = b"station,reading\n" + b"".join(f"s{index},{index * 1.5}\n".encode() for index in range(50))


@pytest.fixture
def shared(owner: Any, tmp_path: Path, settings: Any) -> dict[str, Any]:
    """A published package with a CSV (previewed), a binary and a README; an open share and
    a password share of it (hashed as the nodes hash, not with the tests' fast hasher)."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    write_files(tmp_path / "data", {"readings.csv": CSV, "blob.bin": b"\x00\x01" * 1000})
    package = packages.package_create(owner=owner, name="Nodes")
    packages.package_add_objects(package=package, source=make_local_source(owner, tmp_path / "data"), paths=[""])
    packages.package_write_text(package=package, path="README.md", content="# Nodes\n\nServed by two nodes.\n")
    publish(package)
    return {
        "open": share_services.share_create(package=package, created_by=owner),
        "locked": share_services.share_create(package=package, created_by=owner, password=PASSWORD),
    }


def node_environment(folder: Path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url(),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PACKAGER_VAR_DIR": str(folder),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "MEDIA_ROOT_SHARED": "1",
        "LOCAL_SOURCE_ROOTS": ",".join(settings.LOCAL_SOURCE_ROOTS),
        "SOURCE_ENDPOINT_ALLOWLIST": "127.0.0.1,localhost",
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus"),
        **extra,
    }


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    """Nodes a test starts; killed at the end, whatever happened."""
    started: list[Node] = []
    yield started
    for node in started:
        node.kill()


def resolve_total(share: Share) -> int:
    """The share's running total, checked against its daily counts read in the same statement
    (two reads could fall either side of a node's flush)."""
    daily = (
        ShareDailyCount.objects.filter(share=OuterRef("pk"), kind=ShareEvent.Kind.RESOLVE)
        .values("share")
        .annotate(total=Sum("count"))
        .values("total")
    )
    total, daily_total = Share.objects.filter(pk=share.pk).values_list("resolve_count", Subquery(daily)).get()
    assert total == (daily_total or 0)
    return int(total)


def wait_until(condition: Any, timeout: float, message: Any) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message()
        time.sleep(0.05)


def test_an_idle_node_writes_its_counts_and_a_sigtermed_one_under_load_loses_none(
    shared: dict[str, Any], tmp_path: Path, nodes: list[Node]
) -> None:
    share = shared["open"]
    resolve = f"/s/{share.token}/r/readings.csv"
    # Counts written after ACCESS_LOG_FLUSH_SECONDS with no request to carry them.
    idle = Node("idle", tmp_path, node_environment(tmp_path, ACCESS_LOG_FLUSH_SECONDS="0.3")).start()
    nodes.append(idle)
    for _ in range(10):
        assert idle.request("GET", resolve)[0] == 307
    wait_until(lambda: resolve_total(share) == 10, 10, lambda: (resolve_total(share), idle.tail()))
    idle.stop()

    # Under load, counts that only the exit writes (no timer or batch falls due meanwhile).
    environment = node_environment(tmp_path, ACCESS_LOG_FLUSH_SECONDS="3600", ACCESS_LOG_FLUSH_EVENTS="1000000")
    loaded = Node("loaded", tmp_path, environment).start()
    nodes.append(loaded)
    answered: list[int] = []
    failed: list[str] = []

    def client() -> None:
        while True:
            try:
                status = loaded.request("GET", resolve, timeout=30)[0]
            except OSError as error:  # the node closed its socket: this client is done
                failed.append(repr(error))
                return
            answered.append(status)

    clients = [threading.Thread(target=client) for _ in range(6)]
    for thread in clients:
        thread.start()
    wait_until(lambda: len(answered) >= 200, 60, loaded.tail)
    assert resolve_total(share) == 10  # nothing of the load written yet
    assert loaded.stop() == 0  # SIGTERM while the clients keep asking
    for thread in clients:
        thread.join(timeout=60)
    assert set(answered) == {307}, loaded.tail()
    assert resolve_total(share) == 10 + len(answered), loaded.tail()


def test_with_redis_stopped_mid_run_pages_downloads_and_previews_keep_working(
    shared: dict[str, Any], tmp_path: Path, nodes: list[Node]
) -> None:
    redis = RedisServer.start()  # its own: this test stops it
    try:
        environment = node_environment(
            tmp_path, REDIS_URL=redis.url, CELERY_BROKER_URL=redis.url, CACHE_FALLBACK_SECONDS="1"
        )
        node = Node("redis", tmp_path, environment).start()
        nodes.append(node)
        open_share, locked = shared["open"].token, shared["locked"].token
        calls = [
            ("share page", f"/s/{open_share}/", "", 200, b"Served by two nodes."),
            ("preview", f"/s/{open_share}/view/readings.csv", "", 200, b"s49"),
            ("download", f"/s/{open_share}/r/blob.bin", "", 307, b""),
            ("password download", f"/s/{locked}/r/readings.csv", PASSWORD, 307, b""),
            ("urls.txt", f"/s/{locked}/urls.txt", PASSWORD, 200, b"readings.csv"),
        ]

        wrong: list[int] = []

        def run_round(phase: str) -> float:
            """The slowest answer without a password (a password costs its hash, by design)."""
            slowest = 0.0
            for name, path, password, status, content in calls:
                started = time.monotonic()
                answer, body, _ = node.request("GET", path, password=password)
                if not password:
                    slowest = max(slowest, time.monotonic() - started)
                assert answer == status, (phase, name, answer, body[:500], node.tail())
                assert content in body, (phase, name, body[:500])
            if len(wrong) < settings.SHARE_UNLOCK_ATTEMPTS - 1:  # the right one keeps working
                wrong.append(node.request("GET", f"/s/{locked}/r/readings.csv", password="not the password")[0])
            return slowest

        run_round("Redis up")
        run_round("Redis up, cached")
    finally:
        redis.stop()
    slowest = max(run_round(f"Redis down, round {index}") for index in range(3))
    assert slowest < 3, slowest  # no request waits on the missing Redis
    # The guessing limit still holds, counted in the database: the last try, then refused.
    for _ in range(2):
        wrong.append(node.request("GET", f"/s/{locked}/r/readings.csv", password="not the password")[0])
    assert wrong == [401] * settings.SHARE_UNLOCK_ATTEMPTS + [429], wrong
    assert "Internal Server Error" not in node.tail(100_000)
