"""Run a benchmark once per database, each in a child process of its own.

Django reads DATABASE_URL once, when it starts: so the SQLite run gets a fresh folder of its
own (deleted afterwards: a million-row file is large) and the PostgreSQL run a server of its
own, started and stopped around it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable


def run_per_database(databases: Iterable[str], command: Callable[[str], list[str]]) -> None:
    """Run `python <command(database)>` for each database ("sqlite" or "postgresql")."""
    for database in databases:
        var_dir = tempfile.mkdtemp(prefix="packager-bench-")
        environment = {**os.environ, "PACKAGER_VAR_DIR": var_dir}
        server = None
        if database == "postgresql":
            from tests.servers import PostgresServer

            server = PostgresServer.start()
            environment["DATABASE_URL"] = server.url
        else:
            environment.pop("DATABASE_URL", None)
        try:
            subprocess.run([sys.executable, *command(database)], env=environment, check=True)
        finally:
            if server is not None:
                server.stop()
            shutil.rmtree(var_dir, ignore_errors=True)
