"""ro-crate-metadata.json: the version as an RO-Crate 1.1 (loads with the `rocrate` package).

Every entry, data and text, is a `File` whose `@id` is its package path (percent-encoded,
as RO-Crate wants a URI path), with `contentSize`, `encodingFormat`, `sha256` and, for
reaching the bytes, `contentUrl` = its resolve link. The per-file part is written once per
version (parts "rocrate-ids" and "rocrate-files", with BASE marks for the share's links);
a download wraps it between a head and a tail built from the version's citation.
"""

from __future__ import annotations

import json
import mimetypes
from typing import TYPE_CHECKING, Any

from packager.exports.parts import BASE
from packager.exports.rows import Row, json_string

if TYPE_CHECKING:
    from packager.citation import Citation
    from packager.metadata import Person

NAME = "ro-crate-metadata.json"
IDS_PART = "rocrate-ids"
FILES_PART = "rocrate-files"
CONTEXT = "https://w3id.org/ro/crate/1.1/context"
PROFILE = "https://w3id.org/ro/crate/1.1"


def media_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path, strict=False)
    if guessed is None and path.lower().endswith((".md", ".markdown")):
        return "text/markdown"
    return guessed or "application/octet-stream"


def id_line(row: Row, *, first: bool) -> str:
    return ("" if first else ", ") + f'{{"@id": "{row.link}"}}'


def file_entity(row: Row) -> str:
    """One File entity followed by ",\n" (the tail always has more entities after it). Holds one BASE mark."""
    entity = (
        f'{{"@id": "{row.link}", "@type": "File", "name": {json_string(row.path)}, '
        f'"contentSize": "{row.size}", "encodingFormat": {json_string(media_type(row.path))}'
    )
    if row.sha256:
        entity += f', "sha256": "{row.sha256}"'
    return entity + f', "contentUrl": "{BASE}{row.link}"}},\n'


def _person_id(person: Person, index: int, role: str) -> str:
    return f"https://orcid.org/{person.orcid}" if person.orcid else f"#{role}-{index + 1}"


def _people(people: list[Person], role: str) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    references, entities = [], []
    for index, person in enumerate(people):
        identifier = _person_id(person, index, role)
        references.append({"@id": identifier})
        entity: dict[str, Any] = {"@id": identifier, "@type": "Person", "name": person.name}
        if person.affiliation:
            entity["affiliation"] = {"@id": person.ror} if person.ror else person.affiliation
            if person.ror:
                entities.append({"@id": person.ror, "@type": "Organization", "name": person.affiliation})
        entities.append(entity)
    return references, entities


def head_and_tail(citation: Citation) -> tuple[str, str, str]:
    """The text before the ids, between the ids and the File entities, and after them."""
    metadata = citation.metadata
    authors, people = _people(citation.creators, "creator")
    contributors, more_people = _people(metadata.contributors, "contributor")
    root: dict[str, Any] = {
        "@id": "./",
        "@type": "Dataset",
        "name": citation.title,
        "description": citation.description or citation.title,
        "datePublished": citation.date.isoformat(),
        "version": citation.version,
        "identifier": citation.identifier_url,
        "url": citation.url,
        "author": authors,
        "publisher": {"@id": "#publisher"},
    }
    if contributors:
        root["contributor"] = contributors
    if metadata.license:
        root["license"] = {"@id": citation.license_url}
    if metadata.keywords or metadata.subjects:
        root["keywords"] = ", ".join([*metadata.keywords, *metadata.subjects])
    if metadata.language:
        root["inLanguage"] = metadata.language
    if metadata.spatial_coverage:
        root["spatialCoverage"] = {"@id": "#place"}
    if metadata.temporal_coverage:
        root["temporalCoverage"] = metadata.temporal_coverage
    if metadata.funding:
        root["funder"] = [
            {"@id": grant.funder_ror or f"#funder-{index + 1}"} for index, grant in enumerate(metadata.funding)
        ]
    descriptor = {
        "@id": NAME,
        "@type": "CreativeWork",
        "conformsTo": {"@id": PROFILE},
        "about": {"@id": "./"},
    }
    contextual: list[dict[str, Any]] = [*people, *more_people]
    contextual.append({"@id": "#publisher", "@type": "Organization", "name": citation.publisher})
    if metadata.license:
        contextual.append({"@id": citation.license_url, "@type": "CreativeWork", "name": metadata.license})
    if metadata.spatial_coverage:
        contextual.append({"@id": "#place", "@type": "Place", "name": metadata.spatial_coverage})
    for index, grant in enumerate(metadata.funding):
        contextual.append(
            {"@id": grant.funder_ror or f"#funder-{index + 1}", "@type": "Organization", "name": grant.funder}
        )
    # An organization named twice (an affiliation and a funder) is one entity.
    unique = list({entity["@id"]: entity for entity in contextual}.values())

    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    root_text = dumps(root)[:-1] + ', "hasPart": ['
    head = f'{{"@context": "{CONTEXT}",\n "@graph": [\n{dumps(descriptor)},\n{root_text}'
    middle = "]},\n"
    tail = ",\n".join(dumps(entity) for entity in unique) + "\n]}\n"
    return head, middle, tail
