"""The benchmarks' bulk moto bucket answers listings exactly as stock moto does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench.layout import BulkBucket


@pytest.fixture(scope="module")
def buckets() -> Iterator[tuple[BulkBucket, BulkBucket]]:
    fast = BulkBucket("bench-fast", 300, folder_of=120, per_folder=10)
    stock = BulkBucket("bench-stock", 300, folder_of=120, per_folder=10, stock_listing=True)
    yield fast, stock
    fast.stop()
    stock.stop()


def pages(bucket: BulkBucket, **options: Any) -> list[dict[str, Any]]:
    client = bucket.client()
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket.bucket, PaginationConfig={"PageSize": 7}, **options
    ):
        found.append(
            {
                "keys": [(item["Key"], item["Size"], item["ETag"]) for item in page.get("Contents", [])],
                "folders": [item["Prefix"] for item in page.get("CommonPrefixes", [])],
                "truncated": page["IsTruncated"],
                "count": page["KeyCount"],
            }
        )
    return found


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"Delimiter": "/"},
        {"Prefix": "big/", "Delimiter": "/"},
        {"Prefix": "data/", "Delimiter": "/"},
        {"Prefix": "data/part-0003/"},
    ],
)
def test_the_bulk_bucket_lists_page_for_page_like_moto(
    buckets: tuple[BulkBucket, BulkBucket], options: dict[str, Any]
) -> None:
    fast, stock = buckets
    expected = pages(stock, **options)
    assert sum(len(page["keys"]) + len(page["folders"]) for page in expected) > 0
    assert pages(fast, **options) == expected
