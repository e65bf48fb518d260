"""DOIs at DataCite: a draft registered on publish, findable on request, metadata updated, and
every failure shown to the owner. DataCite itself cannot be reached from the test machine:
tests/datacite_server.py plays its REST API on 127.0.0.1 and checks each request against
DataCite's documented contract."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.urls import reverse

from packager import citation, doi, tasks
from packager import services as packages
from packager.models import PackageVersion
from tests import datacite_server
from tests.datacite_server import DataCiteServer
from tests.factories import publish
from tests.test_citation_exports import FULL, make_package

pytestmark = pytest.mark.django_db


@pytest.fixture
def datacite(settings: Any) -> Iterator[DataCiteServer]:
    for server in datacite_server.start():
        settings.DATACITE_URL = server.url
        settings.DATACITE_PREFIX = server.prefix
        settings.DATACITE_USERNAME = server.username
        settings.DATACITE_PASSWORD = server.password
        settings.SITE_URL = "https://data.example.org"
        yield server


def published(owner: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any, data: Any = None) -> Any:
    with django_capture_on_commit_callbacks(execute=True):
        package, version, share = make_package(owner, tmp_path, data if data is not None else FULL)
    version.refresh_from_db()
    return package, version, share


def test_a_published_version_gets_a_draft_doi_by_the_contract(
    datacite: DataCiteServer, owner: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    package, version, _ = published(owner, tmp_path, django_capture_on_commit_callbacks)
    expected = f"10.5072/{package.public_id.hex[:16]}.v1"
    assert version.doi == expected and version.doi_state == "draft" and version.doi_error == ""
    [sent] = datacite.requests
    assert sent["method"] == "POST" and sent["path"] == "/dois"
    assert sent["headers"]["Content-Type"] == "application/vnd.api+json"
    user, _, password = base64.b64decode(sent["headers"]["Authorization"].split()[1]).decode().partition(":")
    assert (user, password) == (datacite.username, datacite.password)
    attributes = sent["body"]["data"]["attributes"]
    assert sent["body"]["data"]["type"] == "dois" and "event" not in attributes
    assert attributes["doi"] == expected
    assert attributes["url"] == f"https://data.example.org/catalog/{package.public_id}/1/"
    assert attributes["titles"] == [{"title": FULL["title"]}]
    assert attributes["creators"][0]["nameIdentifiers"][0]["nameIdentifier"] == "https://orcid.org/0000-0002-1825-0097"
    assert attributes["creators"][0]["affiliation"][0]["affiliationIdentifier"] == "https://ror.org/05gq02987"
    assert attributes["publisher"] == "packager" and attributes["publicationYear"] == 2024
    assert attributes["types"]["resourceTypeGeneral"] == "Dataset" and attributes["version"] == "2023.1"
    assert attributes["rightsList"][0]["rightsIdentifier"] == "CC-BY-4.0"
    assert datacite.dois[expected]["state"] == "draft"


def test_findable_needs_a_public_version_then_publishes_the_doi(
    datacite: DataCiteServer, owner: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any, api: Any
) -> None:
    package, version, _ = published(owner, tmp_path, django_capture_on_commit_callbacks, {"title": "Only a title"})
    url = f"/packages/{package.public_id}/versions/1/doi/findable"
    refused = api.call("post", url)
    assert refused.status_code == 409 and "public" in refused.json()["detail"]
    citation.version_public_set(version=version, public=True)
    answer = api.call("post", url)
    assert answer.status_code == 200, answer.content
    assert answer.json()["doi_state"] == "findable" and answer.json()["doi"] == version.doi
    last = datacite.requests[-1]
    assert last["method"] == "PUT" and last["path"] == f"/dois/{version.doi}"
    assert last["body"]["data"]["attributes"]["event"] == "publish"
    # A package with only a title still has every property a findable DOI needs.
    assert datacite.dois[version.doi]["state"] == "findable"
    assert datacite.dois[version.doi]["creators"] == [{"name": owner.username, "nameType": "Organizational"}]
    # Updating sends the metadata again, with no event: the DOI stays findable.
    updated = api.call("post", f"/packages/{package.public_id}/versions/1/doi/update")
    assert updated.status_code == 200 and updated.json()["doi_state"] == "findable"
    assert "event" not in datacite.requests[-1]["body"]["data"]["attributes"]


def test_datacite_down_is_retried_and_shown_never_a_500(
    datacite: DataCiteServer,
    owner: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
    api: Any,
    owner_client: Client,
    settings: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        package, version, _ = make_package(owner, tmp_path, FULL)
    assert callbacks  # the registration is enqueued once the version is committed
    # The task retries what DataCiteUnavailable says (unreachable, 5xx, 429), with back-off.
    assert tasks.register_doi.autoretry_for == (doi.DataCiteUnavailable,) and tasks.register_doi.max_retries == 8
    datacite.fail_with.append(503)
    with pytest.raises(doi.DataCiteUnavailable):
        doi.version_doi_register(version_pk=version.pk)
    version.refresh_from_db()
    assert version.doi == "" and version.doi_state == "" and "503" in version.doi_error
    page = owner_client.get(reverse("version_detail", kwargs={"public_id": package.public_id, "number": 1}))
    assert page.status_code == 200 and "The last request to DataCite failed" in page.content.decode()
    datacite.fail_with.clear()
    # Unreachable: a closed port.
    settings.DATACITE_URL = "http://127.0.0.1:9"
    answer = api.call("post", f"/packages/{package.public_id}/versions/1/doi/update")
    assert answer.status_code == 503 and "could not be reached" in answer.json()["detail"]
    settings.DATACITE_URL = datacite.url
    # The owner registers it by hand once DataCite is back.
    button = owner_client.post(
        reverse("version_doi", kwargs={"public_id": package.public_id, "number": 1}), {"action": "update"}
    )
    assert button.status_code == 302
    version.refresh_from_db()
    assert version.doi_state == "draft" and version.doi_error == ""


def test_a_findable_doi_is_hidden_while_its_version_is_private(
    datacite: DataCiteServer, owner: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any, client: Client
) -> None:
    package, version, _ = published(owner, tmp_path, django_capture_on_commit_callbacks)
    citation.version_public_set(version=version, public=True)
    doi.version_doi_publish(version=version)
    assert datacite.dois[version.doi]["state"] == "findable"
    landing = reverse("version_landing", kwargs={"public_id": package.public_id, "number": 1})
    assert client.get(landing).status_code == 302
    # The task retries what DataCiteUnavailable says, with the registration's back-off.
    assert tasks.follow_doi_visibility.autoretry_for == (doi.DataCiteUnavailable,)
    assert tasks.follow_doi_visibility.max_retries == tasks.register_doi.max_retries
    before = len(datacite.requests)
    with django_capture_on_commit_callbacks(execute=True):
        citation.version_public_set(version=version, public=False)
    [hidden] = datacite.requests[before:]
    assert hidden["method"] == "PUT" and hidden["path"] == f"/dois/{version.doi}"
    assert hidden["body"]["data"]["attributes"]["event"] == "hide"
    assert datacite.dois[version.doi]["state"] == "registered"
    version.refresh_from_db()
    assert version.doi_state == "registered" and version.doi_error == ""
    # The DOI still resolves to the landing page, which says the version was withdrawn.
    withdrawn = client.get(landing)
    page = withdrawn.content.decode()
    assert withdrawn.status_code == 410 and "This version was withdrawn" in page and version.doi in page
    assert FULL["title"] not in page  # a withdrawn version's metadata is not public any more
    # Public again: the same task makes the DOI findable again.
    with django_capture_on_commit_callbacks(execute=True):
        citation.version_public_set(version=version, public=True)
    assert datacite.requests[-1]["body"]["data"]["attributes"]["event"] == "publish"
    version.refresh_from_db()
    assert version.doi_state == "findable" == datacite.dois[version.doi]["state"]
    assert client.get(landing).status_code == 302


def test_hiding_during_an_outage_is_retried_and_acts_on_the_current_visibility(
    datacite: DataCiteServer, owner: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    _package, version, _ = published(owner, tmp_path, django_capture_on_commit_callbacks)
    citation.version_public_set(version=version, public=True)
    doi.version_doi_publish(version=version)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        citation.version_public_set(version=version, public=False)
    assert len(callbacks) == 1  # the task is enqueued once the change is committed
    datacite.fail_with.append(503)
    with pytest.raises(doi.DataCiteUnavailable):
        doi.version_doi_follow_run(version_pk=version.pk)
    version.refresh_from_db()
    assert version.doi_state == "findable" and "503" in version.doi_error
    doi.version_doi_follow_run(version_pk=version.pk)  # the retry
    version.refresh_from_db()
    assert version.doi_state == "registered" == datacite.dois[version.doi]["state"] and version.doi_error == ""
    before = len(datacite.requests)
    doi.version_doi_follow_run(version_pk=version.pk)  # a rerun: nothing left to do
    assert len(datacite.requests) == before
    # A draft DOI has nothing to hide: making its version private sends nothing.
    other = packages.package_create(owner=owner, name="Other", description="")
    packages.package_write_text(package=other, path="README.md", content="# Other\n")
    with django_capture_on_commit_callbacks(execute=True):
        draft = publish(other)
    draft.refresh_from_db()
    citation.version_public_set(version=draft, public=True)
    with django_capture_on_commit_callbacks(execute=True):
        citation.version_public_set(version=draft, public=False)
    assert len(datacite.requests) == before + 1  # only the draft's registration
    draft.refresh_from_db()
    assert draft.doi_state == "draft"


def test_a_refusal_is_shown_with_datacites_errors(
    datacite: DataCiteServer, owner: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.DATACITE_PASSWORD = "wrong"
    _package, version, _ = published(owner, tmp_path, django_capture_on_commit_callbacks)
    assert version.doi == "" and "Bad credentials" in version.doi_error
    assert len(datacite.requests) == 1  # a refusal is not retried
    settings.DATACITE_PASSWORD = datacite.password
    citation.version_public_set(version=version, public=True)
    # The contract server refuses a findable DOI without a URL, as DataCite does.
    settings.SITE_URL = "not a url"
    with pytest.raises(doi.DataCiteRefused) as refused:
        doi.version_doi_publish(version=version)
    assert refused.value.status == 422 and "url: is not a valid URL" in refused.value.message
    version.refresh_from_db()
    assert "url" in version.doi_error and version.doi_state == ""


def test_a_lost_answer_is_finished_by_the_retry(
    datacite: DataCiteServer, owner: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    _package, version, _ = published(owner, tmp_path, django_capture_on_commit_callbacks)
    # DataCite created the DOI, but packager never heard: it still thinks it has none.
    PackageVersion.objects.filter(pk=version.pk).update(doi="", doi_state="")
    doi.version_doi_register(version_pk=version.pk)
    version.refresh_from_db()
    assert version.doi_state == "draft" and version.doi_error == ""
    assert [request["method"] for request in datacite.requests[-2:]] == ["POST", "PUT"]
    assert len(datacite.dois) == 1


def test_a_doi_recorded_by_hand_is_left_alone(
    datacite: DataCiteServer, owner: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any, api: Any
) -> None:
    package, version, _ = published(owner, tmp_path, django_capture_on_commit_callbacks)
    PackageVersion.objects.filter(pk=version.pk).update(doi="10.9999/elsewhere", doi_state="")
    before = len(datacite.requests)
    doi.version_doi_register(version_pk=version.pk)
    answer = api.call("post", f"/packages/{package.public_id}/versions/1/doi/update")
    assert answer.status_code == 409 and len(datacite.requests) == before


def test_without_datacite_settings_nothing_is_sent(
    owner: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any, api: Any
) -> None:
    package, version, _ = published(owner, tmp_path, django_capture_on_commit_callbacks)
    assert version.doi == "" and version.doi_error == ""
    answer = api.call("post", f"/packages/{package.public_id}/versions/1/doi/findable")
    assert answer.status_code == 409 and "DATACITE_URL" in answer.json()["detail"]


def test_the_doi_routes_refuse_outsiders_and_wrong_methods(
    datacite: DataCiteServer, owner: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any,
    outsider_api: Any, outsider_client: Client, api: Any,
) -> None:  # fmt: skip
    package, _version, _ = published(owner, tmp_path, django_capture_on_commit_callbacks)
    assert outsider_api.call("post", f"/packages/{package.public_id}/versions/1/doi/update").status_code == 404
    assert api.call("get", f"/packages/{package.public_id}/versions/1/doi/update").status_code == 405
    url = reverse("version_doi", kwargs={"public_id": package.public_id, "number": 1})
    assert outsider_client.post(url, {"action": "update"}).status_code == 404
    assert outsider_client.get(url).status_code == 405
    anonymous = Client().post(url, {"action": "update"})
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_datacite_without_its_account_or_site_url_refuses_to_start(settings: Any) -> None:
    settings.DATACITE_URL = "https://api.test.datacite.org"
    settings.DATACITE_PREFIX = "10.5072"
    settings.DATACITE_USERNAME = ""
    settings.SITE_URL = ""
    with pytest.raises(SystemCheckError, match="DATACITE_USERNAME, DATACITE_PASSWORD, SITE_URL"):
        call_command("check")
