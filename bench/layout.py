"""The key layout the large-bucket benchmarks share.

`folder_of` objects sit directly in "big/"; the rest spread over "data/part-NNNN/" folders
of 1,000 objects each, alternating .parquet and .csv, so globs and substrings have both
dense and sparse matches.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.servers import free_port, wait_for_port

FOLDER = 1000


def object_keys(count: int, *, folder_of: int = 0, per_folder: int = FOLDER) -> Iterator[str]:
    for index in range(min(folder_of, count)):
        yield f"big/f{index:07d}.bin"
    for index in range(count - min(folder_of, count)):
        suffix = "parquet" if index % 2 else "csv"
        yield f"data/part-{index // per_folder:04d}/file-{index:07d}.{suffix}"


class BulkBucket:
    """bench/bulk_bucket.py in its own process: a moto endpoint with a full bucket."""

    def __init__(
        self, bucket: str, count: int, *, folder_of: int = 0, per_folder: int = FOLDER, stock_listing: bool = False
    ) -> None:
        self.port = free_port()
        self.bucket = bucket
        script = Path(__file__).with_name("bulk_bucket.py")
        command = [sys.executable, str(script), str(self.port), bucket, str(count)]
        command += ["--folder-of", str(folder_of), "--per-folder", str(per_folder)]
        if stock_listing:
            command.append("--stock-listing")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:  # moto announces itself first
            if line.strip() == b"ready":
                break
        else:
            raise RuntimeError("the bulk moto server did not start")
        wait_for_port(self.port, self.process, "bulk moto server")

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        """A default boto3 client of the endpoint, as any script would make it."""
        import boto3
        from botocore.client import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench-secret",
            config=Config(s3={"addressing_style": "path"}),
        )

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
