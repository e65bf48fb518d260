"""What a collaborator downloads, one module per format, served from a published version.

Whatever can be computed once per immutable version is computed when it is sealed, by
`version_prepare`, in one ordered pass over its entries: the pointer documents and the
ZIP's entries for them (with sizes and CRCs), urls.txt, manifest.jsonl and
datapackage.json, kept as parts (packager.exports.parts). A download then streams parts,
swapping in the share's links, with flat memory and a size known before the first byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.files.storage import default_storage
from django.utils import timezone

from packager.exports import (
    bibliography,
    cff,
    datacite,
    datapackage,
    howto,
    manifest,
    parts,
    pointers,
    rocrate,
    urls,
    zip,
)
from packager.exports.rows import Row, resolve_url, rows
from packager.paths import reserved_in

if TYPE_CHECKING:
    from packager.models import Package, PackageVersion

__all__ = [
    "Export",
    "ShareLinks",
    "citation_files",
    "datapackage_json",
    "download_zip",
    "manifest_jsonl",
    "prepared",
    "reserved_path",
    "resolve_url",
    "ro_crate_json",
    "urls_txt",
    "version_prepare",
]

# Bumped when what version_prepare stores changes: older versions are prepared again.
FORMAT = 4
# Files the ZIP writes at its top for every share; an entry of the same name (from before
# they were reserved) stays in the listings but is left out of the ZIP.
GENERATED_NAMES = frozenset(
    {
        urls.NAME,
        manifest.NAME,
        datapackage.NAME,
        howto.NAME,
        cff.NAME,
        datacite.NAME,
        rocrate.NAME,
        bibliography.BIBTEX_NAME,
        bibliography.RIS_NAME,
    }
)
# The media types datacite.xml lists under <formats>, at most this many.
MAX_FORMATS = 100


def reserved_path(version: PackageVersion) -> str:
    """The first path of the version that holds a name reserved at any depth (".git"…), or "".

    Versions published before the rule may hold one; their downloads are refused rather than
    put such a file on a collaborator's disk. Found once, while the exports are prepared
    (which reads every entry anyway), and kept with them: no read of the entries per download."""
    found: str = prepared(version).get("reserved_path", "")
    return found


def _read_text(row: Row) -> bytes:
    with default_storage.open(row.text_name, "rb") as handle:
        data: bytes = handle.read()
    return data


def version_prepare(*, version: PackageVersion) -> dict[str, Any]:
    """Compute and store what the exports need (called when the version is sealed).

    Idempotent: parts from an earlier, interrupted run are replaced. The result is kept on
    PackageVersion.exports.
    """
    from packager.models import ExportPart

    ExportPart.objects.filter(package_version=version).delete()
    created = timezone.now().replace(microsecond=0)
    date_time = tuple(created.utctimetuple())[:6]
    top = f"{version.package.slug}/"
    archive = zip.ZipBuilder(version, date_time=date_time)
    url_lines = parts.PartWriter(version, urls.PART)
    manifest_lines = parts.PartWriter(version, manifest.PART)
    described = parts.PartWriter(version, datapackage.PART)
    described.write_text(datapackage.head(version, created=created.isoformat()))
    crate_ids = parts.PartWriter(version, rocrate.IDS_PART)
    crate_files = parts.PartWriter(version, rocrate.FILES_PART)
    formats: dict[str, None] = {}
    first = True
    reserved = ""
    for row in rows(version):
        if not reserved and reserved_in(row.path):
            reserved = row.path
        if not row.is_text:
            url_lines.write_text(urls.line(row), marks=1)
        manifest_lines.write_text(manifest.line(row), marks=1)
        described.write_text(datapackage.resource(row, first=first), marks=1)
        crate_ids.write_text(rocrate.id_line(row, first=first))
        crate_files.write_text(rocrate.file_entity(row), marks=1)
        if len(formats) < MAX_FORMATS:
            formats[rocrate.media_type(row.path)] = None
        first = False
        if row.path in GENERATED_NAMES:
            continue
        if row.is_text:
            archive.add(top + row.path, _read_text(row))
        else:
            archive.add(
                top + pointers.pointer_name(row.path), pointers.pointer_document(row, version_number=version.number)
            )
    described.write_text(datapackage.TAIL)
    return {
        "format": FORMAT,
        "created": created.isoformat(),
        "date_time": list(date_time),
        "top": top,
        "reserved_path": reserved,
        "zip": archive.close(),
        "parts": {
            urls.PART: url_lines.close(),
            manifest.PART: manifest_lines.close(),
            datapackage.PART: described.close(),
            rocrate.IDS_PART: crate_ids.close(),
            rocrate.FILES_PART: crate_files.close(),
        },
        "formats": sorted(formats),
    }


def prepared(version: PackageVersion) -> dict[str, Any]:
    """version.exports, computed now for a version published before this format existed."""
    if version.exports.get("format") != FORMAT:
        from packager.models import PackageVersion

        version.exports = version_prepare(version=version)
        PackageVersion.objects.filter(pk=version.pk).update(exports=version.exports)
    return version.exports


@dataclass(frozen=True)
class ShareLinks:
    """How one request reaches the share: its link (ends with "/"), whether that link asks
    for a password, and the share's key link ("" for a share without a password), which
    works with no password at all."""

    share_url: str
    has_password: bool
    key_link: str = ""

    @property
    def resolve_base(self) -> str:
        return self.share_url + "r/"


@dataclass(frozen=True)
class Export:
    """A download: its exact length, and its bytes when iterated."""

    size: int
    chunks: Callable[[], Iterable[bytes]]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks())


def _listing(version: PackageVersion, part: str, base: str) -> Export:
    """urls.txt keeps the link as it is; the JSON listings need it as a JSON string's content."""
    import json

    encoded = (base if part == urls.PART else json.dumps(base)[1:-1]).encode()
    info = prepared(version)["parts"][part]
    return Export(parts.rendered_size(info, encoded), lambda: parts.render(version, part, encoded))


def urls_txt(version: PackageVersion, links: ShareLinks) -> Export:
    return _listing(version, urls.PART, links.resolve_base)


def manifest_jsonl(version: PackageVersion, links: ShareLinks) -> Export:
    return _listing(version, manifest.PART, links.resolve_base)


def datapackage_json(version: PackageVersion, links: ShareLinks) -> Export:
    return _listing(version, datapackage.PART, links.resolve_base)


def _citation(version: PackageVersion, package: Package, links: ShareLinks) -> Any:
    from packager.citation import citation_for

    return citation_for(version, url=links.share_url, package=package)


def citation_files(version: PackageVersion, package: Package, links: ShareLinks) -> dict[str, bytes]:
    """The small citation files of a version as one share names it: name -> bytes."""
    citation = _citation(version, package, links)
    return {
        cff.NAME: cff.citation_cff(citation).encode(),
        datacite.NAME: datacite.datacite_xml(citation, formats=prepared(version).get("formats", [])),
        bibliography.BIBTEX_NAME: bibliography.bibtex(citation).encode(),
        bibliography.RIS_NAME: bibliography.ris(citation).encode(),
    }


def ro_crate_json(version: PackageVersion, package: Package, links: ShareLinks) -> Export:
    """ro-crate-metadata.json: a head and tail from the citation around the parts written at publish time."""
    import json

    head, middle, tail = (text.encode() for text in rocrate.head_and_tail(_citation(version, package, links)))
    info = prepared(version)["parts"]
    base = json.dumps(links.resolve_base)[1:-1].encode()
    size = (
        len(head)
        + parts.rendered_size(info[rocrate.IDS_PART], base)
        + len(middle)
        + parts.rendered_size(info[rocrate.FILES_PART], base)
        + len(tail)
    )

    def chunks() -> Iterator[bytes]:
        yield head
        yield from parts.render(version, rocrate.IDS_PART, base)
        yield middle
        yield from parts.render(version, rocrate.FILES_PART, base)
        yield tail

    return Export(size, chunks)


def howto_md(version: PackageVersion, package: Package, links: ShareLinks) -> bytes:
    return howto.render(
        version, package, share_url=links.share_url, has_password=links.has_password, key_link=links.key_link
    )


def download_zip(version: PackageVersion, package: Package, links: ShareLinks) -> Export:
    info = prepared(version)
    top = info["top"]
    guide = howto_md(version, package, links)
    members = [
        zip.Member(top + name, export.size, export.chunks)
        for name, export in (
            (urls.NAME, urls_txt(version, links)),
            (manifest.NAME, manifest_jsonl(version, links)),
            (datapackage.NAME, datapackage_json(version, links)),
        )
    ]
    members.append(zip.Member(top + howto.NAME, len(guide), lambda: [guide]))
    crate = ro_crate_json(version, package, links)
    members.append(zip.Member(top + rocrate.NAME, crate.size, crate.chunks))
    for name, data in citation_files(version, package, links).items():
        members.append(zip.Member(top + name, len(data), lambda data=data: [data]))  # type: ignore[misc]
    archive = zip.Archive(version, info, members)
    return Export(len(archive), archive.__iter__)
