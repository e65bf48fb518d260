"""`pytest -p tests.postgres_plugin`: run the tests against a PostgreSQL server of their own.

The server is started and DATABASE_URL set before Django reads its settings, and stopped
when the session ends. Under pytest-xdist every worker starts a server of its own (the
controller, which runs no test, starts none), so a test that restarts its server
(tests/test_database_restart.py) disturbs no other worker.
"""

from __future__ import annotations

import os

import pytest

from tests.servers import PostgresServer

_server: PostgresServer | None = None


@pytest.hookimpl(tryfirst=True)  # before pytest-django's, which reads the settings
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    global _server
    is_xdist_controller = "PYTEST_XDIST_WORKER" not in os.environ and bool(
        getattr(parser.parse_known_args(args), "numprocesses", None)
    )
    if is_xdist_controller:
        return
    _server = PostgresServer.start()
    os.environ["DATABASE_URL"] = _server.url


def pytest_report_header() -> str:
    if _server is None:
        return "database: PostgreSQL, a server per xdist worker"
    return f"database: PostgreSQL on 127.0.0.1:{_server.port}"


@pytest.hookimpl(trylast=True)
def pytest_unconfigure() -> None:
    if _server is not None:
        _server.stop()


# Fixtures through which a test reaches the database; a test that asks for none of them
# (nor carries the django_db mark) cannot touch it, and ran the same in the SQLite pass.
_DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests that do not use the database, but for system tests, which run in
    this pass only: this pass is for what differs by database, and for the whole system."""
    kept, left_out = [], []
    for item in items:
        uses_database = item.get_closest_marker("django_db") is not None or bool(
            _DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
        )
        is_system = item.get_closest_marker("system") is not None
        (kept if uses_database or is_system else left_out).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
