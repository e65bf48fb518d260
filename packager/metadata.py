"""A package's citation metadata: its fields, their checks, and the form it is stored in.

The same model checks the API's `"metadata"` object and the metadata form, so both refuse
the same values with the same messages. Identifiers are normalized on the way in: ORCID
iDs stored bare (`0000-0002-1825-0097`, the https://orcid.org/ form accepted), ROR ids as
URLs (`https://ror.org/…`), DOIs bare (`10.5072/x.1`), SPDX ids in their listed case.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from packager.spdx_licenses import BY_LOWER

__all__ = ["RELATION_TYPES", "Metadata", "MetadataInvalid", "metadata_clean", "normalize_doi", "orcid_valid"]

# DataCite Metadata Schema 4.6, relationType (tests check the list against the XSD).
RelationType = Literal[
    "IsCitedBy",
    "Cites",
    "IsSupplementTo",
    "IsSupplementedBy",
    "IsContinuedBy",
    "Continues",
    "IsNewVersionOf",
    "IsPreviousVersionOf",
    "IsPartOf",
    "HasPart",
    "IsPublishedIn",
    "IsReferencedBy",
    "References",
    "IsDocumentedBy",
    "Documents",
    "IsCompiledBy",
    "Compiles",
    "IsVariantFormOf",
    "IsOriginalFormOf",
    "IsIdenticalTo",
    "HasMetadata",
    "IsMetadataFor",
    "Reviews",
    "IsReviewedBy",
    "IsDerivedFrom",
    "IsSourceOf",
    "Describes",
    "IsDescribedBy",
    "HasVersion",
    "IsVersionOf",
    "Requires",
    "IsRequiredBy",
    "Obsoletes",
    "IsObsoletedBy",
    "Collects",
    "IsCollectedBy",
    "HasTranslation",
    "IsTranslationOf",
]
RELATION_TYPES: tuple[str, ...] = get_args(RelationType)

_ORCID = re.compile(r"^(?:https?://orcid\.org/)?(\d{4}-\d{4}-\d{4}-\d{3}[\dX])$")
# A ROR id: "0", six characters of Crockford's base32 (no i, l, o, u), two check digits.
_ROR = re.compile(r"^(?:https?://ror\.org/)?(0[0-9a-hjkmnp-tv-z]{6}\d{2})$")
_DOI = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)?(10\.\d{4,9}/\S+)$", re.IGNORECASE)
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
# A language tag (BCP 47 as xs:language allows it): "en", "de-CH", "gsw".
_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$")
# ISO 8601 dates or a start/end interval of them ("2020", "2020-01/2020-06", "2020-01-01/..").
_TEMPORAL = re.compile(r"^(\d{4}(-\d{2}(-\d{2})?)?|\.\.)(/(\d{4}(-\d{2}(-\d{2})?)?|\.\.))?$")

Text = Field(max_length=500)


def orcid_valid(bare: str) -> bool:
    """ISO 7064 MOD 11-2 over the 15 digits gives the 16th (X for 10)."""
    digits = bare.replace("-", "")
    total = 0
    for digit in digits[:-1]:
        total = (total + int(digit)) * 2
    check = (12 - total % 11) % 11
    return digits[-1] == ("X" if check == 10 else str(check))


def normalize_orcid(value: str) -> str:
    match = _ORCID.match(value.strip())
    if not match:
        raise ValueError("an ORCID iD has the form 0000-0002-1825-0097 (or https://orcid.org/0000-0002-1825-0097)")
    bare = match.group(1)
    if not orcid_valid(bare):
        raise ValueError(f"{bare} is not an ORCID iD: its check digit is wrong")
    return bare


def normalize_ror(value: str) -> str:
    match = _ROR.match(value.strip().lower())
    if not match:
        raise ValueError("a ROR id has the form https://ror.org/02mhbdp94")
    return "https://ror.org/" + match.group(1)


def normalize_doi(value: str) -> str:
    match = _DOI.match(value.strip())
    if not match:
        raise ValueError("a DOI has the form 10.5072/example.1 (https://doi.org/… is accepted)")
    return match.group(1)


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value.strip() if isinstance(value, str) else value


class _Model(BaseModel):
    # A misspelt field is refused (422 naming it) rather than silently dropped.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Person(_Model):
    name: str = Field(
        min_length=1, max_length=300, description='"Family, Given" or "Given Family", or an organization.'
    )
    orcid: str | None = Field(None, max_length=60, description="ORCID iD, answered bare: 0000-0002-1825-0097.")
    affiliation: str | None = Field(None, max_length=300)
    ror: str | None = Field(None, max_length=60, description="ROR id of the affiliation, as a URL.")

    _blank = field_validator("orcid", "affiliation", "ror", mode="before")(_blank_to_none)

    @field_validator("orcid")
    @classmethod
    def _orcid(cls, value: str | None) -> str | None:
        return normalize_orcid(value) if value else None

    @field_validator("ror")
    @classmethod
    def _ror(cls, value: str | None) -> str | None:
        return normalize_ror(value) if value else None


class Funding(_Model):
    funder: str = Field(min_length=1, max_length=300)
    funder_ror: str | None = Field(None, max_length=60, description="ROR id of the funder, as a URL.")
    award: str | None = Field(None, max_length=200, description="Award or grant number.")

    _blank = field_validator("funder_ror", "award", mode="before")(_blank_to_none)

    @field_validator("funder_ror")
    @classmethod
    def _ror(cls, value: str | None) -> str | None:
        return normalize_ror(value) if value else None


class Related(_Model):
    identifier: str = Field(min_length=1, max_length=500, description="A DOI (10.…) or an http(s) URL.")
    relation: RelationType = Field(description="DataCite relationType, e.g. IsSupplementTo, References.")

    @field_validator("identifier")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if _DOI.match(value):
            return normalize_doi(value)
        if _URL.match(value):
            return value
        raise ValueError("give a DOI (10.5072/example.1) or an http(s) URL")

    @property
    def identifier_type(self) -> str:
        return "DOI" if self.identifier.startswith("10.") else "URL"


class Metadata(_Model):
    """Citation metadata of a package's draft; each version keeps the one it was published with."""

    title: str = Field("", max_length=500)
    description: str = Field(
        "", max_length=5000, description="Abstract, at most 5,000 characters (the limit of dataset search engines)."
    )
    creators: list[Person] = Field(default_factory=list, max_length=200)
    contributors: list[Person] = Field(default_factory=list, max_length=200)
    license: str | None = Field(None, max_length=100, description="An SPDX license id, e.g. CC-BY-4.0.")
    keywords: list[str] = Field(default_factory=list, max_length=100)
    subjects: list[str] = Field(default_factory=list, max_length=100)
    funding: list[Funding] = Field(default_factory=list, max_length=100)
    related: list[Related] = Field(default_factory=list, max_length=200)
    version_name: str | None = Field(None, max_length=100, description='Shown as the version, e.g. "2024.1".')
    publication_date: dt.date | None = Field(None, description="Defaults to the day the version is published.")
    language: str | None = Field(None, max_length=35, description="A language tag: en, de, pt-BR.")
    spatial_coverage: str | None = Field(None, max_length=500, description="A place name.")
    temporal_coverage: str | None = Field(
        None, max_length=50, description="An ISO 8601 date or interval: 2020, 2020-01-01/2020-06-30."
    )

    _blank = field_validator(
        "license",
        "version_name",
        "language",
        "spatial_coverage",
        "temporal_coverage",
        "publication_date",
        mode="before",
    )(_blank_to_none)

    @field_validator("keywords", "subjects")
    @classmethod
    def _words(cls, values: list[str]) -> list[str]:
        words = [value.strip() for value in values if value.strip()]
        if any(len(word) > 200 for word in words):
            raise ValueError("each entry holds at most 200 characters")
        return list(dict.fromkeys(words))

    @field_validator("license")
    @classmethod
    def _license(cls, value: str | None) -> str | None:
        if value is None:
            return None
        found = BY_LOWER.get(value.lower())
        if found is None:
            raise ValueError(f"“{value}” is not an SPDX license id (see https://spdx.org/licenses/)")
        return found

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and not _LANGUAGE.match(value):
            raise ValueError("a language tag has the form en, de or pt-BR")
        return value

    @field_validator("temporal_coverage")
    @classmethod
    def _temporal(cls, value: str | None) -> str | None:
        if value is not None and not _TEMPORAL.match(value):
            raise ValueError("give an ISO 8601 date or interval: 2020, 2020-01-01/2020-06-30")
        return value


class MetadataInvalid(ValueError):
    """The first problem found, with the field it is in ("creators.0.orcid")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def metadata_clean(data: dict[str, Any]) -> dict[str, Any]:
    """The stored form of `data` (every field, identifiers normalized), or MetadataInvalid."""
    try:
        return Metadata.model_validate(data).model_dump(mode="json")
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "metadata"
        message = first["msg"].removeprefix("Value error, ")
        raise MetadataInvalid(field, message) from None


def metadata_of(stored: dict[str, Any] | None) -> Metadata:
    """The model of stored metadata ({} for a package that never had any)."""
    return Metadata.model_validate(stored or {})
