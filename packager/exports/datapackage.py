"""datapackage.json: the version as a Frictionless Data Package.

One resource per file, whose `path` is its resolve link, with `bytes` and
`hash` = "sha256:<hex>", so any Frictionless tool can fetch and check every file. The
document is written as one resource per line, so it streams like the other exports.

It follows Data Package v1 (no `$schema`; every resource `"profile": "data-resource"`),
which `frictionless validate` checks along with every file it fetches through the share's
links. Each resource says what it is, so that a validator reads it for what it is and
nothing more:
- CSV and TSV files are tables (`"type": "table"`, v2's word, an extra property for v1): the
  validator parses their rows. No schema is given (packager does not know the columns), so
  it infers one; their encoding is named only where packager knows it (text files, which it
  keeps as UTF-8), else the validator detects it. An empty one is a plain file: it holds no
  table.
- everything else (Parquet, JSON, images, notebooks, archives, any binary) is a plain file
  (`"type": "file"`, frictionless's word; v2 names no type for files): the validator checks
  its size and hash and parses nothing. Without it, frictionless reads Parquet and
  spreadsheets as tables, which needs extras a collaborator may not have, and fails on them.
- a file frictionless takes for compressed by its extension (.zip, .gz, .bz2, .xz) carries
  no `bytes`: frictionless unpacks a remote archive as it reads it, never counts the bytes it
  fetched, and would report every such file as having the wrong size. Its hash stays (for
  other tools: frictionless cannot check it either).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from packager.exports import rocrate
from packager.exports.parts import BASE
from packager.exports.rows import Row, json_string

if TYPE_CHECKING:
    from packager.models import PackageVersion

PART = "datapackage"
NAME = "datapackage.json"
_NOT_IN_NAMES = re.compile(r"[^-a-z0-9._/]+")
# What a changed name ends with: a short hash of the original.
_HASHED = re.compile(r"-[0-9a-f]{8}$")
# Formats read as tables, by the last extension of a path.
TABLES = frozenset({"csv", "tsv"})
# Extensions frictionless unpacks on reading (its settings.COMPRESSION_FORMATS).
COMPRESSED = frozenset({"zip", "gz", "bz2", "xz"})
# The media types of the usual kinds, fixed here rather than read from the platform's
# mimetypes tables (which differ between machines, and know neither Parquet nor notebooks).
MEDIA_TYPES = {
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
    "geojson": "application/geo+json",
    "jsonl": "application/jsonl",
    "ndjson": "application/x-ndjson",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "webp": "image/webp",
    "svg": "image/svg+xml",
    "md": "text/markdown",
    "markdown": "text/markdown",
    "txt": "text/plain",
    "ipynb": "application/x-ipynb+json",
    "zip": "application/zip",
    "gz": "application/gzip",
    "bz2": "application/x-bzip2",
    "xz": "application/x-xz",
}


def frictionless_name(text: str) -> str:
    """A name the Data Package spec accepts (lower-case letters, digits, "-._/"), unique for
    every path. A name that had to change gets a short hash of the original, and so does a
    name that merely looks like one that had to, so no two paths share a name."""
    name = _NOT_IN_NAMES.sub("-", text.lower()).strip("-") or "file"
    if name != text or _HASHED.search(name):
        name += "-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return name


def extension(path: str) -> str:
    """The last extension of the file's name, lower-case, without its dot ("" for none)."""
    name = path.rpartition("/")[2]
    stem, dot, suffix = name.rpartition(".")
    return suffix.lower() if dot and stem else ""


def media_type(suffix: str) -> str:
    """The media type of a file with that extension."""
    return MEDIA_TYPES.get(suffix) or rocrate.media_type(f"file.{suffix}" if suffix else "file")


@functools.lru_cache(maxsize=4096)
def _kind(suffix: str, *, tabular: bool, text: bool) -> str:
    """What a resource is, as the JSON members that say it: the same for every file of one
    extension, so built once per extension rather than once per file."""
    members = f'"profile": "data-resource", "type": "{"table" if tabular else "file"}"'
    if suffix:
        members += f', "format": {json.dumps(suffix, ensure_ascii=False)}'
    members += f', "mediatype": {json.dumps(media_type(suffix))}'
    if text:
        # Text files are kept as UTF-8 (packager refuses anything else).
        members += ', "encoding": "utf-8"'
    return members


def head(version: PackageVersion, *, created: str) -> str:
    from packager.citation import citation_for

    package = version.package
    # The same title, license and people as the version's citation files.
    citation = citation_for(version, url="")
    metadata = citation.metadata
    contributors = [
        {"title": person.name, "role": "author", **_person_details(person.orcid, person.affiliation)}
        for person in citation.creators
    ] + [
        {"title": person.name, "role": "contributor", **_person_details(person.orcid, person.affiliation)}
        for person in metadata.contributors
    ]
    descriptor: dict[str, Any] = {
        "profile": "data-package",
        "name": frictionless_name(package.slug),
        "title": citation.title,
        "description": citation.description,
        "version": f"{version.number}.0.0",
        "created": created,
        "contributors": contributors,
    }
    if metadata.license:
        descriptor["licenses"] = [{"name": metadata.license, "path": citation.license_url, "title": metadata.license}]
    if metadata.keywords or metadata.subjects:
        descriptor["keywords"] = [*metadata.keywords, *metadata.subjects]
    return json.dumps(descriptor, ensure_ascii=False, indent=1)[:-2] + ',\n "resources": [\n'


def _person_details(orcid: str | None, affiliation: str | None) -> dict[str, str]:
    details = {}
    if orcid:
        details["path"] = f"https://orcid.org/{orcid}"
    if affiliation:
        details["organization"] = affiliation
    return details


def resource(row: Row, *, first: bool) -> str:
    suffix = extension(row.path)
    # An empty file holds no table: a validator would call it an empty source.
    kind = _kind(suffix, tabular=suffix in TABLES and row.size > 0, text=row.is_text)
    text = f'{{"name": {json_string(frictionless_name(row.path))}, "path": "{BASE}{row.link}", {kind}'
    if suffix not in COMPRESSED:
        text += f', "bytes": {row.size}'
    if row.sha256:
        text += f', "hash": "sha256:{row.sha256}"'
    return ("  " if first else ",\n  ") + text + "}"


TAIL = "\n ]\n}\n"
