"""Pointer files: `<path>.pointer.json`, one per data file, beside where wget puts the file.

A pointer names the object and how to get it, never a credential. It is the same for every
share of the version: its `resolve` link is relative to the share link
(`https://host/s/<token>/` + `r/data/a.csv`), so the document, its size and its CRC are
computed once when the version is published. urls.txt and manifest.jsonl carry the same
links in full.
"""

from __future__ import annotations

from packager.exports.rows import Row, json_string
from packager.paths import POINTER_SUFFIX

FORMAT = "packager-pointer/1"


def pointer_name(path: str) -> str:
    """Never the data file's own path: `wget -c` would append the data to the pointer."""
    return path + POINTER_SUFFIX


def pointer_document(row: Row, *, version_number: int) -> bytes:
    """One line of JSON, as json.dumps writes it (a test checks it), field by field: it
    counts at a million pointers."""
    return (
        f'{{"format": "{FORMAT}", "path": {json_string(row.path)}, "version": {version_number}, '
        f'"size": {row.size}, "sha256": {json_string(row.sha256)}, "md5": {json_string(row.md5)}, '
        f'"etag": {json_string(row.etag)}, "version_id": {json_string(row.version_id)}, '
        f'"resolve": "r/{row.link}", "storage": {{"kind": {json_string(row.source_kind or "")}, '
        f'"bucket": {json_string(row.bucket or "")}, "key": {json_string(row.key)}}}}}\n'
    ).encode()
