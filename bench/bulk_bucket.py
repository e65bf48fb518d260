"""A moto S3 server holding a large bucket, filled in memory instead of by PUT requests.

Writing 200,000 objects through the S3 API takes moto an hour on a busy machine; writing them
into its in-memory backend takes seconds, and the objects then answer every S3 request the
same. Run as a separate process, so the benchmark's client CPU is the client's alone:

    python bench/bulk_bucket.py PORT BUCKET COUNT [--folder-of N] [--per-folder N] [--stock-listing]

moto answers each ListObjectsV2 page by filtering and sorting the whole bucket and then
serializing it through a generic botocore-model serializer (seconds per page at 200,000
objects, where S3 takes ~100 ms): a full listing would take a quarter of an hour, and the
client's share of the cost would drown in the server's. Unless --stock-listing is given, the
pages come from a sorted key list (bisect to the cursor, read max-keys on) and are written
as S3's XML directly: the same keys, folders, order, continuation tokens and document
(tests/test_bench_bulk_bucket.py compares both, request by request). Everything else is moto.

prints "ready" once the bucket is full, and serves until its standard input closes.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.s3.models import FakeKey, S3Backend, s3_backends
from moto.s3.responses import S3Response

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.layout import object_keys


def sorted_listing(backend: S3Backend, bucket_name: str) -> None:
    """Serve ListObjectsV2 for one (unchanging) bucket from a sorted list of its keys."""
    names = sorted(backend.get_bucket(bucket_name).keys.keys())
    stock = backend.list_objects_v2

    def list_objects_v2(
        bucket: Any,
        prefix: str | None,
        delimiter: str | None,
        continuation_token: str | None,
        start_after: str | None,
        max_keys: int,
    ) -> tuple[list[FakeKey | str], bool, str | None]:
        if bucket.name != bucket_name:
            return stock(bucket, prefix, delimiter, continuation_token, start_after, max_keys)
        prefix = prefix or ""
        after = backend._pagination_tokens.get(continuation_token) if continuation_token else start_after
        if not after:
            position = bisect.bisect_left(names, prefix)
        elif delimiter and after.endswith(delimiter):  # the page ended with a folder: skip all of it
            position = bisect.bisect_left(names, after + "\U0010ffff")
        else:
            position = bisect.bisect_right(names, after)
        results: list[FakeKey | str] = []
        while position < len(names) and names[position].startswith(prefix):
            name = names[position]
            cut = name.find(delimiter, len(prefix)) if delimiter else -1
            if len(results) == max_keys:
                last = results[-1]
                last_name = last if isinstance(last, str) else last.name
                token = hashlib.md5(last_name.encode(), usedforsecurity=False).hexdigest()  # moto's token form
                backend._pagination_tokens[token] = last_name
                return results, True, token
            if cut >= 0:
                folder = name[: cut + len(delimiter or "")]
                results.append(folder)
                # skip the whole folder: every key that starts with it
                position = bisect.bisect_left(names, folder + "\U0010ffff")
                continue
            results.append(bucket.keys[name])
            position += 1
        return results, False, None

    backend.list_objects_v2 = list_objects_v2  # type: ignore[method-assign]


def _element(name: str, value: object) -> str:
    return f"<{name}>{xml_escape(str(value))}</{name}>"


def _listing_xml(result: dict[str, Any]) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">']
    for name in ("Name", "Prefix", "Delimiter", "MaxKeys", "KeyCount", "EncodingType", "StartAfter"):
        if name in result:
            parts.append(_element(name, result[name]))
    parts.append(_element("IsTruncated", "true" if result["IsTruncated"] else "false"))
    if "NextContinuationToken" in result:
        parts.append(_element("NextContinuationToken", result["NextContinuationToken"]))
    for item in result["Contents"]:
        parts.append(
            "<Contents>"
            + "".join(_element(name, item[name]) for name in ("Key", "LastModified", "ETag", "Size", "StorageClass"))
            + "</Contents>"
        )
    for folder in result.get("CommonPrefixes", []):
        parts.append("<CommonPrefixes>" + _element("Prefix", folder["Prefix"]) + "</CommonPrefixes>")
    parts.append("</ListBucketResult>")
    return "".join(parts)


def direct_listing_xml() -> None:
    """Write ListObjectsV2 answers as S3's XML at once instead of through moto's serializer."""
    stock = S3Response.serialized

    def serialized(self: S3Response, action_result: ActionResult) -> Any:
        if self.data.get("Action") != "ListObjectsV2" or not isinstance(action_result.result, dict):
            return stock(self, action_result)
        headers = {"Content-Type": "application/xml", **self.response_headers}
        return 200, headers, _listing_xml(action_result.result)

    S3Response.serialized = serialized  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("bucket")
    parser.add_argument("count", type=int)
    parser.add_argument("--folder-of", type=int, default=0, help="this many objects directly in big/")
    parser.add_argument("--per-folder", type=int, default=1000, help="objects per data/part-NNNN/ folder")
    parser.add_argument("--stock-listing", action="store_true", help="moto's own (whole-bucket) listing")
    args = parser.parse_args()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port)
    server.start()
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(args.bucket, "us-east-1")
    for key in object_keys(args.count, folder_of=args.folder_of, per_folder=args.per_folder):
        backend.put_object(args.bucket, key, b"x")
    if not args.stock_listing:
        sorted_listing(backend, args.bucket)
        direct_listing_xml()
    print("ready", flush=True)
    sys.stdin.read()  # serve until the benchmark closes the pipe
    server.stop()


if __name__ == "__main__":
    main()
