"""One folder page of a source: from its index once that is ready, live from storage before.

A source just connected can be browsed at once: until its first index is complete, a page
is one delimiter listing of the folder asked for (S3 ListObjectsV2 with a Delimiter, Azure's
walk_blobs, a directory scan), and the next-page cursor is the service's continuation token.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sources import clients
from sources.models import Source, SourceObject


@dataclass(frozen=True)
class LiveEntry:
    """A folder or object straight from a storage listing, shaped like an index row."""

    path: str  # relative to the source's prefix; folders end with "/"
    name: str  # folders end with "/"
    is_dir: bool
    size: int = 0
    etag: str = ""
    last_modified: dt.datetime | None = None
    file_count: int | None = None  # not known without listing the whole folder


@dataclass(frozen=True)
class BrowsePage:
    origin: Literal["live", "index"]
    rows: Sequence[SourceObject | LiveEntry]
    next_cursor: str


def _live_page(source: Source, folder: str, *, cursor: str, limit: int) -> BrowsePage:
    root = source.normalized_prefix
    listed = clients.backend_for(source).list_folder(root + folder, cursor=cursor, limit=limit)
    rows: list[LiveEntry] = []
    for key in listed.folders:
        path = key[len(root) :]
        rows.append(LiveEntry(path=path, name=path[len(folder) :], is_dir=True))
    for info in listed.objects:
        path = info.key[len(root) :]
        rows.append(
            LiveEntry(
                path=path,
                name=path[len(folder) :],
                is_dir=False,
                size=info.size,
                etag=info.etag,
                last_modified=info.last_modified,
            )
        )
    return BrowsePage(origin="live", rows=rows, next_cursor=listed.next_cursor)


def browse_page(
    source: Source, folder: str, *, cursor: str = "", name_contains: str = "", limit: int = 200
) -> BrowsePage:
    """A page of a folder (relative to the source's prefix, "" or ending in "/").

    Raises StorageError when a live listing fails. A name filter needs the index: before the
    index is ready it filters the live page it was given.
    """
    if source.is_indexed:
        rows, next_cursor = SourceObject.objects.page(
            source, folder, cursor=cursor, name_contains=name_contains, limit=limit
        )
        return BrowsePage(origin="index", rows=rows, next_cursor=next_cursor)
    page = _live_page(source, folder, cursor=cursor, limit=limit)
    if name_contains:
        wanted = name_contains.casefold()
        kept = [row for row in page.rows if wanted in row.name.casefold()]
        return BrowsePage(origin="live", rows=kept, next_cursor=page.next_cursor)
    return page
