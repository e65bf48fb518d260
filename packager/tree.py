"""Folder pages of a package's draft and of a published version, read from folder aggregates.

A page never reads every path of the package: it reads the folder's own aggregate row,
one page of subfolders and one page of files through the (…, parent, path) indexes, and
looks up a README among a fixed list of names. That is a fixed number of queries whatever
the size of the package. Pages are keyset-paginated (folders first, then files, each by
path), so the last page of a folder of a million files costs what the first one does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from packager.models import Package, PackageEntry, PackageFolder, PackageVersion, VersionEntry, VersionFolder
from web.cursors import InvalidCursor, decode_cursor, encode_cursor
from web.http import breadcrumbs

# Rows per folder page: rendering them is most of what a page costs.
PAGE_SIZE = 100
# Looked up by exact path (an index lookup), in this order of preference.
README_NAMES = [
    f"{stem}{suffix}"
    for suffix in (".md", ".markdown", ".txt", "", ".MD", ".TXT")
    for stem in ("README", "Readme", "readme", "ReadMe")
]
_FOLDER, _FILE = "d", "f"


@dataclass
class Listing:
    folder: str
    exists: bool
    folders: list[Any]  # PackageFolder or VersionFolder rows
    files: list[Any]  # PackageEntry or VersionEntry rows
    size: int  # of everything below this folder
    file_count: int
    total_size: int  # of the whole package or version
    total_count: int
    cursor: str = ""
    next_cursor: str = ""
    breadcrumbs: list[tuple[str, str]] = field(default_factory=list)
    readme: Any = None  # a text entry

    @property
    def is_empty(self) -> bool:
        return not self.folders and not self.files


def _position(cursor: str) -> tuple[str, str] | None:
    if not cursor:
        return None
    kind, path = decode_cursor(cursor, str, str)
    if kind not in (_FOLDER, _FILE):
        raise InvalidCursor()
    return kind, path


def _page(
    folder_rows: QuerySet[Any], file_rows: QuerySet[Any], folder: str, cursor: str, limit: int
) -> tuple[list[Any], list[Any], str]:
    """Subfolders then files of `folder` after the cursor: (folders, files, next cursor).

    `path > folder` is true of every child, so the first page needs no special case; at
    the top it also leaves out the draft's row for the whole package (path "").
    """
    position = _position(cursor)
    folders: list[Any] = []
    if position is None or position[0] == _FOLDER:
        after = position[1] if position else folder
        folders = list(folder_rows.filter(parent=folder, path__gt=after).order_by("path")[: limit + 1])
    files: list[Any] = []
    if len(folders) <= limit:
        after = position[1] if position and position[0] == _FILE else folder
        files = list(file_rows.filter(parent=folder, path__gt=after).order_by("path")[: limit + 1 - len(folders)])
    if len(folders) + len(files) <= limit:
        return folders, files, ""
    (files if files else folders).pop()
    last = (_FILE, files[-1].path) if files else (_FOLDER, folders[-1].path)
    return folders, files, encode_cursor(*last)


def _readme(entries: QuerySet[Any], folder: str) -> Any:
    """The folder's README: a lookup of each candidate path in the unique (package or
    version, path) index. Nothing else is filtered in SQL: a condition on the parent or
    the kind lets a planner without statistics (a table just filled) walk the whole folder
    through the (…, parent, path) index instead. Unordered, for the same reason: the
    default order of version entries (position) would have SQLite walk the whole version."""
    paths = [folder + name for name in README_NAMES]
    found = {entry.name: entry for entry in entries.filter(path__in=paths).order_by() if entry.is_text}
    return next((found[name] for name in README_NAMES if name in found), None)


def list_package_folder(package: Package, folder: str = "", *, cursor: str = "", limit: int = PAGE_SIZE) -> Listing:
    """One page of a folder of the package's draft. InvalidCursor for a damaged cursor."""
    aggregates = {row.path: row for row in PackageFolder.objects.filter(package=package, path__in={"", folder})}
    entries = PackageEntry.objects.filter(package=package)
    folders, files, next_cursor = _page(
        PackageFolder.objects.filter(package=package), entries.select_related("source"), folder, cursor, limit
    )
    here, whole = aggregates.get(folder), aggregates.get("")
    return Listing(
        folder=folder,
        exists=here is not None or folder == "",
        folders=folders,
        files=files,
        size=here.size if here else 0,
        file_count=here.file_count if here else 0,
        total_size=whole.size if whole else 0,
        total_count=whole.file_count if whole else 0,
        cursor=cursor,
        next_cursor=next_cursor,
        breadcrumbs=breadcrumbs(folder),
        readme=_readme(entries, folder),
    )


def list_version_folder(
    version: PackageVersion, folder: str = "", *, cursor: str = "", limit: int = PAGE_SIZE
) -> Listing:
    """One page of a folder of a published version. InvalidCursor for a damaged cursor."""
    here: Any = version if folder == "" else VersionFolder.objects.filter(package_version=version, path=folder).first()
    entries = VersionEntry.objects.filter(package_version=version)
    folders, files, next_cursor = _page(
        VersionFolder.objects.filter(package_version=version), entries, folder, cursor, limit
    )
    return Listing(
        folder=folder,
        exists=here is not None,
        folders=folders,
        files=files,
        size=(version.total_size if folder == "" else here.size) if here else 0,
        file_count=(version.entry_count if folder == "" else here.file_count) if here else 0,
        total_size=version.total_size,
        total_count=version.entry_count,
        cursor=cursor,
        next_cursor=next_cursor,
        breadcrumbs=breadcrumbs(folder),
        readme=_readme(entries, folder),
    )
