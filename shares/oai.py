"""OAI-PMH 2.0 over the public versions (http://www.openarchives.org/OAI/openarchivesprotocol.html).

Every version that was ever made public is an item, identified `oai:<site>:<package id>/v<number>`,
its datestamp the moment its visibility last changed (PackageVersion.public_changed_at; the
version's metadata is frozen, so nothing else changes it). A version made private again is
answered as a deleted record (`deletedRecord` transient: packager keeps it, but does not
promise to forever). Formats: `oai_dc` (unqualified Dublin Core) and `oai_datacite`, as
DataCite's own OAI provider serves it: its OAI wrapper 1.1 (`<oai_datacite>` with
`schemaVersion`, `datacentreSymbol` and a `payload` holding the version's DataCite kernel-4
<resource>, as in its datacite.xml). No sets.

Lists are read a page at a time in (datestamp, id) order, each page one query after the
previous page's last row (the resumptionToken says where), plus one count.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from packager.citation import Citation, citation_for
from packager.exports import datacite
from packager.models import PackageVersion

NAMESPACE = "http://www.openarchives.org/OAI/2.0/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
OAI_DATACITE = "http://schema.datacite.org/oai/oai-1.1/"
FORMATS = {
    "oai_dc": ("http://www.openarchives.org/OAI/2.0/oai_dc.xsd", OAI_DC),
    "oai_datacite": ("http://schema.datacite.org/oai/oai-1.1/oai.xsd", OAI_DATACITE),
}
VERBS = {
    "Identify": (set(), set()),
    "ListMetadataFormats": (set(), {"identifier"}),
    "ListSets": (set(), set()),
    "GetRecord": ({"identifier", "metadataPrefix"}, set()),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set"}),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set"}),
}
RESUMABLE = {"ListSets", "ListIdentifiers", "ListRecords"}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SECOND = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
# Prefixes of the namespaces a response holds. ElementTree's registry is global and the
# DataCite export claims the default namespace for kernel-4 (packager.exports.datacite), so
# the envelope is written with the "oai" prefix: never two namespaces on one prefix.
ET.register_namespace("oai", NAMESPACE)
ET.register_namespace("xsi", XSI)
ET.register_namespace("oai_dc", OAI_DC)
ET.register_namespace("dc", DC)
ET.register_namespace("oai_datacite", OAI_DATACITE)
_IDENTIFIER = re.compile(r"^oai:[^:]+:([0-9a-f-]{36})/v(\d{1,9})$")


class OaiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _el(
    parent: ET.Element, tag: str, text: str | None = None, namespace: str = NAMESPACE, **attributes: str
) -> ET.Element:
    element = ET.SubElement(parent, f"{{{namespace}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def repository_id() -> str:
    return slugify(settings.SITE_NAME) or "packager"


def identifier_of(version: PackageVersion) -> str:
    return f"oai:{repository_id()}:{version.package.public_id}/v{version.number}"


def _items() -> QuerySet[PackageVersion]:
    """Every version ever made public (public_changed_at is set when `public` first changes)."""
    return PackageVersion.objects.filter(
        public_changed_at__isnull=False, state=PackageVersion.State.PUBLISHED
    ).select_related("package__owner")


@dataclass
class Request:
    """One OAI-PMH request: the verb, its arguments, and how to write a version's landing URL."""

    verb: str
    arguments: dict[str, str]
    base_url: str
    landing: Callable[[PackageVersion], str]


def parse(query: dict[str, list[str]]) -> tuple[str, dict[str, str]]:
    """The verb and arguments, or OaiError badVerb / badArgument (repeated or unknown arguments)."""
    verbs = query.get("verb", [])
    if len(verbs) != 1 or verbs[0] not in VERBS:
        raise OaiError("badVerb", "The verb argument is missing, repeated or not an OAI-PMH verb.")
    verb = verbs[0]
    required, optional = VERBS[verb]
    arguments: dict[str, str] = {}
    for name, values in query.items():
        if name == "verb":
            continue
        if len(values) != 1:
            raise OaiError("badArgument", f"The argument {name} is repeated.")
        allowed = required | optional | ({"resumptionToken"} if verb in RESUMABLE else set())
        if name not in allowed:
            raise OaiError("badArgument", f"{verb} takes no argument {name}.")
        arguments[name] = values[0]
    if "resumptionToken" in arguments:
        if len(arguments) > 1:
            raise OaiError("badArgument", "resumptionToken is an exclusive argument.")
    else:
        missing = required - arguments.keys()
        if missing:
            raise OaiError("badArgument", f"{verb} needs {', '.join(sorted(missing))}.")
    return verb, arguments


def _moment(value: str, *, end: bool) -> tuple[dt.datetime, str]:
    """A from/until argument as an aware datetime bound, and its granularity."""
    try:
        if _DAY.match(value):
            day = dt.date.fromisoformat(value)
            moment = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            return (moment + dt.timedelta(days=1) if end else moment), "day"
        if _SECOND.match(value):
            moment = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
            return (moment + dt.timedelta(seconds=1) if end else moment), "second"
    except ValueError:
        pass
    raise OaiError("badArgument", f"{value!r} is not a UTC datestamp (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ).")


def _version_of(identifier: str) -> PackageVersion:
    match = _IDENTIFIER.match(identifier)
    if not match:
        raise OaiError("idDoesNotExist", f"No item has the identifier {identifier!r}.")
    version = _items().filter(package__public_id=match.group(1), number=int(match.group(2))).first()
    if version is None or identifier_of(version) != identifier:
        raise OaiError("idDoesNotExist", f"No item has the identifier {identifier!r}.")
    return version


def _format(prefix: str) -> str:
    if prefix not in FORMATS:
        raise OaiError(
            "cannotDisseminateFormat", f"This repository disseminates oai_dc and oai_datacite, not {prefix!r}."
        )
    return prefix


# Records ------------------------------------------------------------------------------


def _header(parent: ET.Element, version: PackageVersion) -> None:
    assert version.public_changed_at is not None
    attributes = {} if version.public else {"status": "deleted"}
    header = _el(parent, "header", **attributes)
    _el(header, "identifier", identifier_of(version))
    _el(header, "datestamp", _stamp(version.public_changed_at))


def _dublin_core(parent: ET.Element, citation: Citation, formats: list[str]) -> None:
    metadata = citation.metadata
    root = _el(
        parent,
        "dc",
        namespace=OAI_DC,
        **{f"{{{XSI}}}schemaLocation": f"{OAI_DC} {FORMATS['oai_dc'][0]}"},
    )

    def dc(tag: str, text: str) -> None:
        _el(root, tag, text, namespace=DC)

    dc("title", citation.title)
    for person in citation.creators:
        dc("creator", person.name)
    for subject in [*metadata.subjects, *metadata.keywords]:
        dc("subject", subject)
    if citation.description:
        dc("description", citation.description)
    dc("publisher", citation.publisher)
    for person in metadata.contributors:
        dc("contributor", person.name)
    dc("date", citation.date.isoformat())
    dc("type", "Dataset")
    for media_type in formats:
        dc("format", media_type)
    dc("identifier", citation.identifier_url)
    if citation.doi:
        dc("identifier", citation.url)
    if metadata.language:
        dc("language", metadata.language)
    for item in metadata.related:
        dc("relation", f"https://doi.org/{item.identifier}" if item.identifier_type == "DOI" else item.identifier)
    for coverage in (metadata.spatial_coverage, metadata.temporal_coverage):
        if coverage:
            dc("coverage", coverage)
    if metadata.license:
        dc("rights", citation.license_url)


def datacentre_symbol() -> str:
    """The repository's DataCite id (DATACITE_USERNAME, e.g. "TIB.WDCC") when DOIs are registered
    there, else this site's OAI repository id: who registered the record."""
    return settings.DATACITE_USERNAME.upper() or repository_id()


def _oai_datacite(parent: ET.Element, citation: Citation, formats: list[str]) -> None:
    wrapper = _el(
        parent,
        "oai_datacite",
        namespace=OAI_DATACITE,
        **{f"{{{XSI}}}schemaLocation": f"{OAI_DATACITE} {FORMATS['oai_datacite'][0]}"},
    )
    _el(wrapper, "schemaVersion", datacite.SCHEMA_VERSION, namespace=OAI_DATACITE)
    _el(wrapper, "datacentreSymbol", datacentre_symbol(), namespace=OAI_DATACITE)
    _el(wrapper, "payload", namespace=OAI_DATACITE).append(datacite.resource(citation, formats=formats))


def _record(parent: ET.Element, version: PackageVersion, prefix: str, request: Request) -> None:
    record = _el(parent, "record")
    _header(record, version)
    if not version.public:
        return
    formats = version.exports.get("formats", [])
    citation = citation_for(version, url=request.landing(version), package=version.package)
    container = _el(record, "metadata")
    if prefix == "oai_dc":
        _dublin_core(container, citation, formats)
    else:
        _oai_datacite(container, citation, formats)


# Lists and their resumption tokens ----------------------------------------------------


def _encode_token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(state, dict):
            raise ValueError
        state["after"] = (dt.datetime.fromisoformat(state["after"][0]), int(state["after"][1]))
        for key in ("from", "until"):
            if state.get(key) is not None:
                state[key] = dt.datetime.fromisoformat(state[key])
        _format(str(state["prefix"]))
        state["cursor"] = int(state["cursor"])
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error, UnicodeDecodeError, OaiError):
        raise OaiError("badResumptionToken", "The resumptionToken is not one this repository issued.") from None
    return state


def _list(parent: ET.Element, request: Request, *, records: bool) -> None:
    arguments = request.arguments
    if "resumptionToken" in arguments:
        state = _decode_token(arguments["resumptionToken"])
    else:
        if "set" in arguments:
            raise OaiError("noSetHierarchy", "This repository has no sets.")
        prefix = _format(arguments["metadataPrefix"])
        state = {"prefix": prefix, "after": None, "cursor": 0, "from": None, "until": None}
        granularities = set()
        if "from" in arguments:
            state["from"], granularity = _moment(arguments["from"], end=False)
            granularities.add(granularity)
        if "until" in arguments:
            state["until"], granularity = _moment(arguments["until"], end=True)
            granularities.add(granularity)
        if len(granularities) > 1:
            raise OaiError("badArgument", "from and until have different granularities.")
    items = _items()
    if state["from"] is not None:
        items = items.filter(public_changed_at__gte=state["from"])
    if state["until"] is not None:
        items = items.filter(public_changed_at__lt=state["until"])
    total = items.count()
    if state["after"] is not None:
        moment, last_id = state["after"]
        items = items.filter(Q(public_changed_at__gt=moment) | Q(public_changed_at=moment, id__gt=last_id))
    size = settings.OAI_PAGE_SIZE
    page = list(items.order_by("public_changed_at", "id")[: size + 1])
    if not page:
        raise OaiError("noRecordsMatch", "No record matches these arguments.")
    container = _el(parent, request.verb)
    for version in page[:size]:
        if records:
            _record(container, version, state["prefix"], request)
        else:
            _header(container, version)
    cursor = state["cursor"]
    if len(page) > size:
        last = page[size - 1]
        assert last.public_changed_at is not None
        next_state = {
            "prefix": state["prefix"],
            "after": [last.public_changed_at.isoformat(), last.id],
            "cursor": cursor + size,
            "from": state["from"].isoformat() if state["from"] else None,
            "until": state["until"].isoformat() if state["until"] else None,
        }
        _el(container, "resumptionToken", _encode_token(next_state), completeListSize=str(total), cursor=str(cursor))
    elif cursor:
        # The last page of a resumed list: an empty token says the list is complete.
        _el(container, "resumptionToken", "", completeListSize=str(total), cursor=str(cursor))


# Verbs --------------------------------------------------------------------------------


def _identify(parent: ET.Element, request: Request) -> None:
    identify = _el(parent, "Identify")
    _el(identify, "repositoryName", settings.SITE_NAME)
    _el(identify, "baseURL", request.base_url)
    _el(identify, "protocolVersion", "2.0")
    _el(identify, "adminEmail", settings.OAI_ADMIN_EMAIL)
    earliest = _items().order_by("public_changed_at").values_list("public_changed_at", flat=True).first()
    _el(identify, "earliestDatestamp", _stamp(earliest or timezone.now()))
    _el(identify, "deletedRecord", "transient")
    _el(identify, "granularity", "YYYY-MM-DDThh:mm:ssZ")


def _metadata_formats(parent: ET.Element, request: Request) -> None:
    if "identifier" in request.arguments:
        _version_of(request.arguments["identifier"])
    listed = _el(parent, "ListMetadataFormats")
    for prefix, (schema, namespace) in FORMATS.items():
        entry = _el(listed, "metadataFormat")
        _el(entry, "metadataPrefix", prefix)
        _el(entry, "schema", schema)
        _el(entry, "metadataNamespace", namespace)


def _get_record(parent: ET.Element, request: Request) -> None:
    prefix = _format(request.arguments["metadataPrefix"])
    version = _version_of(request.arguments["identifier"])
    _record(_el(parent, "GetRecord"), version, prefix, request)


def _respond(parent: ET.Element, request: Request) -> None:
    if request.verb == "Identify":
        _identify(parent, request)
    elif request.verb == "ListMetadataFormats":
        _metadata_formats(parent, request)
    elif request.verb == "ListSets":
        raise OaiError("noSetHierarchy", "This repository has no sets.")
    elif request.verb == "GetRecord":
        _get_record(parent, request)
    else:
        _list(parent, request, records=request.verb == "ListRecords")


def response(query: dict[str, list[str]], *, base_url: str, landing: Callable[[PackageVersion], str]) -> bytes:
    """The OAI-PMH response to a request's query arguments, as XML bytes (always 200, as the
    protocol wants: errors are <error> elements)."""
    root = ET.Element(
        f"{{{NAMESPACE}}}OAI-PMH",
        {f"{{{XSI}}}schemaLocation": f"{NAMESPACE} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"},
    )
    _el(root, "responseDate", _stamp(timezone.now()))
    request_element = _el(root, "request", base_url)
    try:
        verb, arguments = parse(query)
        # Only a request without badVerb/badArgument echoes its arguments.
        request_element.attrib.update({"verb": verb, **arguments})
        _respond(root, Request(verb=verb, arguments=arguments, base_url=base_url, landing=landing))
    except OaiError as error:
        for child in list(root)[2:]:
            root.remove(child)
        if error.code in ("badVerb", "badArgument"):
            request_element.attrib.clear()
        _el(root, "error", error.message, code=error.code)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def landing_path(version: PackageVersion) -> str:
    return reverse("version_landing", kwargs={"public_id": version.package.public_id, "number": version.number})
