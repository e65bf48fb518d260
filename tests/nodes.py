"""Web nodes as production runs them: gunicorn with config/gunicorn.py (threaded workers),
on the test database, for tests and benchmarks of restarts, outages and several nodes.

A node's log goes to <folder>/<name>.log; `stop` is a SIGTERM (a process manager's
restart), `start` again on the same port.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        self,
        method: str,
        path: str,
        *,
        password: str = "",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 30,
    ) -> tuple[int, bytes, dict[str, str]]:
        """One request on a new connection: status, body, headers (lowercase names)."""
        sent = {"Host": "127.0.0.1", **(headers or {})}
        if password:
            sent["Authorization"] = "Basic " + b64encode(f"any:{password}".encode()).decode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            body = response.read()
            return response.status, body, {name.lower(): value for name, value in response.getheaders()}
        finally:
            connection.close()

    def api(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        """A call of the JSON API with a bearer token: status and decoded body."""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        status, content, _ = self.request(method, "/api/v1" + path, headers=headers, body=data)
        return status, json.loads(content) if content else None


class Balancer:
    """Round robin over the nodes, moving on to the next node when one refuses the
    connection or drops it before answering, as a proxy in front of them does (nginx's
    proxy_next_upstream for idempotent requests): what a user sees during a restart."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        self._turn = itertools.count()

    def request(self, method: str, path: str, **options: Any) -> tuple[int, bytes, dict[str, str]]:
        first = next(self._turn)
        error: OSError | None = None
        for offset in range(len(self.nodes)):
            node = self.nodes[(first + offset) % len(self.nodes)]
            try:
                return node.request(method, path, **options)
            except (OSError, http.client.HTTPException) as failed:  # refused, reset: the next node
                error = OSError(repr(failed))
        assert error is not None
        raise error


@dataclass
class LoadResult:
    requests: int
    failed: int
    seconds: float
    failures: list[str]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def load_run(
    balancer: Balancer,
    paths: list[tuple[str, int]],
    *,
    clients: int,
    requests: int,
    during: Callable[[], None] | None = None,
) -> LoadResult:
    """`clients` threads send `requests` GETs in all through the balancer, cycling over
    (path, expected status); `during` runs meanwhile (e.g. a node's restart) and the run
    lasts at least until it is done. A failure is an error on every node or an unexpected
    status."""
    lock = threading.Lock()
    sent = itertools.count()
    failures: list[str] = []
    done = [0]
    restarting = threading.Event()

    def client() -> None:
        while True:
            number = next(sent)
            if number >= requests and not restarting.is_set():
                return
            path, expected = paths[number % len(paths)]
            try:
                status = balancer.request("GET", path)[0]
                problem = "" if status == expected else f"{path}: {status}, not {expected}"
            except OSError as error:
                problem = f"{path}: {error}"
            with lock:
                done[0] += 1
                if problem:
                    failures.append(problem)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    if during is not None:
        restarting.set()
        try:
            while done[0] < requests // 3:  # a third of the load first
                time.sleep(0.01)
            during()
        finally:
            restarting.clear()
    for thread in threads:
        thread.join()
    return LoadResult(requests=done[0], failed=len(failures), seconds=time.monotonic() - started, failures=failures)
