"""DOIs of versions, registered at DataCite through its REST API.

With DATACITE_URL set (and its prefix, account and SITE_URL: system check packager.E002):

- a version that gets published has a **draft** DOI registered by a task
  (packager.tasks.register_doi, enqueued once the version is committed, retried while DataCite
  cannot be reached); a draft DOI resolves nowhere and can still be deleted at DataCite;
- its owner makes it **findable** on request (`event: publish`): from then on the DOI resolves
  to the version's landing page, and DataCite indexes its metadata. Only a public version
  can get there, since the landing page shows it to anyone only while it is public;
- its owner can send the metadata again (an update: after SITE_URL changed, say);
- a version made **private** again has its findable DOI **hidden** (`event: hide`: DataCite
  moves it to *registered*, the state it documents for withdrawn content: the DOI still
  resolves, its metadata is no longer public) by a task retried like the registration; the
  landing page then answers 410 Gone, saying the version was withdrawn. Made public again,
  the DOI is made findable again by the same task.

The DOI is `<DATACITE_PREFIX>/<16 hex digits of the package id>.v<number>`: chosen here, not by
DataCite, so a registration that timed out after DataCite created the DOI is finished by the
retry (DataCite says the DOI is taken; packager then updates it) instead of minting another.

The DOI's URL is the version's **landing page**, `SITE_URL/catalog/<package id>/<number>/`,
served by shares.views.catalog: while the version is public it leads to the version's own
public share (no password, no expiry), whose page carries the citation, the files and the
downloads; once the version is made private again it answers 410 Gone (a DOI resolves there
for good, so the page says the version was withdrawn).

Each request follows DataCite's documented contract: `POST /dois` to create, `PUT /dois/<doi>`
to update, a JSON:API body `{"data": {"type": "dois", "attributes": {...}}}` sent as
`application/vnd.api+json`, HTTP Basic auth with the repository id and password. What went
wrong (DataCite unreachable, a refusal with its errors) is kept in `doi_error` and shown to
the owner on the version page and in the API; it never becomes a server error.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.urls import reverse

from packager.citation import citation_for
from packager.exports import datacite
from packager.models import PackageVersion
from web.errors import ApplicationError

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.api+json"
DRAFT = "draft"
FINDABLE = "findable"
# A DOI that resolves but whose metadata DataCite no longer shows: where `event: hide` takes a
# findable DOI (DataCite allows findable -> registered, never back to draft).
REGISTERED = "registered"


class DoiError(ApplicationError):
    """DataCite refused or could not be asked; the message says what DataCite said."""

    status = 502


class DataCiteUnavailable(DoiError):
    """Unreachable, timed out, or answered 5xx/429: worth trying again later."""

    status = 503


class DataCiteRefused(DoiError):
    """A 4xx answer with DataCite's errors: trying again will not help until something changes."""

    status = 422


def doi_enabled() -> bool:
    return bool(settings.DATACITE_URL)


def landing_url(version: PackageVersion, *, origin: str = "") -> str:
    """The version's landing page on SITE_URL (or on `origin`, "https://host", when SITE_URL is unset)."""
    path = reverse("version_landing", kwargs={"public_id": version.package.public_id, "number": version.number})
    return (settings.SITE_URL or origin) + path


def doi_for(version: PackageVersion) -> str:
    return f"{settings.DATACITE_PREFIX}/{version.package.public_id.hex[:16]}.v{version.number}".lower()


def request_body(version: PackageVersion, *, event: str | None) -> dict[str, Any]:
    """The JSON:API document DataCite takes for this version's DOI."""
    url = landing_url(version)
    citation = citation_for(version, url=url)
    attributes: dict[str, Any] = {
        "doi": version.doi or doi_for(version),
        "url": url,
        **datacite.attributes(citation, formats=version.exports.get("formats", [])),
    }
    if event:
        attributes["event"] = event
    return {"data": {"type": "dois", "attributes": attributes}}


def _errors(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        parts = [
            f"{error.get('source')}: {error.get('title')}" if error.get("source") else str(error.get("title"))
            for error in errors
            if isinstance(error, dict)
        ]
    except (ValueError, AttributeError):
        parts = []
    return "; ".join(parts) or response.text[:300] or response.reason


def _send(method: str, path: str, body: dict[str, Any]) -> requests.Response:
    try:
        response = requests.request(
            method,
            settings.DATACITE_URL + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
            auth=(settings.DATACITE_USERNAME, settings.DATACITE_PASSWORD),
            timeout=settings.DATACITE_TIMEOUT_SECONDS,
        )
    except requests.RequestException as error:
        raise DataCiteUnavailable(f"DataCite could not be reached ({error.__class__.__name__}).") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise DataCiteUnavailable(f"DataCite answered {response.status_code}: {_errors(response)}")
    return response


def _taken(response: requests.Response) -> bool:
    return response.status_code == 422 and "taken" in _errors(response).lower()


def _register(version: PackageVersion, *, event: str | None) -> str:
    """Create or update the DOI at DataCite; answers the state DataCite reports."""
    body = request_body(version, event=event)
    doi = body["data"]["attributes"]["doi"]
    if version.doi_state:
        response = _send("PUT", f"/dois/{doi}", body)
    else:
        response = _send("POST", "/dois", body)
        if _taken(response):
            # Created by an earlier attempt whose answer was lost: update it instead.
            response = _send("PUT", f"/dois/{doi}", body)
    if response.status_code not in (200, 201):
        raise DataCiteRefused(f"DataCite refused the DOI {doi} ({response.status_code}): {_errors(response)}")
    try:
        state = response.json()["data"]["attributes"]["state"]
    except (ValueError, KeyError, TypeError):
        state = {"publish": FINDABLE, "hide": REGISTERED}.get(event or "", version.doi_state or DRAFT)
    return str(state)


def _record(version: PackageVersion, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(version, name, value)
    PackageVersion.objects.filter(pk=version.pk).update(**fields)


def _sync(version: PackageVersion, *, event: str | None) -> PackageVersion:
    try:
        state = _register(version, event=event)
    except DoiError as error:
        _record(version, doi_error=error.message)
        raise
    _record(version, doi=doi_for(version) if not version.doi else version.doi, doi_state=state, doi_error="")
    return version


def _check_enabled() -> None:
    if not doi_enabled():
        raise DoiError("DOIs are not registered by this packager (DATACITE_URL is not set).", status=409)


def version_doi_register(*, version_pk: int) -> None:
    """Register the version's draft DOI (the task's work). Does nothing when DataCite is not
    configured, the version is not published, or it already has a DOI (recorded by hand or
    registered before): reruns are harmless. DataCiteUnavailable is left to the task to retry."""
    if not doi_enabled():
        return
    version = PackageVersion.objects.select_related("package__owner").get(pk=version_pk)
    if not version.is_published or version.doi:
        return
    try:
        _sync(version, event=None)
    except DataCiteRefused as error:
        logger.warning("DataCite refused the draft DOI of version %s: %s", version_pk, error.message)


def version_doi_publish(*, version: PackageVersion) -> PackageVersion:
    """Make the version's DOI findable (registering it first if the draft never got there)."""
    _check_enabled()
    if not version.is_published or not version.public:
        raise DoiError("Make the version public first: a findable DOI leads to its public landing page.", status=409)
    if version.doi and not version.doi_state:
        raise DoiError("This version's DOI was recorded by hand; it is managed where it was registered.", status=409)
    return _sync(version, event="publish")


def version_doi_update(*, version: PackageVersion) -> PackageVersion:
    """Send the version's metadata and landing URL to DataCite again (registering a draft if none)."""
    _check_enabled()
    if not version.is_published:
        raise DoiError("Only a published version has a DOI.", status=409)
    if version.doi and not version.doi_state:
        raise DoiError("This version's DOI was recorded by hand; it is managed where it was registered.", status=409)
    return _sync(version, event=None)


def version_doi_follow_run(*, version_pk: int) -> None:
    """Make the version's DOI follow its visibility (the task's work): hidden at DataCite while
    the version is private, findable again once it is public. Reads the version as it is when
    the task runs, so reruns and quick public/private toggles end in the state the version has
    last. DataCiteUnavailable is left to the task to retry."""
    if not doi_enabled():
        return
    version = PackageVersion.objects.select_related("package__owner").get(pk=version_pk)
    if not version.is_published:
        return
    if not version.public and version.doi_state == FINDABLE:
        event = "hide"
    elif version.public and version.doi_state == REGISTERED:
        event = "publish"
    else:
        return
    try:
        _sync(version, event=event)
    except DataCiteRefused as error:
        logger.warning("DataCite refused to %s the DOI of version %s: %s", event, version_pk, error.message)


def doi_follow_visibility(version: PackageVersion) -> None:
    """Called as a version is made public or private: when its DOI is findable (or hidden by an
    earlier withdrawal), enqueue the change at DataCite once the visibility is committed."""
    if not doi_enabled() or version.doi_state not in (FINDABLE, REGISTERED):
        return
    from packager import tasks

    transaction.on_commit(lambda: tasks.follow_doi_visibility.delay(version.pk))


def doi_register_on_commit(version: PackageVersion) -> None:
    """Called as a version is published: enqueue its draft DOI once the version is committed."""
    if not doi_enabled():
        return
    from packager import tasks

    transaction.on_commit(lambda: tasks.register_doi.delay(version.pk))
