"""PostgreSQL restarted under load: requests in flight get a clear 503, never a 500, and
the app reconnects by itself (CONN_HEALTH_CHECKS) once the database is back.

Runs in the PostgreSQL pass of `make test` (`pytest -p tests.postgres_plugin`), against
gunicorn serving the test database with persistent connections, as in production.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from packager import services as packages
from packager.models import Package
from tests.conftest import ROOT
from tests.servers import ServerProcess
from tests.test_tasks_worker import database_url
from web.error_pages import DATABASE_UNAVAILABLE

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]
CLIENTS = 3


def call(port: int, token: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    server = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        server.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = server.getresponse()
        content = response.read()
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(content)
        return response.status, {"page": content.decode()}
    finally:
        server.close()


def wait_for_answers(answers: list[tuple[str, str, int, dict[str, Any]]], phase: str, count: int) -> None:
    deadline = time.monotonic() + 120
    while sum(answer[0] == phase for answer in answers) < count:
        assert time.monotonic() < deadline, f"fewer than {count} answers {phase} the restart"
        time.sleep(0.1)


def test_a_postgresql_restart_gives_503s_then_recovers(owner: Any, tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "restarts a database server, which SQLite has not; runs in make test's PostgreSQL pass "
            "(pytest -p tests.postgres_plugin), whose server it restarts"
        )
    from tests.postgres_plugin import _server as postgres

    _, token = packages.api_token_create(user=owner, name="restart")
    environment = {
        "DATABASE_URL": database_url(),
        "DEBUG": "0",
        "SECRET_KEY": "restart-test-key",
        "PACKAGER_VAR_DIR": str(tmp_path),
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    gunicorn = ServerProcess.spawn(
        "gunicorn",
        lambda port: [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            str(CLIENTS),
        ],
        environment={**os.environ, **environment},
        cwd=ROOT,
    )
    answers: list[tuple[str, str, int, dict[str, Any]]] = []
    phase = ["before"]
    stop, paused, lock = threading.Event(), threading.Event(), threading.Lock()
    in_flight = [0]

    def client(number: int) -> None:
        round_number = 0
        while not stop.is_set():
            round_number += 1
            for method, path, body in [
                ("GET", "/api/v1/packages", None),
                ("POST", "/api/v1/packages", {"name": f"client {number} round {round_number}"}),
                ("GET", "/s/no-such-share/", None),  # a page (HTML), not the API
            ]:
                while paused.is_set() and not stop.is_set():
                    time.sleep(0.05)
                current = phase[0]
                with lock:
                    in_flight[0] += 1
                try:
                    status, content = call(gunicorn.port, token, method, path, body)
                except OSError as error:
                    status, content = 0, {"detail": repr(error)}
                finally:
                    with lock:
                        in_flight[0] -= 1
                answers.append((current, method, status, content))
            time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        wait_for_answers(answers, "before", CLIENTS * 2)
        phase[0] = "restarting"
        postgres.restart()
        phase[0] = "recovering"
        time.sleep(1)  # requests that were already waiting on the old connections finish
        phase[0] = "between"
        wait_for_answers(answers, "between", CLIENTS * 3)
        # A quiet restart: no request in flight, every persistent connection now dead. The
        # health check at the start of each request notices and reconnects: no request fails.
        paused.set()
        while in_flight[0]:
            time.sleep(0.05)
        postgres.restart()
        phase[0] = "after"
        paused.clear()
        wait_for_answers(answers, "after", CLIENTS * 6)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        gunicorn.stop()
        connection.close()  # this process's connection died with the restart too

    statuses = {(phase_name, status) for phase_name, _, status, _ in answers}
    # Under load: requests in flight may get a 503 with a clear message, never a 500.
    assert not [answer for answer in answers if answer[2] not in {200, 201, 404, 503}], answers[-20:]
    assert {("before", 200), ("before", 201)} <= statuses, sorted(statuses)
    assert any(status == 404 for _, status in statuses)  # the page was served too
    # Once the database is back, every request succeeds: the app reconnected by itself.
    for settled in ("between", "after"):
        answered = [answer for answer in answers if answer[0] == settled]
        assert all(status in {200, 201, 404} for _, _, status, _ in answered), answered[:10]
    # Whatever failed said why, and a refused write wrote nothing.
    unavailable = [content for _, _, status, content in answers if status == 503]
    assert all(DATABASE_UNAVAILABLE in content.get("detail", content.get("page", "")) for content in unavailable)
    created = sum(1 for _, method, status, _ in answers if method == "POST" and status == 201)
    assert Package.objects.count() == created
