"""What a collaborator downloads: urls.txt, manifest.jsonl, pointer files, the ZIP.

Data files never pass through packager. Each one is named by a stable resolve URL
(`<base>/<logical path>`) that answers with a freshly signed storage URL, so the lists
written here stay valid as long as the share does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from zipstream import ZipStream

from packager.models import Package, PackageEntry
from packager.paths import POINTER_SUFFIX

POINTER_FORMAT = "packager-pointer/1"


def resolve_url(base: str, path: str) -> str:
    """base ends with "/"; the path is percent-encoded segment by segment."""
    return base + quote(path, safe="/")


def _entries(package: Package) -> Iterator[PackageEntry]:
    return package.entries.select_related("source").order_by("path").iterator(chunk_size=2000)


def manifest_record(entry: PackageEntry, base: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "path": entry.path,
        "kind": "file" if entry.kind == PackageEntry.Kind.POINTER else "text",
        "size": entry.size,
        "sha256": entry.sha256 or None,
        "md5": entry.md5 or None,
    }
    if entry.kind == PackageEntry.Kind.POINTER:
        record["etag"] = entry.etag or None
        record["version_id"] = entry.version_id or None
        record["url"] = resolve_url(base, entry.path)
    return record


def pointer_document(entry: PackageEntry, base: str) -> dict[str, Any]:
    """Names the object and how to fetch it; never a credential."""
    source = entry.source
    assert source is not None
    return {
        "format": POINTER_FORMAT,
        "path": entry.path,
        "size": entry.size,
        "etag": entry.etag or None,
        "version_id": entry.version_id or None,
        "sha256": entry.sha256 or None,
        "md5": entry.md5 or None,
        "url": resolve_url(base, entry.path),
        "storage": {
            "kind": source.kind,
            "bucket": source.bucket or None,
            "key": entry.key,
        },
    }


def urls_txt(package: Package, base: str) -> bytes:
    lines = [
        resolve_url(base, entry.path)
        for entry in package.entries.filter(kind=PackageEntry.Kind.POINTER).order_by("path").only("path")
    ]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def manifest_jsonl(package: Package, base: str) -> Iterator[bytes]:
    for entry in _entries(package):
        yield (json.dumps(manifest_record(entry, base), ensure_ascii=False) + "\n").encode()


def _text_chunks(entry: PackageEntry) -> Iterator[bytes]:
    with entry.text_file.open("rb") as handle:
        while chunk := handle.read(64 * 1024):
            yield chunk


def zip_stream(package: Package, base: str) -> ZipStream:
    """A stored (uncompressed) ZIP whose size is known before a byte is sent.

    Text files are read from storage only while the archive streams; pointer files,
    urls.txt and the manifest are small and made up front.
    """
    archive = ZipStream(sized=True)
    top = f"{package.slug}/"
    manifest: list[str] = []
    for entry in _entries(package):
        manifest.append(json.dumps(manifest_record(entry, base), ensure_ascii=False))
        if entry.kind == PackageEntry.Kind.TEXT:
            archive.add(_text_chunks(entry), top + entry.path, size=entry.size)
        else:
            document = json.dumps(pointer_document(entry, base), indent=2, ensure_ascii=False) + "\n"
            archive.add(document.encode(), top + entry.path + POINTER_SUFFIX)
    archive.add(urls_txt(package, base), top + "urls.txt")
    archive.add(("\n".join(manifest) + "\n" if manifest else "").encode(), top + "manifest.jsonl")
    return archive
