"""One folder page of a source: from its index once that is ready, live from storage before.

A source just connected can be browsed at once: until its first index is complete, a page
is one delimiter listing of the folder asked for (S3 ListObjectsV2 with a Delimiter, Azure's
walk_blobs, a directory scan), and the next-page cursor is the service's continuation token.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict
from urllib.parse import quote

from django.contrib.humanize.templatetags.humanize import intcomma
from django.template.defaultfilters import filesizeformat, pluralize
from django.utils import timezone

from sources import clients, names
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


# A folder page shows two timestamps per row: Django's `date` filter costs about half of the
# page's rendering at 200 rows (bench/browse.py), these a fraction of that (less again when
# given the time zone, which a page looks up once).
# tests/test_sources_browse_rows.py pins them to `date:"Y-m-d H:i"` and `date:"c"`.
def minute(value: dt.datetime | None, zone: dt.tzinfo | None = None) -> str:
    """ "2024-05-01 13:45" in the current time zone (or `zone`), as |date:"Y-m-d H:i" writes it."""
    if value is None:
        return ""
    return _local(value, zone).strftime("%Y-%m-%d %H:%M")


def iso_time(value: dt.datetime | None, zone: dt.tzinfo | None = None) -> str:
    """ISO 8601 in the current time zone (or `zone`), as |date:"c" writes it."""
    return "" if value is None else _local(value, zone).isoformat()


def _local(value: dt.datetime, zone: dt.tzinfo | None) -> dt.datetime:
    if timezone.is_naive(value):
        return value
    return value.astimezone(zone or timezone.get_current_timezone())


class FolderRow(TypedDict):
    """One row of the folder page as it shows it, every value worked out once in Python:
    at 200 rows a page, the template's variable lookups and filters cost more than the
    page's queries (bench/browse.py). A dict, which a template reads with its first lookup."""

    path: str  # the row's path below the source's prefix (the checkbox's value)
    label: str  # its name with hidden characters written out
    href: str  # its folder page, or its object page
    is_dir: bool
    size: str  # as |filesizeformat writes it
    files: str | None  # a folder's "1,234 files"; None when not known (a live listing)
    modified: str  # as |date:"Y-m-d H:i" writes it
    modified_iso: str  # as |date:"c" writes it


def folder_rows(
    rows: Sequence[SourceObject | LiveEntry], folder: str, *, browse_url: str, object_url: str
) -> list[FolderRow]:
    """The rows of a folder page; browse_url and object_url are the routes' URLs without
    the path (web.http.path_url_prefix), to which each row appends its own."""
    shown: list[FolderRow] = []
    zone = timezone.get_current_timezone()
    for row in rows:
        path = folder + row.name
        files = None
        if row.is_dir and row.file_count is not None:
            files = f"{intcomma(row.file_count)} file{pluralize(row.file_count)}"
        shown.append(
            {
                "path": path,
                "label": names.visible(row.name),
                "href": (browse_url if row.is_dir else object_url) + quote(path),
                "is_dir": row.is_dir,
                "size": filesizeformat(row.size),
                "files": files,
                "modified": "" if row.is_dir else minute(row.last_modified, zone),
                "modified_iso": "" if row.is_dir else iso_time(row.last_modified, zone),
            }
        )
    return shown
