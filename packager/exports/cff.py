"""CITATION.cff: the version's citation in the Citation File Format 1.2.0.

Written as YAML whose scalars are JSON strings (a subset of YAML's double-quoted form), so
no value can change the document's structure. `cffconvert --validate` passes on it
(tests/test_citation_exports.py), and packager.exports.bibliography converts it with
cffconvert for the share page's "Cite this" box.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from packager.citation import Citation
    from packager.metadata import Person

NAME = "CITATION.cff"
CFF_VERSION = "1.2.0"


@functools.cache
def cff_licenses() -> frozenset[str]:
    """The SPDX ids CFF 1.2.0's schema lists (older than the SPDX list packager offers): others
    are written as license-url, which the schema takes for any license."""
    schema_file = importlib.resources.files("cffconvert") / "schemas" / CFF_VERSION / "schema.json"
    schema = json.loads(schema_file.read_text())
    return frozenset(schema["definitions"]["license-enum"]["enum"])


def split_name(name: str) -> tuple[str, str]:
    """(given names, family names) of "Family, Given" or "Given Family"; ("", name) for one word."""
    if "," in name:
        family, _, given = name.partition(",")
        return given.strip(), family.strip()
    given, _, family = name.rpartition(" ")
    return given.strip(), family.strip()


def cff_person(person: Person) -> dict[str, Any]:
    given, family = split_name(person.name)
    entry: dict[str, Any] = {"family-names": family, "given-names": given} if given else {"name": family}
    if person.orcid:
        entry["orcid"] = f"https://orcid.org/{person.orcid}"
    if person.affiliation and given:
        entry["affiliation"] = person.affiliation
    return entry


def document(citation: Citation) -> dict[str, Any]:
    metadata = citation.metadata
    data: dict[str, Any] = {
        "cff-version": CFF_VERSION,
        "message": "If you use this dataset, please cite it as below.",
        "type": "dataset",
        "title": citation.title,
        "authors": [cff_person(person) for person in citation.creators],
        "version": citation.version,
        "date-released": citation.date.isoformat(),
        "url": citation.url,
    }
    if citation.doi:
        data["doi"] = citation.doi
    identifiers = [{"type": "url", "value": citation.url, "description": "The share link of this version"}]
    if citation.doi:
        identifiers.insert(0, {"type": "doi", "value": citation.doi, "description": "The DOI of this version"})
    data["identifiers"] = identifiers
    if citation.description:
        data["abstract"] = citation.description
    if metadata.license:
        if metadata.license in cff_licenses():
            data["license"] = metadata.license
        else:
            data["license-url"] = citation.license_url
    keywords = [*metadata.keywords, *metadata.subjects]
    if keywords:
        data["keywords"] = list(dict.fromkeys(keywords))
    return data


def _yaml(value: Any, indent: str) -> list[str]:
    """Block-style YAML lines for a mapping or a list of mappings/strings."""
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                lines.append(f"{indent}{key}:")
                lines.extend(_yaml(item, indent + "  "))
            else:
                lines.append(f"{indent}{key}: {json.dumps(item, ensure_ascii=False)}")
    else:
        for item in value:
            if isinstance(item, dict):
                nested = _yaml(item, indent + "  ")
                lines.append(indent + "- " + nested[0][len(indent) + 2 :])
                lines.extend(nested[1:])
            else:
                lines.append(f"{indent}- {json.dumps(item, ensure_ascii=False)}")
    return lines


def citation_cff(citation: Citation) -> str:
    return "\n".join(_yaml(document(citation), "")) + "\n"
