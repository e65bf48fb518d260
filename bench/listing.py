"""S3 listing and signing: packager's boto3 backend against s3fs, on a moto server.

Prints figures; run with `make bench` (s3fs lives in its own virtualenv, because it pins
botocore through aiobotocore). The baseline is s3fs, the design card's first choice for
listing: a ratio above 1 means boto3 is that many times faster.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
import s3fs
from botocore.client import Config

from bench.timing import median_seconds
from sources.backends.s3 import S3Backend
from tests.servers import MotoServer

KEY_ID, SECRET, BUCKET = "bench-key", "bench-secret", "bench"


def interleaved(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, tuple[float, float]]:
    """Median wall time and median client CPU time of each run, taking turns.

    The server (moto) shares the machine, so the runs alternate to see the same load; the
    client's CPU time is what the choice of library changes.
    """
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - start_wall)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--folders", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()

    server = MotoServer.start()
    try:
        endpoint = server.endpoint_url
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=16),
        )
        client.create_bucket(Bucket=BUCKET)
        keys = [f"folder-{index % args.folders:03d}/object-{index:06d}.bin" for index in range(args.objects)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda key: client.put_object(Bucket=BUCKET, Key=key, Body=b"x"), keys))

        config = {"bucket": BUCKET, "endpoint_url": endpoint, "region": "us-east-1", "addressing_style": "path"}
        credentials = {"access_key_id": KEY_ID, "secret_access_key": SECRET}
        backend = S3Backend(config, credentials)

        def boto3_full() -> int:
            return sum(1 for _ in backend.iter_objects())

        def s3fs_full() -> int:
            fs = s3fs.S3FileSystem(
                key=KEY_ID,
                secret=SECRET,
                endpoint_url=endpoint,
                skip_instance_cache=True,
                use_listings_cache=False,
            )
            return len(fs.find(BUCKET, detail=True))

        assert boto3_full() == s3fs_full() == args.objects
        results = interleaved({"boto3": boto3_full, "s3fs": s3fs_full}, args.repeat)
        (boto3_seconds, boto3_cpu), (s3fs_seconds, s3fs_cpu) = results["boto3"], results["s3fs"]

        build_seconds = median_seconds(lambda: S3Backend(config, credentials), 20)
        signs = 2000
        sign_seconds = median_seconds(lambda: [backend.sign_url(key) for key in keys[:signs]], args.repeat) / signs

        print(f"objects listed: {args.objects} in {args.folders} folders, median of {args.repeat} runs")
        for label, wall, cpu in (
            ("boto3 (packager)", boto3_seconds, boto3_cpu),
            ("s3fs find()", s3fs_seconds, s3fs_cpu),
        ):
            print(f"full listing, {label + ':':18} {wall * 1000:8.1f} ms wall, {cpu * 1000:7.1f} ms client CPU")
        print(f"ratio s3fs / boto3, wall:        {s3fs_seconds / boto3_seconds:8.2f}x")
        print(f"ratio s3fs / boto3, client CPU:  {s3fs_cpu / boto3_cpu:8.2f}x")
        print(f"building one S3 client:          {build_seconds * 1000:8.2f} ms")
        print(f"signing one URL (cached client): {sign_seconds * 1e6:8.1f} µs")
        print(f"ratio client build / signature:  {build_seconds / sign_seconds:8.0f}x")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
