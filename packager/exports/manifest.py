"""manifest.jsonl: one JSON line per entry (path, kind, size, sha256, md5, etag, version_id, url).

Everything needed to recompute the version's top hash is in it: sha256 over
`path NUL size NUL sha256 LF` for every line, in the order of the file.
"""

from __future__ import annotations

from packager.exports.parts import BASE
from packager.exports.rows import Row, json_string

PART = "manifest"
NAME = "manifest.jsonl"


def line(row: Row) -> str:
    """As json.dumps of the record (a test checks it), with the link last: a JSON string
    whose first character is the BASE mark (the resolve path is ASCII, so needs no escaping)."""
    return (
        f'{{"path": {json_string(row.path)}, "kind": "{"text" if row.is_text else "file"}", "size": {row.size}, '
        f'"sha256": {json_string(row.sha256)}, "md5": {json_string(row.md5)}, "etag": {json_string(row.etag)}, '
        f'"version_id": {json_string(row.version_id)}, "url": "{BASE}{row.link}"}}\n'
    )
