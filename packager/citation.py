"""Citing a version: its metadata with the defaults filled in, and the services that set it.

`citation_for` gives what every citation export reads (packager.exports.cff, datacite,
rocrate, schemaorg, bibliography): the version's frozen metadata, with what a package
that only has a title still needs (creators from the owner, publisher from SITE_NAME,
year from the version, identifier from the DOI or else the share link).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from packager.metadata import Metadata, MetadataInvalid, Person, metadata_clean, metadata_of, normalize_doi
from packager.models import Package, PackageVersion
from teams.audit import audit_record
from web.errors import ApplicationError


class CitationError(ApplicationError):
    pass


@dataclass(frozen=True)
class Citation:
    metadata: Metadata
    title: str
    description: str
    creators: list[Person]
    publisher: str
    date: dt.date
    version: str
    number: int
    doi: str
    # The landing page: the share link a reader was given.
    url: str
    file_count: int
    entry_count: int
    total_size: int
    top_hash: str

    @property
    def year(self) -> int:
        return self.date.year

    @property
    def identifier(self) -> str:
        return self.doi or self.url

    @property
    def identifier_type(self) -> str:
        return "DOI" if self.doi else "URL"

    @property
    def identifier_url(self) -> str:
        return f"https://doi.org/{self.doi}" if self.doi else self.url

    @property
    def license_url(self) -> str:
        license_id = self.metadata.license
        return f"https://spdx.org/licenses/{license_id}.html" if license_id else ""


def owner_name(package: Package) -> str:
    owner = package.owner
    return owner.get_full_name().strip() or owner.get_username()


def citation_for(version: PackageVersion, *, url: str, package: Package | None = None) -> Citation:
    """The version's citation, `url` being its landing page (the share link). Give the
    version's package, with its owner, when it is at hand: that saves two queries."""
    package = package or version.package
    metadata = metadata_of(version.metadata)
    published = version.published_at or version.created_at or timezone.now()
    return Citation(
        metadata=metadata,
        title=metadata.title or package.name,
        description=metadata.description or package.description,
        creators=metadata.creators or [Person.model_validate({"name": owner_name(package)})],
        publisher=settings.SITE_NAME,
        date=metadata.publication_date or published.date(),
        version=metadata.version_name or str(version.number),
        number=version.number,
        doi=version.doi,
        url=url,
        file_count=version.file_count,
        entry_count=version.entry_count,
        total_size=version.total_size,
        top_hash=version.top_hash,
    )


def package_metadata_set(*, package: Package, metadata: dict[str, Any], actor: Any = None) -> Package:
    """Replace the draft's whole metadata (MetadataInvalid names the first bad field).

    The audit log names the fields that changed (`package.update_metadata`), not their values."""
    before = package.metadata or metadata_clean({})  # a draft never given metadata: the empty one
    package.metadata = metadata_clean(metadata)
    package.save(update_fields=["metadata", "updated_at"])
    changed = sorted(key for key in set(before) | set(package.metadata) if before.get(key) != package.metadata.get(key))
    if changed:
        audit_record(actor=actor, action="package.update_metadata", package=package, detail={"fields": changed})
    return package


def version_doi_set(*, version: PackageVersion, doi: str | None) -> PackageVersion:
    """Record a DOI the version already has (registered elsewhere); None or "" removes it."""
    if doi:
        try:
            doi = normalize_doi(doi)
        except ValueError as error:
            raise MetadataInvalid("doi", str(error)) from None
    if version.doi_state and doi != version.doi:
        raise CitationError(
            "This version's DOI was registered at DataCite by packager; it cannot be replaced.", status=409
        )
    version.doi = doi or ""
    version.save(update_fields=["doi"])
    return version


# What other apps do when a version becomes public or private, registered when they start
# (shares withdraws the version's landing share when it goes private): packager knows none of them.
_visibility_callbacks: dict[str, Callable[[PackageVersion], None]] = {}


def visibility_register(name: str, callback: Callable[[PackageVersion], None]) -> None:
    _visibility_callbacks[name] = callback


@transaction.atomic
def version_public_set(*, version: PackageVersion, public: bool) -> PackageVersion:
    """List the version in the public catalog and OAI-PMH, or take it out (then reported deleted)."""
    if public and not version.is_published:
        raise CitationError("Only a published version can be made public.", status=409)
    if version.public != public:
        version.public = public
        version.public_changed_at = timezone.now()
        version.save(update_fields=["public", "public_changed_at"])
        for callback in _visibility_callbacks.values():
            callback(version)
    return version


def metadata_changes(current: dict[str, Any], previous: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The metadata fields whose values differ between two versions, in field order."""
    new, old = metadata_of(current).model_dump(mode="json"), metadata_of(previous).model_dump(mode="json")
    return [
        {"field": name, "previous": old[name], "current": new[name]}
        for name in Metadata.model_fields
        if new[name] != old[name]
    ]
