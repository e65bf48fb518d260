"""Pointer files: `<path>.pointer.json`, one per data file, beside where wget puts the file.

A pointer names the object and how to get it, never a credential. It is the same for every
share of the version: its `resolve` link is relative to the share link
(`https://host/s/<token>/` + `r/data/a.csv`), so the document, its size and its CRC are
computed once when the version is published. urls.txt and manifest.jsonl carry the same
links in full.
"""

from __future__ import annotations

import json

from packager.exports.rows import Row
from packager.paths import POINTER_SUFFIX

FORMAT = "packager-pointer/1"


def pointer_name(path: str) -> str:
    """Never the data file's own path: `wget -c` would append the data to the pointer."""
    return path + POINTER_SUFFIX


def pointer_document(row: Row, *, version_number: int) -> bytes:
    """One line of JSON. (json.dumps with `indent` runs in pure Python: five times slower
    than its C encoder, which counts at a million pointers.)"""
    document = {
        "format": FORMAT,
        "path": row.path,
        "version": version_number,
        "size": row.size,
        "sha256": row.sha256 or None,
        "md5": row.md5 or None,
        "etag": row.etag or None,
        "version_id": row.version_id or None,
        "resolve": "r/" + row.link,
        "storage": {"kind": row.source_kind, "bucket": row.bucket or None, "key": row.key},
    }
    return (json.dumps(document, ensure_ascii=False) + "\n").encode()
