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


# Fixtures through which a test reaches the database; a test that asks for none of them
# (nor carries the django_db mark) cannot touch it, and ran the same in the SQLite pass.
_DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests that do not use the database: this pass is for what differs."""
    kept, left_out = [], []
    for item in items:
        uses_database = item.get_closest_marker("django_db") is not None or bool(
            _DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
        )
        (kept if uses_database else left_out).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
