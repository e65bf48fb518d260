"""datapackage.json: the version as a Frictionless Data Package.

One resource per file, whose `path` is its resolve link, with `bytes` and
`hash` = "sha256:<hex>", so any Frictionless tool can fetch and check every file. The
document is written as one resource per line, so it streams like the other exports.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from packager.exports.parts import BASE
from packager.exports.rows import Row, json_string

if TYPE_CHECKING:
    from packager.models import PackageVersion

PART = "datapackage"
NAME = "datapackage.json"
_NOT_IN_NAMES = re.compile(r"[^-a-z0-9._/]+")


def frictionless_name(text: str) -> str:
    """A name the Data Package spec accepts (lower-case letters, digits, "-._/"). A name that
    had to change gets a short hash of the original, so two paths never share a name."""
    name = _NOT_IN_NAMES.sub("-", text.lower()).strip("-") or "file"
    if name != text:
        name += "-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return name


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
    text = f'{{"name": {json_string(frictionless_name(row.path))}, "path": "{BASE}{row.link}", "bytes": {row.size}'
    if row.sha256:
        text += f', "hash": "sha256:{row.sha256}"'
    return ("  " if first else ",\n  ") + text + "}"


TAIL = "\n ]\n}\n"
