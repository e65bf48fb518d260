"""The exports of a large published version, served by gunicorn (2 workers) on SQLite and on
PostgreSQL. `make bench-export` runs it; `--sizes 20000,200000` makes it quicker.

For each database it generates published versions of SIZE data entries straight as rows
(then computes their exports with packager.exports.version_prepare, as publishing does),
and prints:
- urls.txt: the full download of the small version, and the first byte of the large one;
- manifest.jsonl: the full download of the small version;
- download.zip of the small version against bare zipstream-ng writing the same members
  (names and bytes read from that very archive) in this process, in the same run, and
  the ratio (the issue asks for at most 1.0);
- download.zip of the large version: the first byte, the HEAD time, the full download and
  how much the serving worker's memory grew meanwhile.

Publishing itself (with the exports' share of it) is measured by bench/publish.py.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import run_per_database  # noqa: E402

# For the benchmark's own processes and its gunicorn, which sign nothing that outlives them.
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="entries of the small and the large version")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run(args)
        return
    databases = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    run_per_database(databases, lambda database: [__file__, "--child", "--database", database, "--sizes", args.sizes])


# One database ----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    os.environ.setdefault("PACKAGER_VAR_DIR", tempfile.mkdtemp(prefix="packager-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    small, large = (int(size) for size in args.sizes.split(","))
    print(f"\n== {args.database}: versions of {small:,} and {large:,} data entries ==", flush=True)
    shares = {size: make_share(size) for size in (small, large)}
    with Gunicorn() as server:
        base = {size: f"/s/{token}/" for size, token in shares.items()}
        server.warm(base[small] + "urls.txt")

        urls_seconds = median(lambda: server.get(base[small] + "urls.txt")[0], 3)
        first_byte, _, _ = server.first_byte(base[large] + "urls.txt")
        print(f"urls.txt, {small:,} entries:        {urls_seconds:7.3f} s   (issue: <= 0.5 s)")
        print(f"urls.txt, {large:,} entries, first byte: {first_byte:7.3f} s   (issue: <= 0.5 s)")
        manifest_seconds = median(lambda: server.get(base[small] + "manifest.jsonl")[0], 3)
        print(f"manifest.jsonl, {small:,} entries:  {manifest_seconds:7.3f} s   (issue: <= 1 s)")

        zip_seconds, archive = server.get(base[small] + "download.zip")
        zip_seconds = min(zip_seconds, median(lambda: server.get(base[small] + "download.zip")[0], 2))
        bare_seconds = bare_zipstream_ng(archive)
        print(
            f"download.zip, {small:,} entries:    {zip_seconds:7.3f} s   bare zipstream-ng, same members: "
            f"{bare_seconds:.3f} s   ratio {zip_seconds / bare_seconds:.2f} (issue: <= 1.0)"
        )
        del archive

        head_seconds = median(lambda: server.head(base[large] + "download.zip"), 5)
        with server.memory_watch() as growth:
            first_byte, total_seconds, size = server.first_byte(base[large] + "download.zip")
        print(f"download.zip, {large:,} entries: HEAD {head_seconds * 1000:6.1f} ms (issue: <= 100 ms)")
        print(f"  first byte {first_byte:.3f} s (issue: <= 1 s), whole {size / 1e6:,.0f} MB in {total_seconds:.1f} s")
        print(f"  worker memory growth: {growth.megabytes:.1f} MB (issue: <= 50 MB)")


def median(call: Any, repeat: int) -> float:
    from bench.timing import median_seconds

    return median_seconds(call, repeat)


def owner_and_source() -> tuple[Any, Any]:
    from django.contrib.auth import get_user_model

    from sources.models import Source

    user, _ = get_user_model().objects.get_or_create(username="bench")
    source, _ = Source.objects.get_or_create(
        owner=user, name="bench", kind="local", defaults={"local_path": tempfile.gettempdir()}
    )
    return user, source


def make_share(size: int) -> str:
    """A share of a version of `size` data entries, published without reading any object."""
    from django.utils import timezone

    from packager import exports
    from packager.models import Package, PackageVersion
    from shares.models import Share
    from tests.factories import add_version_entries

    user, source = owner_and_source()
    package = Package.objects.create(owner=user, name=f"bench {size}", slug=f"bench-{size}")
    version = PackageVersion.objects.create(
        package=package, number=1, entry_count=size, file_count=size, total_size=size * (size - 1) // 2
    )
    started = time.perf_counter()
    add_version_entries(version, size, source_id=source.pk, first_position=0, folder="data/")
    inserted = time.perf_counter() - started
    started = time.perf_counter()
    prepared = exports.version_prepare(version=version)
    prepare_seconds = time.perf_counter() - started
    PackageVersion.objects.filter(pk=version.pk).update(
        state=PackageVersion.State.PUBLISHED, published_at=timezone.now(), top_hash="0" * 64, exports=prepared
    )
    Package.objects.filter(pk=package.pk).update(latest_version=version)
    print(
        f"generated {size:,} rows in {inserted:.1f} s; exports computed at publish (version_prepare) "
        f"in {prepare_seconds:.1f} s",
        flush=True,
    )
    return Share.objects.create(package=package, created_by=user).token


def bare_zipstream_ng(archive: bytes) -> float:
    """Bare zipstream-ng writing the members of `archive` (names and bytes in memory)."""
    from zipstream import ZipStream

    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        members = [(info.filename, opened.read(info)) for info in opened.infolist()]

    def write() -> None:
        stream = ZipStream(sized=True)
        for name, data in members:
            stream.add(data, name)
        written = sum(len(chunk) for chunk in stream)
        assert written == len(stream) == len(archive), (written, len(archive))

    return median(write, 2)


# The live server -------------------------------------------------------------------------


class Growth:
    megabytes = 0.0


class Gunicorn:
    """gunicorn with 2 sync workers on 127.0.0.1, with the benchmark's database and settings."""

    def __enter__(self) -> Gunicorn:
        from tests.servers import free_port, wait_for_port

        self.port = free_port()
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.process = subprocess.Popen(
            [str(gunicorn), "config.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{self.port}", "--timeout", "600"],
            cwd=ROOT,
            # The download limits (a 429 per client past its budget) are off: this times the exports.
            env={
                **os.environ,
                "ALLOWED_HOSTS": "127.0.0.1",
                "LOG_LEVEL": "WARNING",
                "DOWNLOAD_LIMIT_PER_CLIENT": "0",
                "DOWNLOAD_LIMIT_PER_SHARE": "0",
            },
            stderr=(Path(os.environ["PACKAGER_VAR_DIR"]) / "gunicorn.log").open("w"),
        )
        wait_for_port(self.port, self.process, "gunicorn")
        return self

    def __exit__(self, *exc: object) -> None:
        from tests.servers import stop_process

        stop_process(self.process)

    def warm(self, path: str) -> None:
        """A worker's first request loads the URL modules (the API's schemas): seconds. Send
        requests two at a time, so that both workers have served some before timing."""
        for _ in range(3):
            threads = [threading.Thread(target=self.get, args=(path,)) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def get(self, path: str) -> tuple[float, bytes]:
        started = time.perf_counter()
        connection = self._connection()
        connection.request("GET", path)
        response = connection.getresponse()
        data = response.read()
        seconds = time.perf_counter() - started
        assert response.status == 200, (path, response.status, data[:300])
        assert int(response.headers["Content-Length"]) == len(data)
        connection.close()
        return seconds, data

    def head(self, path: str) -> float:
        started = time.perf_counter()
        connection = self._connection()
        connection.request("HEAD", path)
        response = connection.getresponse()
        response.read()
        assert response.status == 200 and int(response.headers["Content-Length"]) > 0
        connection.close()
        return time.perf_counter() - started

    def first_byte(self, path: str) -> tuple[float, float, int]:
        """Seconds to the first byte of the body, seconds to the last, and the length."""
        started = time.perf_counter()
        connection = self._connection()
        connection.request("GET", path)
        response = connection.getresponse()
        size = len(response.read(1))
        first = time.perf_counter() - started
        while chunk := response.read(1 << 20):
            size += len(chunk)
        assert response.status == 200 and int(response.headers["Content-Length"]) == size
        connection.close()
        return first, time.perf_counter() - started, size

    def _workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def memory_watch(self) -> _MemoryWatch:
        return _MemoryWatch(self._workers())


def _rss_kilobytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class _MemoryWatch:
    """The largest growth of any worker's resident memory while the block runs."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.growth = Growth()
        self._stop = threading.Event()

    def __enter__(self) -> Growth:
        self.before = {pid: _rss_kilobytes(pid) for pid in self.pids}
        self.peak = dict(self.before)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self.growth

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], _rss_kilobytes(pid))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.growth.megabytes = max(self.peak[pid] - self.before[pid] for pid in self.pids) / 1024


if __name__ == "__main__":
    main()
