"""Parsing and rendering of untrusted bytes in worker processes with a time and a memory limit.

A README, a notebook or a data file chosen by whoever made a package can cost any amount of
CPU or memory to render or preview: a Markdown text of 16 KB of "[" takes minutes, a Parquet
file of a few hundred bytes can ask for gigabytes. A web worker must not pay that. `run`
hands the work to a small pool of worker processes (spawned once, reused), each under an
address-space limit (RLIMIT_AS) and, per job, a CPU-time limit (RLIMIT_CPU); the caller
waits at most a wall-clock budget, after which the worker is killed and replaced. Any of
these ends the job with `TooCostly`, which the caller turns into "too large or too slow".

A job that reads a stored object does not get the object's credentials: it gets a file
whose reads are sent back to the web process (`reader`), which makes the ranged requests
itself, under its own byte budget and deadline.

Settings: ISOLATION_WORKERS (processes per web process), ISOLATION_MEMORY_BYTES (address
space of each), ISOLATION_SECONDS (the default wall-clock budget of one job).
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from django.conf import settings

from web.files import ReadOnlyFile

# A worker serves this many jobs, then is replaced (a slow leak in a parser stays bounded).
JOBS_PER_WORKER = 500


class TooCostly(Exception):
    """The job went past its time or memory limit (or every worker stayed busy)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ReadFailed(Exception):
    """Raised in a worker when the web process refused or failed a read of the job's file."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# The worker's side -----------------------------------------------------------------------


class RemoteFile(ReadOnlyFile):
    """A read-only, seekable file in a worker whose reads the web process makes."""

    def __init__(self, connection: Connection, size: int) -> None:
        super().__init__(size)
        self.connection = connection

    def fetch(self, offset: int, length: int) -> bytes:
        self.connection.send(("read", offset, length))
        kind, value = self.connection.recv()
        if kind == "fail":
            raise ReadFailed(value)
        return bytes(value)


def main() -> None:
    """A worker process's entry point: `python -c "from web.isolation import main; main()" FD MEMORY`."""
    descriptor, memory_bytes = int(sys.argv[1]), int(sys.argv[2])
    _serve(Connection(descriptor), memory_bytes)


def _serve(connection: Connection, memory_bytes: int) -> None:
    """A worker's loop: one job at a time, answered with ("ok", value) or ("raise", error)."""
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    while True:
        try:
            function, args, seconds, file_size = connection.recv()
        except EOFError:
            return
        except Exception as error:  # a job whose function cannot be imported here
            connection.send(("raise", RuntimeError(f"{type(error).__name__}: {error}")))
            continue
        # CPU seconds count from the worker's start: the limit is what it used so far plus
        # this job's budget. Past it, the kernel ends the process (SIGXCPU).
        used = resource.getrusage(resource.RUSAGE_SELF)
        spent = int(used.ru_utime + used.ru_stime)
        resource.setrlimit(resource.RLIMIT_CPU, (spent + int(seconds) + 1, resource.RLIM_INFINITY))
        try:
            if file_size is not None:
                args = (RemoteFile(connection, file_size), *args)
            connection.send(("ok", function(*args)))
        except MemoryError:
            connection.send(("memory", None))
            return  # a worker that ran out of memory is not trusted with the next job
        except Exception as error:
            try:
                connection.send(("raise", error))
            except Exception:  # an exception that does not pickle
                connection.send(("raise", RuntimeError(f"{type(error).__name__}: {error}")))


# The web process's side ------------------------------------------------------------------


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    connection: Connection
    jobs: int = 0

    def stop(self) -> None:
        self.connection.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=5)


class _Pool:
    def __init__(self, size: int, memory_bytes: int) -> None:
        self.size, self.memory_bytes = size, memory_bytes
        self.idle: list[_Worker] = []
        self.running = 0
        self.changed = threading.Condition()

    def _start(self) -> _Worker:
        # A new interpreter, not a fork: the web process has threads and open connections a
        # fork would copy. It imports only what its jobs need, on the same module path.
        ours, theirs = socket.socketpair()
        command = [sys.executable, "-c", "from web.isolation import main; main()", str(theirs.fileno())]
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
        with theirs:
            process = subprocess.Popen(
                [*command, str(self.memory_bytes)], pass_fds=[theirs.fileno()], env=environment, close_fds=True
            )
        return _Worker(process, Connection(ours.detach()))

    def take(self, deadline: float) -> _Worker:
        with self.changed:
            while not self.idle and self.running >= self.size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TooCostly("Every preview worker is busy; try again in a minute.")
                self.changed.wait(remaining)
            self.running += 1
            if self.idle:
                return self.idle.pop()
        try:
            return self._start()
        except BaseException:
            self.give_back(None)
            raise

    def give_back(self, worker: _Worker | None) -> None:
        """A worker back in the pool, or None when it was stopped (a new one starts on demand)."""
        with self.changed:
            self.running -= 1
            if worker is not None:
                self.idle.append(worker)
            self.changed.notify()


_pool: _Pool | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _get_pool() -> _Pool:
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():  # a forked web worker makes its own
            _pool = _Pool(settings.ISOLATION_WORKERS, settings.ISOLATION_MEMORY_BYTES)
            _pool_pid = os.getpid()
        return _pool


def run(
    function: Callable[..., Any],
    *args: Any,
    seconds: float | None = None,
    reader: Callable[[int, int], bytes] | None = None,
    size: int = 0,
) -> Any:
    """function(*args) in a worker process, or TooCostly past `seconds` or the memory limit.

    `function` must be importable by name (a module-level function) and its arguments and
    result picklable. With `reader`, the function's first argument is a file of `size`
    bytes whose reads call reader(offset, length) here; an exception the reader raises
    ends the job and is raised again here.
    """
    budget = settings.ISOLATION_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + budget
    pool = _get_pool()
    worker: _Worker | None = pool.take(deadline)
    assert worker is not None
    read_error: BaseException | None = None
    try:
        worker.connection.send((function, args, budget, size if reader is not None else None))
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not worker.connection.poll(remaining):
                raise TooCostly("It took too long.")
            try:
                kind, value, *rest = worker.connection.recv()
            except (EOFError, OSError):
                raise TooCostly("It needed more memory or time than allowed.") from None
            if kind == "read":
                assert reader is not None
                try:
                    data = reader(value, rest[0])
                except Exception as error:
                    read_error = error
                    worker.connection.send(("fail", str(getattr(error, "message", error))))
                else:
                    worker.connection.send(("data", data))
                continue
            if kind == "memory":
                raise TooCostly("It needed more memory than allowed.")
            worker.jobs += 1
            done, worker = worker, None
            if done.jobs >= JOBS_PER_WORKER:
                done.stop()
            pool.give_back(done if done.jobs < JOBS_PER_WORKER else None)
            if read_error is not None:
                raise read_error
            if kind == "raise":
                raise value
            return value
    finally:
        if worker is not None:  # killed mid-job: its state is unknown
            worker.stop()
            pool.give_back(None)
