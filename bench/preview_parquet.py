"""Parquet previews: bytes and requests to show the schema and first rows of a large file.

packager reads through `sources.previews.RangedFile` (each read one ranged GET through the
source's own boto3 client). The baseline is pyarrow over s3fs, the design card's fsspec
filesystem, as it comes (s3fs reads ahead in 50 MB blocks) and tuned to small blocks.
Runs on a moto server; `make bench-preview` (s3fs lives in the bench virtualenv).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

import boto3  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import s3fs  # noqa: E402
from botocore.client import Config  # noqa: E402

from bench.timing import median_seconds  # noqa: E402
from sources.backends.s3 import S3Backend  # noqa: E402
from sources.previews import PARQUET_ROWS, RangedFile  # noqa: E402
from tests.servers import MotoServer  # noqa: E402

KEY_ID, SECRET, BUCKET, KEY = "bench-key", "bench-secret", "bench", "table.parquet"


def make_parquet(row_groups: int, rows_per_group: int) -> bytes:
    """A file as common writers make it: 1 MB pages, dictionaries, snappy."""
    total = row_groups * rows_per_group
    table = pa.table(
        {
            "id": pa.array(range(total), type=pa.int64()),
            "station": pa.array([f"station-{i % 500:03d}" for i in range(total)]),
            "reading": pa.array([(i * 7919) % 100_003 / 7 for i in range(total)], type=pa.float64()),
            "note": pa.array([f"reading {i} of the summer campaign" for i in range(total)]),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=rows_per_group)
    return buffer.getvalue()


def first_rows(handle: Any, **options: Any) -> int:
    parquet = pq.ParquetFile(handle, **options)
    batch = next(parquet.iter_batches(batch_size=PARQUET_ROWS, row_groups=[0]))
    return int(batch.num_rows)


class Counter:
    """Bytes and requests of the s3fs file object (its _fetch_range is one ranged GET)."""

    def __init__(self) -> None:
        self.bytes = self.requests = 0
        original = s3fs.core.S3File._fetch_range

        def counted(file: Any, start: int, end: int) -> bytes:
            data: bytes = original(file, start, end)
            self.bytes += len(data)
            self.requests += 1
            return data

        s3fs.core.S3File._fetch_range = counted  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--row-groups", type=int, default=4)
    parser.add_argument("--rows-per-group", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    body = make_parquet(args.row_groups, args.rows_per_group)
    server = MotoServer.start()
    try:
        endpoint = server.endpoint_url
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            config=Config(s3={"addressing_style": "path"}),
        )
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key=KEY, Body=body)
        backend = S3Backend(
            {"bucket": BUCKET, "endpoint_url": endpoint, "region": "us-east-1", "addressing_style": "path"},
            {"access_key_id": KEY_ID, "secret_access_key": SECRET},
        )
        fs = s3fs.S3FileSystem(key=KEY_ID, secret=SECRET, endpoint_url=endpoint, skip_instance_cache=True)
        counter = Counter()
        measured: dict[str, tuple[int, int]] = {}

        def ranged(**options: Any) -> Callable[[], object]:
            def run() -> object:
                reader = RangedFile(
                    backend, KEY, size=len(body), version_id="", budget=len(body), deadline=time.monotonic() + 60
                )
                rows = first_rows(reader, **options)
                return rows, reader.bytes_read, reader.requests

            return run

        def through_s3fs(open_options: dict[str, Any], **options: Any) -> Callable[[], object]:
            def run() -> object:
                counter.bytes = counter.requests = 0
                with fs.open(f"{BUCKET}/{KEY}", "rb", **open_options) as handle:
                    rows = first_rows(handle, **options)
                return rows, counter.bytes, counter.requests

            return run

        page_reads = {"pre_buffer": False, "buffer_size": 64 * 1024}
        runs = {
            "packager RangedFile, page reads": ranged(**page_reads),
            "RangedFile, whole row group (pre_buffer)": ranged(pre_buffer=True),
            "s3fs as it comes (50 MB blocks)": through_s3fs({}),
            "s3fs, 64 KB blocks, page reads": through_s3fs({"block_size": 64 * 1024}, **page_reads),
        }
        timings = {}
        for name, run in runs.items():
            rows, read, requests = run()  # type: ignore[misc]
            assert rows == PARQUET_ROWS
            measured[name] = (read, requests)
            timings[name] = median_seconds(run, args.repeat)

        print(
            f"file: {len(body) / 1e6:.1f} MB, {args.row_groups} row groups of {args.rows_per_group} rows; "
            f"schema and the first {PARQUET_ROWS} rows; median of {args.repeat} runs"
        )
        ours_bytes, _ = measured["packager RangedFile, page reads"]
        ours_time = timings["packager RangedFile, page reads"]
        for name, (read, requests) in measured.items():
            seconds = timings[name]
            print(
                f"{name:42} {read / 1e6:8.2f} MB read ({read / len(body):6.1%} of the file) in {requests:3} requests, "
                f"{seconds * 1000:7.1f} ms; bytes ×{read / ours_bytes:5.1f}, time ×{seconds / ours_time:5.2f}"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
