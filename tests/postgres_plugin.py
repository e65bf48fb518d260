"""`pytest -p tests.postgres_plugin`: run the suite against a PostgreSQL server of its own.

Loaded before Django reads its settings, so the server is started and DATABASE_URL set
before the database is configured; the server is stopped when the session ends.
"""

from __future__ import annotations

import os

import pytest

from tests.servers import PostgresServer

_server = PostgresServer.start()
os.environ["DATABASE_URL"] = _server.url


def pytest_report_header() -> str:
    return f"database: PostgreSQL on 127.0.0.1:{_server.port}"


@pytest.hookimpl(trylast=True)
def pytest_unconfigure() -> None:
    _server.stop()
