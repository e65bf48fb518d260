"""manifest.jsonl: one JSON line per entry (path, kind, size, sha256, md5, etag, version_id, url).

Everything needed to recompute the version's top hash is in it: sha256 over
`path NUL size NUL sha256 LF` for every line, in the order of the file.
"""

from __future__ import annotations

import json

from packager.exports.parts import BASE
from packager.exports.rows import Row

PART = "manifest"
NAME = "manifest.jsonl"


def line(row: Row) -> str:
    record = {
        "path": row.path,
        "kind": "text" if row.is_text else "file",
        "size": row.size,
        "sha256": row.sha256 or None,
        "md5": row.md5 or None,
        "etag": row.etag or None,
        "version_id": row.version_id or None,
    }
    # The link goes last, as a JSON string whose first character is the BASE mark; the
    # resolve path is ASCII, so json.dumps leaves it as it is.
    return json.dumps(record, ensure_ascii=False)[:-1] + ', "url": "' + BASE + row.link + '"}\n'
