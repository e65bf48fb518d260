"""The share page's schema.org `Dataset` as JSON-LD, for dataset search engines.

Only the https://schema.org context; Google's Dataset rules: a name, a description of 50
to 5,000 characters (a short one is completed with what the version holds), creators,
license, identifier, version, and a `distribution` with the ZIP and urls.txt.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.template.defaultfilters import filesizeformat

if TYPE_CHECKING:
    from packager.citation import Citation
    from packager.metadata import Person

MIN_DESCRIPTION = 50
MAX_DESCRIPTION = 5000


def description(citation: Citation) -> str:
    text = citation.description.strip()
    if len(text) < MIN_DESCRIPTION:
        summary = (
            f"Version {citation.version} of the data package “{citation.title}”: {citation.entry_count} files, "
            f"{filesizeformat(citation.total_size)}, published by {citation.publisher}."
        )
        text = f"{text} {summary}".strip() if text else summary
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 1].rstrip() + "…"
    return text


def _person(person: Person) -> dict[str, Any]:
    from packager.exports.cff import split_name

    given, family = split_name(person.name)
    entry: dict[str, Any] = {"@type": "Person" if given or person.orcid else "Organization", "name": person.name}
    if given:
        entry["givenName"], entry["familyName"] = given, family
    if person.orcid:
        entry["sameAs"] = f"https://orcid.org/{person.orcid}"
    if person.affiliation:
        affiliation: dict[str, Any] = {"@type": "Organization", "name": person.affiliation}
        if person.ror:
            affiliation["sameAs"] = person.ror
        entry["affiliation"] = affiliation
    return entry


def dataset(citation: Citation, *, zip_url: str, urls_url: str) -> dict[str, Any]:
    metadata = citation.metadata
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": citation.title,
        "description": description(citation),
        "url": citation.url,
        "identifier": citation.identifier_url,
        "version": citation.version,
        "datePublished": citation.date.isoformat(),
        "creator": [_person(person) for person in citation.creators],
        "publisher": {"@type": "Organization", "name": citation.publisher},
        "isAccessibleForFree": True,
        "distribution": [
            {"@type": "DataDownload", "encodingFormat": "application/zip", "contentUrl": zip_url},
            {"@type": "DataDownload", "encodingFormat": "text/plain", "contentUrl": urls_url},
        ],
    }
    if metadata.contributors:
        data["contributor"] = [_person(person) for person in metadata.contributors]
    if metadata.license:
        data["license"] = citation.license_url
    if metadata.keywords or metadata.subjects:
        data["keywords"] = [*metadata.keywords, *metadata.subjects]
    if metadata.language:
        data["inLanguage"] = metadata.language
    if metadata.spatial_coverage:
        data["spatialCoverage"] = {"@type": "Place", "name": metadata.spatial_coverage}
    if metadata.temporal_coverage:
        data["temporalCoverage"] = metadata.temporal_coverage
    if metadata.funding:
        data["funder"] = [
            {
                "@type": "Organization",
                "name": grant.funder,
                **({"sameAs": grant.funder_ror} if grant.funder_ror else {}),
            }
            for grant in metadata.funding
        ]
    if citation.doi:
        data["sameAs"] = citation.url
    return data


def json_ld(citation: Citation, *, zip_url: str, urls_url: str) -> str:
    """The JSON text for a <script type="application/ld+json">, safe inside HTML ("<" escaped)."""
    text = json.dumps(dataset(citation, zip_url=zip_url, urls_url=urls_url), ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
