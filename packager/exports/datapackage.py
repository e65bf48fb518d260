"""datapackage.json: the version as a Frictionless Data Package.

One resource per file, whose `path` is its resolve link, with `bytes` and
`hash` = "sha256:<hex>", so any Frictionless tool can fetch and check every file. The
document is written as one resource per line, so it streams like the other exports.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING

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
    package = version.package
    descriptor = {
        "profile": "data-package",
        "name": frictionless_name(package.slug),
        "title": package.name,
        "description": package.description,
        "version": f"{version.number}.0.0",
        "created": created,
    }
    return json.dumps(descriptor, ensure_ascii=False, indent=1)[:-2] + ',\n "resources": [\n'


def resource(row: Row, *, first: bool) -> str:
    text = f'{{"name": {json_string(frictionless_name(row.path))}, "path": "{BASE}{row.link}", "bytes": {row.size}'
    if row.sha256:
        text += f', "hash": "sha256:{row.sha256}"'
    return ("  " if first else ",\n  ") + text + "}"


TAIL = "\n ]\n}\n"
