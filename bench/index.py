"""The index task against a bare paged ListObjectsV2 of the same moto bucket, interleaved.

Prints, for each round, the wall time and this process's CPU time (the client: boto3
parsing, building rows, the database writes of SQLite in process) of a bare paged listing
and of the index task (the first round fills an empty index, later rounds re-index: upserts
in place), and their ratios. Goal: the index costs at most 1.25x the bare listing.

The bare listing is what a script would do: a default boto3 client's paginator. A third row
lists through the index's own client (sources.backends.s3, whose timestamp reader is faster
than botocore's), so the ratio of the index to it is what the database writes add.

    make bench-index            # 200,000 objects, 2 rounds, SQLite then PostgreSQL
    .venv/bin/python bench/index.py --objects 50000 --rounds 3 --databases sqlite

On PostgreSQL the database works in its own process: the CPU figures then add the CPU time
of the server process serving the benchmark's connection (from /proc), so both databases
count the writes' CPU.

The bucket lives in a separate moto process (bench/bulk_bucket.py), filled in memory and
answering listings without moto's per-page whole-bucket sort; the server's cost is the same
for both runs of a round.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PACKAGER_VAR_DIR", tempfile.mkdtemp(prefix="packager-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["SOURCE_ENDPOINT_ALLOWLIST"] = "127.0.0.1"
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.databases import run_per_database  # noqa: E402
from bench.layout import BulkBucket  # noqa: E402
from sources import clients, indexing, services  # noqa: E402
from sources.models import Source, SourceObject  # noqa: E402

BUCKET = "bench-index"
OWN_LISTING = "listing, the index's client"


def database_cpu() -> float:
    """CPU seconds of the PostgreSQL server process serving this connection (0 on SQLite,
    whose work is this process's own)."""
    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def timed(run: Callable[[], int]) -> tuple[float, float, int]:
    start_wall, start_cpu, start_database = time.perf_counter(), time.process_time(), database_cpu()
    count = run()
    cpu = time.process_time() - start_cpu + database_cpu() - start_database
    return time.perf_counter() - start_wall, cpu, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.child:
        forwarded = [f"--objects={args.objects}", f"--rounds={args.rounds}", "--child"]
        for database in args.databases.split(","):
            print(f"== {database}", flush=True)
            run_per_database([database], lambda database: [__file__, *forwarded])
        return

    call_command("migrate", verbosity=0)
    print(f"filling a moto bucket with {args.objects:,} objects…", flush=True)
    bucket = BulkBucket(BUCKET, args.objects)
    try:
        user = get_user_model().objects.create_user("bench")
        source = services.source_create(
            owner=user,
            kind="s3",
            fields={"name": "bench", "bucket": BUCKET, "endpoint_url": bucket.endpoint_url, "addressing_style": "path"},
            credentials={"access_key_id": "bench", "secret_access_key": "bench-secret"},
            index=False,
        )
        default_client = bucket.client()
        index_client = clients.backend_for(source).client  # type: ignore[attr-defined]

        def listing(client: object) -> Callable[[], int]:
            def run() -> int:
                count = 0
                for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):  # type: ignore[attr-defined]
                    count += len(page.get("Contents", []))
                return count

            return run

        def index_task() -> int:
            Source.objects.filter(pk=source.pk).update(status=Source.Status.QUEUED)
            assert indexing.source_index(source_pk=source.pk)
            return Source.objects.get(pk=source.pk).object_count

        print(f"{'round':<6} {'run':<30} {'wall s':>8} {'cpu s':>8} {'objects':>9}  ratio wall / cpu")
        for round_number in range(1, args.rounds + 1):
            bare_wall, bare_cpu, bare_count = timed(listing(default_client))
            index_wall, index_cpu, index_count = timed(index_task)
            own_wall, own_cpu, own_count = timed(listing(index_client))
            indexed = SourceObject.objects.filter(source=source, is_dir=False, vanished_at__isnull=True).count()
            assert bare_count == index_count == own_count == indexed == args.objects, (bare_count, index_count)
            name = "index (empty table)" if round_number == 1 else "re-index (no change)"
            print(f"{round_number:<6} {'bare list_objects_v2':<30} {bare_wall:8.2f} {bare_cpu:8.2f} {bare_count:9,}")
            print(
                f"{round_number:<6} {name:<30} {index_wall:8.2f} {index_cpu:8.2f} {index_count:9,}"
                f"  {index_wall / bare_wall:.2f}x / {index_cpu / bare_cpu:.2f}x",
            )
            print(
                f"{round_number:<6} {OWN_LISTING:<30} {own_wall:8.2f} {own_cpu:8.2f} {own_count:9,}"
                f"  index / this: {index_wall / own_wall:.2f}x / {index_cpu / own_cpu:.2f}x",
                flush=True,
            )
    finally:
        bucket.stop()


if __name__ == "__main__":
    main()
