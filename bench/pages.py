"""Folder pages of a 1,000,000-entry package (the curator's draft) and of its published
version (the share page): p95 over 50 requests per folder through the views (Django's test
client: middleware, view, template), with the number of queries each page costs.

The baseline, measured in the same run, is the whole-package read the previous folder
view made on every request (every path and size of the package); it is timed a few times
only, since each costs seconds at this size. `make bench-pages` runs it on SQLite and on
a PostgreSQL server of its own (`--postgres`, as the test suite starts one).

Rows are generated with multi-row INSERTs; the folder aggregates come from the real
code (package_folders_rebuild for the draft, the same totals for the version).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PACKAGER_VAR_DIR", tempfile.mkdtemp(prefix="packager-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ["ALLOWED_HOSTS"] = "testserver"

GOAL_MS = 50.0
REQUESTS = 50


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries in the package and its version")
    parser.add_argument("--flat", type=int, default=200_000, help="of which files in one flat folder")
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--baseline-repeat", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="start a PostgreSQL server and run on it")
    parser.add_argument("--explain", action="store_true", help="print the plan of every query over 5 ms")
    return parser.parse_args()


ARGS = parse()
if ARGS.postgres:
    from tests.servers import PostgresServer

    POSTGRES: Any = PostgresServer.start()
    os.environ["DATABASE_URL"] = POSTGRES.url

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, models, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from packager.models import (  # noqa: E402
    Package,
    PackageEntry,
    PackageFolder,
    PackageVersion,
    VersionEntry,
    VersionFolder,
)
from packager.paths import add_to_folders  # noqa: E402
from packager.services import package_folders_rebuild  # noqa: E402
from shares.models import Share  # noqa: E402
from web.cursors import encode_cursor  # noqa: E402
from web.paths import folder_of  # noqa: E402

ROWS_PER_INSERT = 500


def insert_rows(model: type[models.Model], rows: Iterable[dict[str, Any]]) -> int:
    """Multi-row INSERTs. Row values are plain strings and integers, which every backend
    takes as they are; the columns a row leaves out get their default, prepared once."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    now = timezone.now()
    defaults = {
        field.attname: field.get_db_prep_save(
            now if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False) else field.get_default(),
            connection,
        )
        for field in fields
    }
    names = [field.attname for field in fields]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    statement = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    count = 0
    batch: list[Any] = []

    def flush() -> None:
        with connection.cursor() as cursor:
            cursor.execute(statement + ", ".join([placeholders] * (len(batch) // len(fields))), batch)

    for row in rows:
        batch.extend([row[name] if name in row else defaults[name] for name in names])
        count += 1
        if count % ROWS_PER_INSERT == 0:
            flush()
            batch = []
    if batch:
        flush()
    return count


def layout(total: int, flat: int) -> Iterator[tuple[str, int]]:
    """(path, size): README.md, `flat` files in flat/, the rest 1,000 to a nested folder."""
    yield "README.md", 0
    for index in range(flat):
        yield f"flat/f{index:07d}.bin", 1000 + index
    for index in range(total - flat - 1):
        yield f"nested/g{index // 1000:04d}/f{index % 1000:04d}.bin", 2000 + index


def build(user: Any) -> tuple[Package, PackageVersion]:
    readme = default_storage.save("bench/README.md", ContentFile(b"# A million files\n\nRead me first."))
    package = Package.objects.create(owner=user, name="Million", slug="million")
    paths = sorted(layout(ARGS.entries, ARGS.flat), key=lambda row: row[0])  # code-point order

    def row(path: str, size: int, **more: Any) -> dict[str, Any]:
        """The columns drafts and versions share, and `more` of the table's own."""
        kind = "text" if path == "README.md" else "pointer"
        shared = {"path": path, "parent": folder_of(path), "kind": kind, "size": size}
        return shared | {"sha256": "0" * 64, "md5": "0" * 32} | more

    def text(path: str) -> str:
        return readme if path == "README.md" else ""

    insert_rows(PackageEntry, (row(path, size, package_id=package.pk, text_file=text(path)) for path, size in paths))
    package_folders_rebuild(package=package)
    version = PackageVersion.objects.create(
        package=package,
        number=1,
        state=PackageVersion.State.PUBLISHED,
        published_at=timezone.now(),
        top_hash="a" * 64,
        entry_count=len(paths),
        file_count=len(paths) - 1,
        total_size=sum(size for _, size in paths),
    )
    insert_rows(
        VersionEntry,
        (
            row(path, size, package_version_id=version.pk, position=position, text_name=text(path))
            for position, (path, size) in enumerate(paths)
        ),
    )
    totals: dict[str, list[int]] = {}
    for path, size in paths:
        add_to_folders(totals, path, size)
    VersionFolder.objects.bulk_create(
        (
            VersionFolder(package_version=version, path=path, parent=folder_of(path), size=size, file_count=count)
            for path, (size, count) in totals.items()
            if path
        ),
        batch_size=2000,
    )
    Package.objects.filter(pk=package.pk).update(latest_version=version)
    return package, version


class QueryCounter:
    """Counts the queries a request makes (a database execute wrapper)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Callable[..., Any], *args: Any) -> Any:
        self.count += 1
        return execute(*args)


def percentile95(timings: list[float]) -> float:
    return statistics.quantiles(timings, n=20, method="inclusive")[-1]


def timed(run: Callable[[], Any], repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each run (CPU time of this process: what the view and
    SQLite cost, less blurred by other work on a busy machine)."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


def explain_slow_queries(run: Callable[[], Any]) -> None:
    from django.test.utils import CaptureQueriesContext

    run()
    with CaptureQueriesContext(connection) as captured:
        run()
    for query in captured.captured_queries:
        if float(query["time"]) * 1000 > 5:
            print(f"  {float(query['time']) * 1000:.1f} ms: {query['sql'][:300]}")
            prefix = "EXPLAIN ANALYZE " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
            with connection.cursor() as cursor:
                cursor.execute(prefix + query["sql"])
                for row in cursor.fetchall():
                    print("    " + " | ".join(str(value) for value in row))


def main() -> None:
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench")
    start = time.perf_counter()
    with transaction.atomic():
        package, version = build(user)
    build_seconds = time.perf_counter() - start
    share = Share.objects.create(package=package, created_by=user)
    owner = Client()
    owner.force_login(user)
    visitor = Client()
    last_flat = encode_cursor("f", f"flat/f{ARGS.flat - 51:07d}.bin")
    folders = [
        ("top (README)", {}),
        (f"nested/ ({-(-(ARGS.entries - ARGS.flat - 1) // 1000):,} subfolders)", {"path": "nested/"}),
        ("a nested folder", {"path": f"nested/g{(ARGS.entries - ARGS.flat) // 2000:04d}/"}),
        (f"flat/ first page of {ARGS.flat:,}", {"path": "flat/"}),
        ("flat/ last page", {"path": "flat/", "cursor": last_flat}),
    ]
    pages = [
        ("package page", owner, reverse("package_detail", args=[package.public_id])),
        ("share page", visitor, reverse("share_page", args=[share.token])),
    ]

    def whole_package_read() -> None:
        list(PackageEntry.objects.filter(package=package).values_list("path", "size"))

    baseline, _ = timed(whole_package_read, ARGS.baseline_repeat)
    baseline_ms = statistics.median(baseline)
    print(f"database: {connection.vendor}; {version.entry_count:,} entries, {PackageFolder.objects.count():,} folders")
    print(f"rows generated in {build_seconds:.1f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"baseline, the whole-package read of the previous view: median {baseline_ms:.0f} ms ({len(baseline)} runs)")
    print(
        f"{'page':<14}{'folder':<32}{'queries':>8}{'median ms':>11}{'p95 ms':>9}{'cpu ms':>8}{'baseline/p95':>14}  goal"
    )
    worst = 0.0
    for page_name, client, url in pages:
        for folder_name, query in folders:
            queries = QueryCounter()
            with connection.execute_wrapper(queries):
                response = client.get(url, query)
            assert response.status_code == 200, (page_name, folder_name, response.status_code)
            if ARGS.explain:
                explain_slow_queries(lambda client=client, url=url, query=query: client.get(url, query))
            timings, cpu = timed(lambda client=client, url=url, query=query: client.get(url, query), ARGS.requests)
            p95 = percentile95(timings)
            worst = max(worst, p95)
            verdict = "ok" if p95 <= GOAL_MS else "MISSED"
            print(
                f"{page_name:<14}{folder_name:<32}{queries.count:>8}{statistics.median(timings):>11.1f}"
                f"{p95:>9.1f}{statistics.median(cpu):>8.1f}{baseline_ms / p95:>13.0f}x  {verdict} (≤ {GOAL_MS:.0f} ms)"
            )
    print(f"worst p95: {worst:.1f} ms over {ARGS.requests} requests per folder; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    started = dt.datetime.now()
    try:
        main()
    finally:
        from shares.access_log import access_log_flush

        access_log_flush()  # the share page views counted, written while the database runs
        if ARGS.postgres:
            POSTGRES.stop()
    print(f"ran in {(dt.datetime.now() - started).total_seconds():.0f} s")
