"""Web nodes as production runs them: gunicorn with config/gunicorn.py (threaded workers),
on the test database, for tests and benchmarks of restarts, outages and several nodes.

A node's log goes to <folder>/<name>.log; `stop` is a SIGTERM (a process manager's
restart), `start` again on the same port.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from base64 import b64encode
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Node:
    name: str
    folder: Path
    environment: dict[str, str]
    port: int = field(default_factory=free_port)
    workers: int = 2
    threads: int = 4
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.log"

    def start(self) -> Node:
        command = [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi",
            "--config",
            str(ROOT / "config" / "gunicorn.py"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--graceful-timeout",
            "20",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.environment},
                cwd=ROOT,
            )
        wait_for_port(self.port, self.process, f"gunicorn {self.name}")
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        """Until every worker answers (the port listens before the workers have loaded Django)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer /healthz; log:\n{self.tail()}")

    def stop(self, timeout: float = 40) -> int:
        """SIGTERM, as a process manager restarting it; the exit status."""
        assert self.process is not None
        self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def tail(self, size: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    def request(
        self, method: str, path: str, *, password: str = "", headers: dict[str, str] | None = None, timeout: float = 30
    ) -> tuple[int, bytes, dict[str, str]]:
        """One request on a new connection: status, body, headers (lowercase names)."""
        sent = {"Host": "127.0.0.1", **(headers or {})}
        if password:
            sent["Authorization"] = "Basic " + b64encode(f"any:{password}".encode()).decode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, headers=sent)
            response = connection.getresponse()
            body = response.read()
            return response.status, body, {name.lower(): value for name, value in response.getheaders()}
        finally:
            connection.close()
