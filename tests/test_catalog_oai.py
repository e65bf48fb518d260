"""The public catalog, each public version's landing page, and OAI-PMH 2.0: responses valid
against the protocol's XSD (tests/data/oai-pmh) and harvested by a real client (sickle)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from lxml import etree
from sickle import Sickle

from packager import citation
from packager import services as packages
from packager.models import PackageVersion
from shares.models import Share
from tests.factories import make_local_source, publish, write_files
from tests.test_citation_exports import FULL

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data" / "oai-pmh"
NS = {
    "oai": "http://www.openarchives.org/OAI/2.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "oai_datacite": "http://schema.datacite.org/oai/oai-1.1/",
    "datacite": "http://datacite.org/schema/kernel-4",
}


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(DATA / "responses.xsd")))


def versions(owner: Any, tmp_path: Path, count: int) -> list[PackageVersion]:
    """`count` packages of one version each, titled "Package <i>", the first with every field."""
    write_files(tmp_path / "data", {"a.csv": b"x\n"})
    source = make_local_source(owner, tmp_path / "data")
    made = []
    for index in range(count):
        package = packages.package_create(owner=owner, name=f"p{index}", description="")
        packages.package_add_objects(package=package, source=source, paths=["a.csv"], target="")
        metadata = {**FULL, "title": f"Package {index}"} if index == 0 else {"title": f"Package {index}"}
        citation.package_metadata_set(package=package, metadata=metadata)
        made.append(publish(package))
    return made


def oai(client: Client, schema: etree.XMLSchema, **arguments: str) -> etree._Element:
    response = client.get(reverse("oai"), arguments)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    document = etree.fromstring(response.content)
    schema.assertValid(document)
    return document


def error_code(document: etree._Element) -> str | None:
    found = document.find("oai:error", NS)
    return None if found is None else found.get("code")


def test_the_catalog_lists_and_searches_only_public_versions(
    client: Client, owner: Any, tmp_path: Path, django_assert_num_queries: Any, settings: Any
) -> None:
    made = versions(owner, tmp_path, 4)
    for version in made[:3]:
        citation.version_public_set(version=version, public=True)
    citation.version_public_set(version=made[2], public=False)
    page = client.get(reverse("catalog")).content.decode()
    assert "Package 0" in page and "Package 1" in page
    assert "Package 2" not in page and "Package 3" not in page
    assert f"/catalog/{made[0].package.public_id}/1/" in page
    for query, expected in [("limnology", "Package 0"), ("carberry", "Package 0"), ("earth sci", "Package 0")]:
        found = client.get(reverse("catalog"), {"q": query}).content.decode()
        assert expected in found and "Package 1" not in found, query
    assert "No public version matches" in client.get(reverse("catalog"), {"q": "nothing-like-it"}).content.decode()
    # Constant queries: a count and a page, whatever the number of versions.
    settings.CATALOG_PAGE_SIZE = 1
    with django_assert_num_queries(2):
        second = client.get(reverse("catalog"), {"page": 2})
    assert "Page 2 of 2" in second.content.decode()
    assert client.post(reverse("catalog")).status_code == 405


def test_the_landing_page_leads_to_a_public_share_while_the_version_is_public(
    client: Client, owner: Any, tmp_path: Path
) -> None:
    [version] = versions(owner, tmp_path, 1)
    landing = reverse("version_landing", kwargs={"public_id": version.package.public_id, "number": 1})
    assert client.get(landing).status_code == 404
    citation.version_public_set(version=version, public=True)
    first = client.get(landing)
    assert first.status_code == 302 and client.get(landing)["Location"] == first["Location"]
    share = Share.objects.get(landing=True)
    assert share.version_id == version.pk and not share.has_password and share.expires_at is None
    page = client.get(first["Location"])
    assert page.status_code == 200 and "Package 0" in page.content.decode()
    citation.version_public_set(version=version, public=False)
    withdrawn = client.get(landing)
    assert withdrawn.status_code == 410 and "This version was withdrawn" in withdrawn.content.decode()
    assert client.get(first["Location"]).status_code == 410  # the landing share went with it
    other = reverse("version_landing", kwargs={"public_id": version.package.public_id, "number": 2})
    assert client.get(other).status_code == 404


def test_oai_verbs_answer_valid_responses(client: Client, owner: Any, tmp_path: Path, schema: Any) -> None:
    made = versions(owner, tmp_path, 2)
    citation.version_public_set(version=made[0], public=True)
    identify = oai(client, schema, verb="Identify")
    assert identify.findtext("oai:Identify/oai:deletedRecord", namespaces=NS) == "transient"
    assert identify.findtext("oai:Identify/oai:protocolVersion", namespaces=NS) == "2.0"
    formats = oai(client, schema, verb="ListMetadataFormats")
    assert formats.xpath("//oai:metadataPrefix/text()", namespaces=NS) == ["oai_dc", "oai_datacite"]
    assert formats.xpath("//oai:metadataNamespace/text()", namespaces=NS)[1] == NS["oai_datacite"]
    assert error_code(oai(client, schema, verb="ListSets")) == "noSetHierarchy"
    records = oai(client, schema, verb="ListRecords", metadataPrefix="oai_datacite")
    [identifier] = records.xpath("//oai:header/oai:identifier/text()", namespaces=NS)
    assert identifier == f"oai:packager:{made[0].package.public_id}/v1"
    datacite = oai(client, schema, verb="GetRecord", identifier=identifier, metadataPrefix="oai_datacite")
    # DataCite's OAI wrapper 1.1 around the kernel-4 resource, as DataCite's own provider serves it.
    [wrapper] = datacite.xpath("//oai:metadata/oai_datacite:oai_datacite", namespaces=NS)
    assert wrapper.findtext("oai_datacite:schemaVersion", namespaces=NS) == "4.6"
    assert wrapper.findtext("oai_datacite:datacentreSymbol", namespaces=NS) == "packager"
    [resource] = wrapper.xpath("oai_datacite:payload/datacite:resource", namespaces=NS)
    assert resource.xpath("datacite:titles/datacite:title/text()", namespaces=NS) == ["Package 0"]
    # The schema checks the payload too: a resource without its titles is refused.
    resource.remove(resource.find("datacite:titles", NS))
    assert not schema.validate(datacite)
    dublin = oai(client, schema, verb="GetRecord", identifier=identifier, metadataPrefix="oai_dc")
    assert dublin.xpath("//dc:title/text()", namespaces=NS) == ["Package 0"]
    assert "Carberry, Josiah" in dublin.xpath("//dc:creator/text()", namespaces=NS)
    assert dublin.xpath("//dc:type/text()", namespaces=NS) == ["Dataset"]
    assert oai(client, schema, verb="ListIdentifiers", metadataPrefix="oai_dc").xpath(
        "//oai:identifier/text()", namespaces=NS
    ) == [identifier]
    posted = client.post(reverse("oai"), {"verb": "Identify"})
    assert posted.status_code == 200 and b"<oai:Identify>" in posted.content


def test_oai_errors_have_their_codes(client: Client, owner: Any, tmp_path: Path, schema: Any) -> None:
    [version] = versions(owner, tmp_path, 1)
    citation.version_public_set(version=version, public=True)
    identifier = f"oai:packager:{version.package.public_id}/v1"
    cases = [
        ({}, "badVerb"),
        ({"verb": "Harvest"}, "badVerb"),
        ({"verb": "ListRecords"}, "badArgument"),
        ({"verb": "Identify", "extra": "1"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "yesterday"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2020-01-01", "until": "2030-01-01T00:00:00Z"},
         "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
        ({"verb": "GetRecord", "metadataPrefix": "marc21", "identifier": identifier}, "cannotDisseminateFormat"),
        ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:packager:nope"}, "idDoesNotExist"),
        ({"verb": "ListMetadataFormats", "identifier": "oai:elsewhere:x/v1"}, "idDoesNotExist"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "until": "2000-01-01"}, "noRecordsMatch"),
        ({"verb": "ListRecords", "resumptionToken": "not-a-token"}, "badResumptionToken"),
        ({"verb": "ListRecords", "resumptionToken": "eyJ4IjoxfQ"}, "badResumptionToken"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "lakes"}, "noSetHierarchy"),
    ]  # fmt: skip
    for arguments, code in cases:
        document = oai(client, schema, **arguments)
        assert error_code(document) == code, (arguments, etree.tostring(document))
        if code in ("badVerb", "badArgument"):
            assert document.find("oai:request", NS).attrib == {}
    repeated = client.get(reverse("oai") + "?verb=Identify&verb=Identify")
    assert b'code="badVerb"' in repeated.content


def test_oai_pages_with_resumption_tokens_and_filters_by_datestamp(
    client: Client, owner: Any, tmp_path: Path, schema: Any, settings: Any, django_assert_num_queries: Any
) -> None:
    settings.OAI_PAGE_SIZE = 2
    made = versions(owner, tmp_path, 5)
    for version in made:
        citation.version_public_set(version=version, public=True)
    old = dt.datetime(2021, 6, 1, 12, 0, tzinfo=dt.UTC)
    PackageVersion.objects.filter(pk=made[0].pk).update(public_changed_at=old)
    seen: list[str] = []
    arguments: dict[str, str] = {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc"}
    while True:
        with django_assert_num_queries(2):  # a count and a page
            document = oai(client, schema, **arguments)
        seen += document.xpath("//oai:header/oai:identifier/text()", namespaces=NS)
        token = document.find(".//oai:resumptionToken", NS)
        if token is None or not token.text:
            break
        assert token.get("completeListSize") == "5"
        arguments = {"verb": "ListIdentifiers", "resumptionToken": token.text}
    assert len(seen) == 5 == len(set(seen))
    assert seen[0].endswith(f"{made[0].package.public_id}/v1")  # the oldest datestamp first
    until = oai(client, schema, verb="ListIdentifiers", metadataPrefix="oai_dc", until="2021-06-01")
    assert until.xpath("//oai:identifier/text()", namespaces=NS) == [seen[0]]
    since = oai(client, schema, verb="ListIdentifiers", metadataPrefix="oai_dc", **{"from": "2021-06-01T12:00:01Z"})
    assert len(since.xpath("//oai:identifier/text()", namespaces=NS)) == 2  # first page of four


def test_a_version_made_private_is_reported_deleted(client: Client, owner: Any, tmp_path: Path, schema: Any) -> None:
    [version] = versions(owner, tmp_path, 1)
    citation.version_public_set(version=version, public=True)
    citation.version_public_set(version=version, public=False)
    identifier = f"oai:packager:{version.package.public_id}/v1"
    record = oai(client, schema, verb="GetRecord", identifier=identifier, metadataPrefix="oai_dc")
    header = record.find(".//oai:header", NS)
    assert header.get("status") == "deleted" and record.find(".//oai:metadata", NS) is None
    version.refresh_from_db()
    assert version.public_changed_at is not None
    assert header.findtext("oai:datestamp", namespaces=NS) == version.public_changed_at.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.django_db(transaction=True)
def test_sickle_harvests_exactly_the_public_versions(live_server: Any, owner: Any, tmp_path: Path) -> None:
    made = versions(owner, tmp_path, 4)
    for version in made[:3]:
        citation.version_public_set(version=version, public=True)
    citation.version_public_set(version=made[1], public=False)
    sickle = Sickle(live_server.url + "/oai")
    assert sickle.Identify().repositoryName == "packager"
    harvested = {
        record.header.identifier: record.metadata["title"][0]
        for record in sickle.ListRecords(metadataPrefix="oai_dc", ignore_deleted=True)
    }
    assert harvested == {
        f"oai:packager:{made[0].package.public_id}/v1": "Package 0",
        f"oai:packager:{made[2].package.public_id}/v1": "Package 2",
    }
    headers = list(sickle.ListIdentifiers(metadataPrefix="oai_datacite"))
    assert {header.identifier for header in headers if header.deleted} == {
        f"oai:packager:{made[1].package.public_id}/v1"
    }
    records = list(sickle.ListRecords(metadataPrefix="oai_datacite", ignore_deleted=True))
    assert sorted(record.metadata["title"][0] for record in records) == ["Package 0", "Package 2"]
