"""Citation metadata and its exports, each checked by the tool its community uses:
CITATION.cff with `cffconvert --validate`, datacite.xml against DataCite's 4.6 XSD (lxml),
ro-crate-metadata.json loaded by `rocrate`, datapackage.json by frictionless, the page's
schema.org JSON-LD against Google's Dataset rules; for a package using every field and one
with only a title."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from django.test import Client
from django.urls import reverse
from lxml import etree
from rocrate.rocrate import ROCrate

from packager import citation, metadata
from packager import services as packages
from packager.models import Package, PackageVersion
from shares import services
from shares.models import Share
from tests.factories import make_local_source, publish, write_files

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
XSD = DATA / "datacite-4.6" / "metadata.xsd"
FILES = {"a.csv": b"x,y\n1,2\n", "sub/b #1.bin": bytes(range(256)), "sub/ünï.json": b"{}"}
FULL = {
    "title": "Lake temperatures 2020–2023",
    "description": "Hourly water temperature at four depths in three alpine lakes, quality-controlled.",
    "creators": [
        {"name": "Carberry, Josiah", "orcid": "https://orcid.org/0000-0002-1825-0097",
         "affiliation": "Brown University", "ror": "https://ror.org/05gq02987"},
        {"name": "Limnology Lab"},
    ],
    "contributors": [{"name": "Ada Lovelace", "orcid": "0000-0001-5109-3700", "affiliation": "Data desk"}],
    "license": "cc-by-4.0",
    "keywords": ["lakes", "temperature"],
    "subjects": ["Earth sciences"],
    "funding": [{"funder": "Swiss National Science Foundation", "funder_ror": "https://ror.org/00yjd3n13",
                 "award": "200021_123456"}],
    "related": [
        {"identifier": "https://doi.org/10.5072/paper.7", "relation": "IsSupplementTo"},
        {"identifier": "https://example.org/station", "relation": "References"},
    ],
    "version_name": "2023.1",
    "publication_date": "2024-02-29",
    "language": "en",
    "spatial_coverage": "Lake Geneva",
    "temporal_coverage": "2020-01-01/2023-12-31",
}  # fmt: skip


def make_package(owner: Any, tmp_path: Path, data: dict[str, Any] | None) -> tuple[Package, PackageVersion, Share]:
    write_files(tmp_path / "data", FILES)
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Lakes", description="")
    packages.package_add_objects(package=package, source=source, paths=["a.csv", "sub/"], target="")
    packages.package_write_text(package=package, path="README.md", content="# Lakes\n")
    if data is not None:
        citation.package_metadata_set(package=package, metadata=data)
    version = publish(package, "first")
    share = services.share_create(package=package, created_by=owner)
    return package, version, share


@pytest.fixture(params=["every field", "title only"])
def shared(request: Any, owner: Any, tmp_path: Path) -> tuple[Package, PackageVersion, Share, bool]:
    full = request.param == "every field"
    package, version, share = make_package(owner, tmp_path, FULL if full else {"title": "Only a title"})
    if full:
        citation.version_doi_set(version=version, doi="doi:10.5072/lakes.1")
    return package, version, share, full


def fetch(client: Client, share: Share, route: str) -> bytes:
    response = client.get(reverse(route, kwargs={"token": share.token}))
    assert response.status_code == 200, response
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_it_validates_orcid_ror_spdx_doi_relation_and_language() -> None:
    assert metadata.orcid_valid("0000-0002-1825-0097") and metadata.orcid_valid("0000-0002-9079-593X")
    assert not metadata.orcid_valid("0000-0002-1825-0096")
    cleaned = metadata.metadata_clean(FULL)
    assert cleaned["creators"][0]["orcid"] == "0000-0002-1825-0097"
    assert cleaned["license"] == "CC-BY-4.0" and cleaned["related"][0]["identifier"] == "10.5072/paper.7"
    bad = [
        ({"creators": [{"name": "A", "orcid": "0000-0002-1825-0096"}]}, "creators.0.orcid"),
        ({"creators": [{"name": "A", "ror": "https://ror.org/12"}]}, "creators.0.ror"),
        ({"funding": [{"funder": "F", "funder_ror": "ror"}]}, "funding.0.funder_ror"),
        ({"license": "Not-A-License"}, "license"),
        ({"related": [{"identifier": "10.5072/x", "relation": "Likes"}]}, "related.0.relation"),
        ({"related": [{"identifier": "somewhere", "relation": "Cites"}]}, "related.0.identifier"),
        ({"language": "english!"}, "language"),
        ({"temporal_coverage": "last summer"}, "temporal_coverage"),
        ({"titel": "typo"}, "titel"),
        ({"subjects": "not a list"}, "subjects"),
    ]
    for data, field in bad:
        with pytest.raises(metadata.MetadataInvalid) as raised:
            metadata.metadata_clean(data)
        assert raised.value.field == field, (data, raised.value)


def test_the_relation_types_are_datacites() -> None:
    tree = etree.parse(str(DATA / "datacite-4.6" / "include" / "datacite-relationType-v4.xsd"))
    listed = tree.xpath("//xs:enumeration/@value", namespaces={"xs": "http://www.w3.org/2001/XMLSchema"})
    assert tuple(listed) == metadata.RELATION_TYPES


def test_the_version_keeps_the_metadata_it_was_published_with(owner: Any, tmp_path: Path) -> None:
    package, version, _ = make_package(owner, tmp_path, FULL)
    citation.package_metadata_set(package=package, metadata={"title": "Renamed"})
    version.refresh_from_db()
    assert version.metadata["title"] == FULL["title"] and package.metadata["title"] == "Renamed"
    changes = citation.metadata_changes(package.metadata, version.metadata)
    assert {change["field"] for change in changes} >= {"title", "creators", "license"}


@pytest.mark.skipif(
    shutil.which("cffconvert") is None and not Path(".venv/bin/cffconvert").exists(), reason="cffconvert"
)
def test_citation_cff_passes_cffconvert(client: Client, shared: Any, tmp_path: Path) -> None:
    _package, _version, share, full = shared
    body = fetch(client, share, "share_cff")
    path = tmp_path / "CITATION.cff"
    path.write_bytes(body)
    cffconvert = shutil.which("cffconvert") or ".venv/bin/cffconvert"
    result = subprocess.run([cffconvert, "--validate", "-i", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr + body.decode()
    text = body.decode()
    if full:
        assert 'doi: "10.5072/lakes.1"' in text and 'orcid: "https://orcid.org/0000-0002-1825-0097"' in text
        assert 'license: "CC-BY-4.0"' in text and 'version: "2023.1"' in text
    else:
        # Defaults: the owner as author, the version number, the share link as identifier.
        assert 'title: "Only a title"' in text and 'name: "olivia"' in text and 'version: "1"' in text
        assert f'url: "http://testserver/s/{share.token}/"' in text


def test_datacite_xml_is_valid_against_the_46_xsd(client: Client, shared: Any) -> None:
    _package, _version, share, full = shared
    body = fetch(client, share, "share_datacite")
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    document = etree.fromstring(body)
    assert schema.validate(document), schema.error_log
    namespace = {"d": "http://datacite.org/schema/kernel-4"}
    identifier = document.find("d:identifier", namespace)
    sizes = [size.text for size in document.findall("d:sizes/d:size", namespace)]
    assert "4 files" in sizes and "text/csv" in [f.text for f in document.findall("d:formats/d:format", namespace)]
    if full:
        assert (identifier.text, identifier.get("identifierType")) == ("10.5072/lakes.1", "DOI")
        assert document.find("d:fundingReferences/d:fundingReference/d:awardNumber", namespace).text == "200021_123456"
        assert document.find("d:rightsList/d:rights", namespace).get("rightsIdentifier") == "CC-BY-4.0"
        assert document.find("d:publicationYear", namespace).text == "2024"
    else:
        assert identifier.get("identifierType") == "URL" and identifier.text.endswith(f"/s/{share.token}/")
        assert document.find("d:publisher", namespace).text == "packager"
        assert document.find("d:creators/d:creator/d:creatorName", namespace).text == "olivia"
        assert document.find("d:resourceType", namespace).get("resourceTypeGeneral") == "Dataset"


def test_ro_crate_loads_with_rocrate_and_lists_every_entry_as_a_file(
    client: Client, shared: Any, tmp_path: Path
) -> None:
    _package, version, share, full = shared
    body = fetch(client, share, "share_ro_crate")
    folder = tmp_path / "crate"
    folder.mkdir()
    (folder / "ro-crate-metadata.json").write_bytes(body)
    crate = ROCrate(str(folder))
    files = {unquote(entity.id): entity for entity in crate.get_entities() if entity.type == "File"}
    paths = set(version.entries.values_list("path", flat=True))
    assert set(files) == paths == {"a.csv", "sub/b #1.bin", "sub/ünï.json", "README.md"}
    for entry in version.entries.all():
        entity = files[entry.path]
        assert entity["contentSize"] == str(entry.size) and entity["sha256"] == entry.sha256
        assert entity["encodingFormat"]
    assert {part.id for part in crate.root_dataset["hasPart"]} == {entity.id for entity in files.values()}
    assert crate.root_dataset["name"] == ("Lake temperatures 2020–2023" if full else "Only a title")
    response = client.head(reverse("share_ro_crate", kwargs={"token": share.token}))
    assert int(response["Content-Length"]) == len(body)


def test_datapackage_carries_title_licenses_and_contributors(client: Client, shared: Any) -> None:
    _package, _version, share, full = shared
    descriptor = json.loads(fetch(client, share, "share_datapackage"))
    if full:
        assert descriptor["title"] == FULL["title"]
        assert descriptor["licenses"][0]["name"] == "CC-BY-4.0"
        assert [c["title"] for c in descriptor["contributors"]] == ["Carberry, Josiah", "Limnology Lab", "Ada Lovelace"]
    else:
        assert descriptor["title"] == "Only a title" and descriptor["contributors"] == [
            {"title": "olivia", "role": "author"}
        ]


def test_bibtex_and_ris_name_the_version(client: Client, shared: Any) -> None:
    _package, _version, share, full = shared
    bibtex = fetch(client, share, "share_bibtex").decode()
    ris = fetch(client, share, "share_ris").decode()
    version_name = "2023.1" if full else "1"
    assert bibtex.startswith("@misc{") and f"version = {{{version_name}}}" in bibtex
    assert bibtex.count("{") == bibtex.count("}")
    assert f"ET  - {version_name}" in ris and ris.startswith("TY  - DATA") and ris.rstrip().endswith("ER  -")
    if full:
        assert "doi = {10.5072/lakes.1}" in bibtex and "DO  - 10.5072/lakes.1" in ris


def test_the_share_page_embeds_dataset_json_ld_and_a_cite_box(client: Client, shared: Any) -> None:
    _package, _version, share, full = shared
    page = client.get(reverse("share_page", kwargs={"token": share.token})).content.decode()
    found = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert len(found) == 1
    data = json.loads(found[0])
    # Google's Dataset rules: the schema.org context alone, name, description of 50-5000 characters.
    assert data["@context"] == "https://schema.org" and data["@type"] == "Dataset"
    assert data["name"] and 50 <= len(data["description"]) <= 5000
    assert data["creator"] and data["version"] and data["identifier"]
    assert {d["contentUrl"].rsplit("/", 1)[1] for d in data["distribution"]} == {"download.zip", "urls.txt"}
    if full:
        assert data["license"] == "https://spdx.org/licenses/CC-BY-4.0.html"
        assert data["identifier"] == "https://doi.org/10.5072/lakes.1"
    assert 'id="cite"' in page and "@misc{" in page and "TY  - DATA" in page


def test_the_zip_carries_the_citation_files(client: Client, shared: Any) -> None:
    package, _version, share, _full = shared
    archive = zipfile.ZipFile(io.BytesIO(fetch(client, share, "share_download_zip")))
    names = set(archive.namelist())
    top = f"{package.slug}/"
    for name in ["CITATION.cff", "datacite.xml", "ro-crate-metadata.json", "citation.bib", "citation.ris"]:
        assert top + name in names
    assert archive.read(top + "CITATION.cff") == fetch(client, share, "share_cff")
    crate = json.loads(archive.read(top + "ro-crate-metadata.json"))
    assert any(entity.get("@id") == "a.csv" for entity in crate["@graph"])


def test_citation_files_are_behind_the_share_password(client: Client, owner: Any, tmp_path: Path) -> None:
    package, _version, share = make_package(owner, tmp_path, {"title": "T"})
    locked = services.share_create(package=package, created_by=owner, password="correct horse battery")
    for route in ["share_cff", "share_datacite", "share_ro_crate", "share_bibtex", "share_ris"]:
        assert client.get(reverse(route, kwargs={"token": locked.token})).status_code == 401
        assert client.post(reverse(route, kwargs={"token": share.token})).status_code == 405


def test_citation_files_read_a_fixed_number_of_queries(
    client: Client, owner: Any, tmp_path: Path, django_assert_num_queries: Any
) -> None:
    _package, _version, share = make_package(owner, tmp_path, FULL)
    # The share (with its version, package and owner), then the RO-Crate's two parts.
    for route, count in {"share_cff": 1, "share_datacite": 1, "share_bibtex": 1, "share_ris": 1}.items():
        with django_assert_num_queries(count):
            fetch(client, share, route)
    with django_assert_num_queries(3):
        fetch(client, share, "share_ro_crate")


def test_the_api_replaces_metadata_names_bad_fields_and_freezes_it_per_version(
    api: Any, outsider_api: Any, owner: Any, tmp_path: Path
) -> None:
    package, _version, _ = make_package(owner, tmp_path, None)
    url = f"/packages/{package.public_id}"
    response = api.call("patch", url, {"metadata": FULL})
    assert response.status_code == 200, response.content
    stored = response.json()["metadata"]
    assert stored["creators"][0]["orcid"] == "0000-0002-1825-0097" and stored["license"] == "CC-BY-4.0"
    assert stored["funding"][0]["funder_ror"] == "https://ror.org/00yjd3n13"
    # PATCH replaces the whole object.
    replaced = api.call("patch", url, {"metadata": {"title": "New"}}).json()["metadata"]
    assert replaced["title"] == "New" and replaced["creators"] == [] and replaced["license"] is None
    refused = api.call("patch", url, {"metadata": {"creators": [{"name": "X", "orcid": "0000-0002-1825-0096"}]}})
    assert refused.status_code == 422 and list(refused.json()["fields"]) == ["creators.0.orcid"]
    assert api.call("get", url).json()["metadata"]["title"] == "New"
    assert outsider_api.call("patch", url, {"metadata": FULL}).status_code == 404
    # The version published before keeps what it had (nothing), the next one the draft's.
    assert api.call("get", f"{url}/versions/1").json()["metadata"]["title"] == ""
    packages.package_write_text(package=package, path="NOTES.md", content="more")
    publish(package, "second")
    second = api.call("get", f"{url}/versions/2").json()
    assert second["metadata"]["title"] == "New" and second["doi"] is None and second["public"] is False
    diff = api.call("get", f"{url}/versions/2/diff").json()
    assert {"field": "title", "previous": "", "current": "New"} in diff["metadata_changes"]


def test_the_api_records_a_doi_and_makes_a_version_public(
    api: Any, outsider_api: Any, owner: Any, tmp_path: Path
) -> None:
    package, version, _ = make_package(owner, tmp_path, {"title": "T"})
    url = f"/packages/{package.public_id}/versions/1"
    answer = api.call("patch", url, {"doi": "https://doi.org/10.5072/T.1"})
    assert answer.status_code == 200 and answer.json()["doi"] == "10.5072/T.1"
    refused = api.call("patch", url, {"doi": "not-a-doi"})
    assert refused.status_code == 422 and list(refused.json()["fields"]) == ["doi"]
    public = api.call("patch", url, {"public": True}).json()
    assert public["public"] is True and public["doi"] == "10.5072/T.1"
    version.refresh_from_db()
    assert version.public and version.public_changed_at is not None
    assert api.call("patch", url, {"doi": ""}).json()["doi"] is None
    assert outsider_api.call("patch", url, {"public": False}).status_code == 404
    assert api.call("patch", f"/packages/{package.public_id}/versions/9", {"public": True}).status_code == 404


def test_the_metadata_form_saves_checks_and_refuses_outsiders(
    owner_client: Client, owner: Any, outsider: Any, tmp_path: Path
) -> None:
    package, _version, _share = make_package(owner, tmp_path, None)
    url = reverse("package_metadata", kwargs={"public_id": package.public_id})
    form = {
        "title": "Lakes",
        "creators": "Carberry, Josiah | https://orcid.org/0000-0002-1825-0097 | Brown University | https://ror.org/05gq02987\nLab",
        "license": "cc0-1.0",
        "keywords": "lakes, water",
        "related": "10.5072/paper.7 | IsSupplementTo",
        "funding": "SNSF | https://ror.org/00yjd3n13 | 42",
    }
    page = owner_client.get(url)
    assert page.status_code == 200
    # The license is chosen from the SPDX list the browser offers.
    assert '<datalist id="id_license-choices">' in page.content.decode()
    assert (
        '<option value="CC-BY-4.0">' in page.content.decode() and 'list="id_license-choices"' in page.content.decode()
    )
    assert owner_client.post(url, form).status_code == 302
    package.refresh_from_db()
    assert package.metadata["creators"][0]["orcid"] == "0000-0002-1825-0097"
    assert package.metadata["creators"][1]["name"] == "Lab" and package.metadata["license"] == "CC0-1.0"
    assert package.metadata["keywords"] == ["lakes", "water"]
    # Shown back as it was typed (identifiers normalized).
    assert "Carberry, Josiah | 0000-0002-1825-0097 | Brown University" in owner_client.get(url).content.decode()
    refused = owner_client.post(url, {**form, "creators": "X | 0000-0002-1825-0096"})
    assert refused.status_code == 422 and "creators.0.orcid" in refused.content.decode()
    assert owner_client.put(url).status_code == 405
    owner_client.force_login(outsider)
    assert owner_client.get(url).status_code == 404
    owner_client.logout()
    assert owner_client.get(url).status_code == 302
