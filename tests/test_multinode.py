"""Two web nodes (gunicorn) on one PostgreSQL, Redis and SeaweedFS, with a worker and beat:
a client alternates between the nodes through the whole flow, the worker is killed in the
middle of a publish, a node is SIGTERMed, and every count and every file comes out right."""

from __future__ import annotations

import hashlib
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import global_settings, settings
from django.db import connection

from packager import services as packages
from packager.models import PackageVersion
from shares import services as share_services
from shares.models import Share
from tests.conftest import S3Server
from tests.factories import make_source, publish
from tests.nodes import Balancer, Node, load_run
from tests.servers import RedisServer
from tests.test_nodes import node_environment
from tests.test_tasks_worker import start_worker, stop_worker

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

PASSWORD = "two nodes one secret"
# Enough bytes that checksumming them one at a time lasts a while: the kill lands mid-way.
OBJECTS = {f"runs/part-{index:02d}.bin": bytes([index]) * (2 * 1024 * 1024 + index) for index in range(40)}
JOB_SETTINGS = {
    "JOB_SWEEP_SECONDS": "0.5",
    "PUBLISH_HEARTBEAT_SECONDS": "0.2",
    "CHECKSUM_CONCURRENCY": "1",
}


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def nodes_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # passwords hashed as the nodes hash them


@pytest.fixture(scope="module")
def cluster(redis_server: RedisServer, tmp_path_factory: Any) -> Iterator[dict[str, Any]]:
    """Two nodes and beat, shared by this module's tests (each test starts its workers)."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "two gunicorn nodes, a worker and beat share one database server, as a deployment does; SQLite's "
            "file is no such server. Runs in make test's PostgreSQL pass (-p tests.postgres_plugin)"
        )
    tmp_path = tmp_path_factory.mktemp("cluster")
    shared = {
        "REDIS_URL": redis_server.url,
        "CELERY_BROKER_URL": redis_server.url,
        "RESOLVE_CACHE_SECONDS": "1",
        "ACCESS_LOG_FLUSH_SECONDS": "0.5",
        # The load comes from one address: the per-client download budget is not under test.
        "DOWNLOAD_LIMIT_PER_CLIENT": "1000000",
        "DOWNLOAD_LIMIT_PER_SHARE": "1000000",
        **JOB_SETTINGS,
    }
    environment = node_environment(tmp_path, **shared)
    nodes = [Node(f"node-{name}", tmp_path, environment) for name in "ab"]
    beat = None
    try:
        for node in nodes:
            node.start()
        beat = start_worker(redis_server, tmp_path, "beat", command="beat", **environment)
        yield {"nodes": nodes, "environment": environment, "folder": tmp_path}
    finally:
        if beat is not None:
            stop_worker(beat)
        for node in nodes:
            node.kill()


@pytest.fixture
def workers() -> Iterator[list[Any]]:
    """Celery workers a test starts, stopped at its end (beat stays with the cluster)."""
    started: list[Any] = []
    yield started
    for process in started:
        stop_worker(process)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


def test_two_nodes_a_worker_and_beat_serve_the_whole_flow(
    cluster: dict[str, Any],
    workers: list[Any],
    owner: Any,
    seaweed: S3Server,
    s3_bucket: str,
    redis_server: RedisServer,
) -> None:
    nodes: list[Node] = cluster["nodes"]
    folder: Path = cluster["folder"]
    turn = iter(range(10_000))

    def node() -> Node:  # the client alternates between the nodes
        return nodes[next(turn) % 2]

    client = seaweed.client()
    for key, data in OBJECTS.items():
        client.put_object(Bucket=s3_bucket, Key=key, Body=data)
    _, token = packages.api_token_create(user=owner, name="multinode")
    worker = start_worker(redis_server, folder, "first", **cluster["environment"])
    workers.append(worker)

    # Connect a source; the worker indexes it.
    status, source = node().api("POST", "/sources", token, seaweed.source_fields(s3_bucket, name="runs"))
    assert status == 201, source
    wait_for("the index", lambda: node().api("GET", f"/sources/{source['id']}", token)[1]["index"]["state"] == "ready")
    status, package = node().api("POST", "/packages", token, {"name": "Runs"})
    assert status == 201, package
    status, added = node().api(
        "POST", f"/packages/{package['id']}/entries", token, {"source": source["id"], "prefix": "runs/", "target": ""}
    )
    assert status == 201, added

    # Publish; the worker is killed in the middle of checksumming, another one finishes.
    status, version = node().api("POST", f"/packages/{package['id']}/versions", token, {"message": "v1"})
    assert status == 202, version
    record = PackageVersion.objects.get(package__public_id=package["id"], number=version["number"])
    wait_for("checksumming to start", lambda: PackageVersion.objects.get(pk=record.pk).progress_done >= 3)
    worker.kill()
    worker.wait()
    record.refresh_from_db()
    assert record.state == PackageVersion.State.CHECKSUMMING and record.progress_done < len(OBJECTS)
    workers.append(start_worker(redis_server, folder, "second", **cluster["environment"]))
    wait_for(
        "the publish to be resumed by beat and finished",
        lambda: node().api("GET", f"/packages/{package['id']}/versions/1", token)[1]["state"] == "published",
    )
    record.refresh_from_db()
    assert record.attempts == 2

    # Share, open and with a password; download every file through alternating nodes.
    status, opened = node().api("POST", f"/packages/{package['id']}/shares", token, {})
    assert status == 201, opened
    status, locked = node().api("POST", f"/packages/{package['id']}/shares", token, {"password": PASSWORD})
    assert status == 201, locked
    share = Share.objects.get(token=opened["token"])
    status, urls, _ = node().request("GET", f"/s/{share.token}/urls.txt")
    assert status == 200
    listed = urls.decode().split()
    assert len(listed) == len(OBJECTS)
    resolves = 0
    for url in listed:
        path = urllib.parse.urlsplit(url).path
        status, _, headers = node().request("GET", path)
        resolves += 1
        assert status == 307, (path, status)
        name = path.rsplit("/r/", 1)[1]
        assert hashlib.sha256(fetch(headers["location"])).digest() == hashlib.sha256(OBJECTS[f"runs/{name}"]).digest()
    for name in ("part-00.bin", "part-01.bin"):
        status, _, headers = node().request("GET", f"/s/{locked['token']}/r/{name}", password=PASSWORD)
        assert status == 307 and fetch(headers["location"]) == OBJECTS[f"runs/{name}"]

    # Password limits are shared: wrong passwords on alternating nodes count together.
    wrong = [
        node().request("GET", f"/s/{locked['token']}/r/part-00.bin", password="not it")[0]
        for _ in range(settings.SHARE_UNLOCK_ATTEMPTS + 1)
    ]
    assert wrong == [401] * settings.SHARE_UNLOCK_ATTEMPTS + [429], wrong

    # A node SIGTERMed with counts in memory writes them; started again, it serves.
    for _ in range(6):
        assert nodes[1].request("GET", f"/s/{share.token}/r/part-02.bin")[0] == 307
        resolves += 1
    assert nodes[1].stop() == 0
    nodes[1].start()
    wait_for("every count", lambda: Share.objects.get(pk=share.pk).resolve_count == resolves, timeout=10)

    # Revoked on one node: both refuse within RESOLVE_CACHE_SECONDS.
    assert nodes[0].request("GET", f"/s/{share.token}/r/part-03.bin")[0] == 307  # cached on both
    assert nodes[1].request("GET", f"/s/{share.token}/r/part-03.bin")[0] == 307
    assert node().api("DELETE", f"/shares/{share.token}", token)[0] == 204
    revoked_at = time.monotonic()
    for each in nodes:
        wait_for("the revocation", lambda each=each: each.request("GET", f"/s/{share.token}/r/part-03.bin")[0] == 410)
    assert time.monotonic() - revoked_at < float(cluster["environment"]["RESOLVE_CACHE_SECONDS"]) + 1.5
    assert "Internal Server Error" not in nodes[0].tail(200_000) + nodes[1].tail(200_000)


def test_a_node_restarted_under_load_through_the_balancer_fails_no_request(
    cluster: dict[str, Any], owner: Any, seaweed: S3Server, s3_bucket: str
) -> None:
    nodes: list[Node] = cluster["nodes"]
    seaweed.client().put_object(Bucket=s3_bucket, Key="a.bin", Body=b"a" * 1000)
    package = packages.package_create(owner=owner, name="Load")
    packages.package_add_objects(
        package=package, source=make_source(owner, seaweed.source_fields(s3_bucket)), paths=[""]
    )
    publish(package)
    share = share_services.share_create(package=package, created_by=owner)
    paths = [(f"/s/{share.token}/r/a.bin", 307), (f"/s/{share.token}/urls.txt", 200)]

    def restart() -> None:
        assert nodes[1].stop() == 0
        nodes[1].start()

    result = load_run(Balancer(nodes), paths, clients=4, requests=300, during=restart)
    assert result.failed == 0, result.failures[:5]
    assert result.requests >= 300
