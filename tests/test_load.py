"""The database under load: an index of 200,000 objects while clients browse, resolve and share.

The index runs in a process of its own (as a Celery worker runs it), the clients talk HTTP to the live server (one
thread and one database connection per request), and every answer must be the expected
one: no "database is locked", no 500, no timeout. On SQLite this needs WAL (readers do not
wait for the writer) and immediate transactions (a writer waits for the lock instead of
failing when it cannot upgrade a read).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from packager import services as packages
from shares import services as shares
from sources.models import Source, SourceObject
from tests.conftest import ROOT
from tests.factories import make_local_source, write_files
from tests.test_tasks_worker import database_url

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

FOLDERS = 200
FILES_PER_FOLDER = 1000  # 200,000 objects
CLIENTS = 4
PAUSE = 0.3  # seconds between a client's rounds of five requests


def make_tree(root: Path) -> None:
    for folder in range(FOLDERS):
        directory = root / f"run-{folder:03d}"
        directory.mkdir(parents=True, exist_ok=True)
        for index in range(FILES_PER_FOLDER):
            # Empty files: the index reads names and sizes, never contents.
            os.close(os.open(directory / f"part-{index:04d}.csv", os.O_CREAT | os.O_WRONLY, 0o644))


class Client:
    """Plain HTTP to the live server, one connection per thread, no redirects followed."""

    def __init__(self, base_url: str, token: str) -> None:
        address = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> tuple[int, bytes]:
        headers = dict(self.headers) if auth else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.connection.request(method, quote(path, safe="/?=&"), body=data, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()


@pytest.fixture
def scratch(tmp_path: Path, settings: Any) -> Iterator[Path]:
    """A folder on tmpfs when there is one: the test is about the database, not the disk."""
    folder = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else tmp_path))
    settings.LOCAL_SOURCE_ROOTS = [*settings.LOCAL_SOURCE_ROOTS, str(folder)]  # local sources live under roots
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_an_index_of_200000_objects_runs_while_clients_browse_resolve_and_share(
    live_server: Any, owner: Any, tmp_path: Path, scratch: Path, settings: Any
) -> None:
    settings.LOCAL_SOURCE_ROOTS = [*settings.LOCAL_SOURCE_ROOTS, str(scratch)]
    # A package shared from a small source, and the big source: indexed once small, so
    # that it is browsable while its re-index writes 200,000 rows.
    write_files(tmp_path / "small", {"a.csv": b"alpha\n", "b.csv": b"beta\n"})
    small = make_local_source(owner, tmp_path / "small", name="small")
    package = packages.package_create(owner=owner, name="Shared")
    packages.package_add_objects(package=package, source=small, paths=["a.csv", "b.csv"])
    share = shares.share_create(package=package, created_by=owner)
    big_root = scratch
    write_files(big_root, {"run-000/seed.csv": b"seed"})
    big = make_local_source(owner, big_root, name="big")
    make_tree(big_root)
    _, token = packages.api_token_create(user=owner, name="load")

    # The index runs in a process of its own, as a worker runs it, on the same database.
    log = (tmp_path / "index.log").open("wb")
    indexer = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "shell",
            "-c",
            f"from sources import indexing; assert indexing.source_index(source_pk={big.pk})",
        ],
        env={
            **os.environ,
            "DATABASE_URL": database_url(),
            "PACKAGER_VAR_DIR": str(tmp_path),
            "LOCAL_SOURCE_ROOTS": str(scratch),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    answers: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        http = Client(live_server.url, token)
        round_number = 0
        while indexer.poll() is None or round_number < 2:
            round_number += 1
            time.sleep(PAUSE)  # people between clicks: the indexer gets its share of the two cores
            folder = f"run-{(number * 37 + round_number) % FOLDERS:03d}/"
            calls = [
                ("browse", "GET", f"/api/v1/sources/{big.public_id}/objects?prefix={folder}&limit=100", None, {200}),
                ("browse", "GET", f"/api/v1/sources/{big.public_id}/objects?limit=100", None, {200}),
                ("resolve", "GET", f"/s/{share.token}/r/a.csv", None, {302, 307}),
                ("entries", "GET", f"/api/v1/packages/{package.public_id}/entries", None, {200}),
                ("share", "POST", f"/api/v1/packages/{package.public_id}/shares", {"label": f"c{number}"}, {201}),
            ]
            for kind, method, path, body, expected in calls:
                try:
                    status, content = http.request(method, path, body, auth=kind != "resolve")
                except Exception as error:  # a timeout or a dropped connection is a failure too
                    with lock:
                        failures.append(f"{method} {path}: {type(error).__name__}: {error}")
                    http = Client(live_server.url, token)
                    continue
                with lock:
                    answers[(kind, status)] += 1
                    if status not in expected:
                        failures.append(f"{method} {path}: {status} {content[:300]!r}")

    clients = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
    started = time.monotonic()
    for thread in clients:
        thread.start()
    try:
        indexer.wait(timeout=600)
    finally:
        if indexer.poll() is None:
            indexer.kill()
        for thread in clients:
            thread.join(timeout=120)
        log.close()
    elapsed = time.monotonic() - started

    assert indexer.returncode == 0, (tmp_path / "index.log").read_text()[-3000:]
    assert failures == [], failures[:10]
    big.refresh_from_db()
    assert big.status == Source.Status.READY
    assert big.object_count == FOLDERS * FILES_PER_FOLDER + 1  # and the seed
    assert SourceObject.objects.filter(source=big, is_dir=False).count() == big.object_count
    # The clients kept working throughout, not only before and after the index.
    for kind in ("browse", "resolve", "entries", "share"):
        assert sum(count for (name, _), count in answers.items() if name == kind) >= CLIENTS * 2, answers
    assert package.shares.count() == 1 + answers[("share", 201)]
    print(f"index of {big.object_count} objects with {CLIENTS} clients: {elapsed:.1f}s, {dict(answers)}")
