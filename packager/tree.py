"""Folder views over the flat list of a package's entry paths."""

from __future__ import annotations

from dataclasses import dataclass, field

from packager.models import Package, PackageEntry
from sources.http import breadcrumbs

PAGE_SIZE = 200


@dataclass
class Folder:
    name: str
    path: str  # ends with "/"
    size: int = 0
    file_count: int = 0


@dataclass
class Listing:
    folder: str
    folders: list[Folder]
    files: list[PackageEntry]
    total_size: int
    total_count: int
    page: int
    pages: int
    breadcrumbs: list[tuple[str, str]] = field(default_factory=list)
    readme: PackageEntry | None = None

    @property
    def is_empty(self) -> bool:
        return not self.folders and not self.files


def list_folder(package: Package, folder: str = "", page: int = 1) -> Listing:
    """Direct children of a folder, folders first, with sizes summed over their contents.

    Reads only (path, size) for the whole package and loads full rows for the files
    on the requested page, so a folder of 10,000 files costs one page of rows.
    """
    folders: dict[str, Folder] = {}
    file_paths: list[str] = []
    total_size = total_count = 0
    depth = len(folder)
    for path, size in package.entries.values_list("path", "size"):
        total_size += size
        total_count += 1
        if not path.startswith(folder):
            continue
        rest = path[depth:]
        name, slash, _ = rest.partition("/")
        if slash:
            entry = folders.setdefault(name, Folder(name=name, path=f"{folder}{name}/"))
            entry.size += size
            entry.file_count += 1
        else:
            file_paths.append(path)
    children: list[tuple[str, str]] = [("d", name) for name in sorted(folders)] + [
        ("f", path) for path in sorted(file_paths)
    ]
    pages = max(1, -(-len(children) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    window = children[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    on_page = [value for kind, value in window if kind == "f"]
    files = list(package.entries.filter(path__in=on_page).select_related("source").order_by("path")) if on_page else []
    readme_path = next(
        (
            path
            for path in sorted(file_paths)
            if path[depth:].lower() in {"readme.md", "readme.markdown", "readme.txt", "readme"}
        ),
        None,
    )
    readme = package.entries.filter(path=readme_path, kind=PackageEntry.Kind.TEXT).first() if readme_path else None
    return Listing(
        folder=folder,
        folders=[folders[value] for kind, value in window if kind == "d"],
        files=files,
        total_size=total_size,
        total_count=total_count,
        page=page,
        pages=pages,
        breadcrumbs=breadcrumbs(folder),
        readme=readme,
    )
