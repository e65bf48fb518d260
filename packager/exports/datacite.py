"""datacite.xml: the version in the DataCite Metadata Schema 4.6 (kernel-4).

Valid against the XSD DataCite publishes for 4.6 (kept in tests/data and checked with
lxml in the tests). The same <resource> is the payload of OAI-PMH's oai_datacite; `attributes`
says the same in the JSON of DataCite's REST API, the body of a DOI registration (packager.doi).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from packager.citation import Citation
    from packager.metadata import Person

NAME = "datacite.xml"
SCHEMA_VERSION = "4.6"
NAMESPACE = "http://datacite.org/schema/kernel-4"
SCHEMA_LOCATION = f"{NAMESPACE} http://schema.datacite.org/meta/kernel-4.6/metadata.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NAMESPACE}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def _person(parent: ET.Element, tag: str, person: Person, *, contributor_type: str = "") -> None:
    from packager.exports.cff import split_name

    attributes = {"contributorType": contributor_type} if contributor_type else {}
    element = _add(parent, tag, **attributes)
    given, family = split_name(person.name)
    name_type = "Personal" if given or person.orcid else "Organizational"
    _add(element, f"{tag}Name", f"{family}, {given}" if given else person.name, nameType=name_type)
    if given:
        _add(element, "givenName", given)
        _add(element, "familyName", family)
    if person.orcid:
        _add(
            element,
            "nameIdentifier",
            f"https://orcid.org/{person.orcid}",
            nameIdentifierScheme="ORCID",
            schemeURI="https://orcid.org",
        )
    if person.affiliation:
        if person.ror:
            _add(
                element,
                "affiliation",
                person.affiliation,
                affiliationIdentifier=person.ror,
                affiliationIdentifierScheme="ROR",
                schemeURI="https://ror.org",
            )
        else:
            _add(element, "affiliation", person.affiliation)


def resource(citation: Citation, *, formats: list[str]) -> ET.Element:
    """The <resource> element; `formats` are the media types of the version's files."""
    metadata = citation.metadata
    root = ET.Element(f"{{{NAMESPACE}}}resource", {f"{{{XSI}}}schemaLocation": SCHEMA_LOCATION})
    _add(root, "identifier", citation.identifier, identifierType=citation.identifier_type)
    creators = _add(root, "creators")
    for person in citation.creators:
        _person(creators, "creator", person)
    titles = _add(root, "titles")
    _add(titles, "title", citation.title)
    _add(root, "publisher", citation.publisher)
    _add(root, "publicationYear", str(citation.year))
    _add(root, "resourceType", "Data package", resourceTypeGeneral="Dataset")
    if metadata.subjects or metadata.keywords:
        subjects = _add(root, "subjects")
        for subject in metadata.subjects:
            _add(subjects, "subject", subject)
        for keyword in metadata.keywords:
            _add(subjects, "subject", keyword, subjectScheme="keyword")
    if metadata.contributors:
        contributors = _add(root, "contributors")
        for person in metadata.contributors:
            _person(contributors, "contributor", person, contributor_type="Other")
    dates = _add(root, "dates")
    _add(dates, "date", citation.date.isoformat(), dateType="Issued")
    if metadata.temporal_coverage:
        _add(dates, "date", metadata.temporal_coverage, dateType="Coverage")
    if metadata.language:
        _add(root, "language", metadata.language)
    if citation.doi:
        alternates = _add(root, "alternateIdentifiers")
        _add(alternates, "alternateIdentifier", citation.url, alternateIdentifierType="URL")
    if metadata.related:
        related = _add(root, "relatedIdentifiers")
        for item in metadata.related:
            _add(
                related,
                "relatedIdentifier",
                item.identifier,
                relatedIdentifierType=item.identifier_type,
                relationType=item.relation,
            )
    sizes = _add(root, "sizes")
    _add(sizes, "size", f"{citation.file_count} data files")
    _add(sizes, "size", f"{citation.entry_count} files")
    _add(sizes, "size", f"{citation.total_size} bytes")
    if formats:
        listed = _add(root, "formats")
        for media_type in formats:
            _add(listed, "format", media_type)
    _add(root, "version", citation.version)
    if metadata.license:
        rights = _add(root, "rightsList")
        _add(
            rights,
            "rights",
            metadata.license,
            rightsURI=citation.license_url,
            rightsIdentifier=metadata.license,
            rightsIdentifierScheme="SPDX",
            schemeURI="https://spdx.org/licenses/",
        )
    if citation.description:
        descriptions = _add(root, "descriptions")
        _add(descriptions, "description", citation.description, descriptionType="Abstract")
    if metadata.spatial_coverage:
        places = _add(root, "geoLocations")
        _add(_add(places, "geoLocation"), "geoLocationPlace", metadata.spatial_coverage)
    if metadata.funding:
        funding = _add(root, "fundingReferences")
        for grant in metadata.funding:
            reference = _add(funding, "fundingReference")
            _add(reference, "funderName", grant.funder)
            if grant.funder_ror:
                _add(reference, "funderIdentifier", grant.funder_ror, funderIdentifierType="ROR")
            if grant.award:
                _add(reference, "awardNumber", grant.award)
    return root


def datacite_xml(citation: Citation, *, formats: list[str]) -> bytes:
    ET.register_namespace("", NAMESPACE)
    ET.register_namespace("xsi", XSI)
    root = resource(citation, formats=formats)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


# The same metadata as DataCite's REST API takes it (JSON:API attributes of a "dois" resource) --


def _json_person(person: Person, *, contributor_type: str = "") -> dict[str, Any]:
    from packager.exports.cff import split_name

    given, family = split_name(person.name)
    entry: dict[str, Any] = {
        "name": f"{family}, {given}" if given else person.name,
        "nameType": "Personal" if given or person.orcid else "Organizational",
    }
    if given:
        entry["givenName"], entry["familyName"] = given, family
    if contributor_type:
        entry["contributorType"] = contributor_type
    if person.orcid:
        entry["nameIdentifiers"] = [
            {
                "nameIdentifier": f"https://orcid.org/{person.orcid}",
                "nameIdentifierScheme": "ORCID",
                "schemeUri": "https://orcid.org",
            }
        ]
    if person.affiliation:
        affiliation: dict[str, Any] = {"name": person.affiliation}
        if person.ror:
            affiliation.update(
                affiliationIdentifier=person.ror, affiliationIdentifierScheme="ROR", schemeUri="https://ror.org"
            )
        entry["affiliation"] = [affiliation]
    return entry


def attributes(citation: Citation, *, formats: list[str]) -> dict[str, Any]:
    """What `resource` says, as attributes of DataCite's REST API (the caller adds doi, url, event)."""
    metadata = citation.metadata
    data: dict[str, Any] = {
        "creators": [_json_person(person) for person in citation.creators],
        "titles": [{"title": citation.title}],
        "publisher": citation.publisher,
        "publicationYear": citation.year,
        "types": {"resourceTypeGeneral": "Dataset", "resourceType": "Data package"},
        "subjects": [{"subject": subject} for subject in metadata.subjects]
        + [{"subject": keyword, "subjectScheme": "keyword"} for keyword in metadata.keywords],
        "contributors": [_json_person(person, contributor_type="Other") for person in metadata.contributors],
        "dates": [{"date": citation.date.isoformat(), "dateType": "Issued"}]
        + ([{"date": metadata.temporal_coverage, "dateType": "Coverage"}] if metadata.temporal_coverage else []),
        "relatedIdentifiers": [
            {
                "relatedIdentifier": item.identifier,
                "relatedIdentifierType": item.identifier_type,
                "relationType": item.relation,
            }
            for item in metadata.related
        ],
        "sizes": [f"{citation.file_count} data files", f"{citation.entry_count} files", f"{citation.total_size} bytes"],
        "formats": list(formats),
        "version": citation.version,
        "rightsList": [],
        "descriptions": [],
        "geoLocations": [{"geoLocationPlace": metadata.spatial_coverage}] if metadata.spatial_coverage else [],
        "fundingReferences": [
            {
                "funderName": grant.funder,
                **({"funderIdentifier": grant.funder_ror, "funderIdentifierType": "ROR"} if grant.funder_ror else {}),
                **({"awardNumber": grant.award} if grant.award else {}),
            }
            for grant in metadata.funding
        ],
        "schemaVersion": NAMESPACE,
    }
    if metadata.license:
        data["rightsList"].append(
            {
                "rights": metadata.license,
                "rightsUri": citation.license_url,
                "rightsIdentifier": metadata.license,
                "rightsIdentifierScheme": "SPDX",
                "schemeUri": "https://spdx.org/licenses/",
            }
        )
    if citation.description:
        data["descriptions"].append({"description": citation.description, "descriptionType": "Abstract"})
    if metadata.language:
        data["language"] = metadata.language
    return data
