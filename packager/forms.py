from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from packager.spdx_licenses import SPDX_LICENSE_IDS
from sources.forms import SearchForm


class PackageForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, teams: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if teams:  # the teams the user may create packages in
            self.fields["team"] = forms.TypedChoiceField(
                choices=[("", "Me")] + [(str(team.public_id), team.name) for team in teams],
                required=False,
                label="Owner",
                coerce=lambda value: next(team for team in teams if str(team.public_id) == value),
                empty_value=None,
            )


class CatalogForm(forms.Form):
    q = forms.CharField(max_length=200, required=False, label="Search")
    team = forms.TypedChoiceField(required=False, empty_value=None)
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("name", "Name"),
            ("-updated", "Recently updated"),
            ("-size", "Largest"),
            ("-downloads", "Most downloaded"),
            ("-name", "Name, Z to A"),
            ("updated", "Least recently updated"),
            ("size", "Smallest"),
            ("downloads", "Least downloaded"),
        ],
    )

    def __init__(self, *args: Any, teams: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["team"]
        field.choices = [("", "All")] + [(str(team.public_id), team.name) for team in teams]
        field.coerce = lambda value: next(team for team in teams if str(team.public_id) == value)


class AddObjectsForm(forms.Form):
    source = forms.UUIDField(widget=forms.HiddenInput)
    package = forms.UUIDField(required=False)
    new_package_name = forms.CharField(max_length=200, required=False, label="or a new package named")
    target = forms.CharField(max_length=1024, required=False, label="into folder")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.paths: list[str] = [p for p in (self.data.getlist("paths") if hasattr(self.data, "getlist") else []) if p]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.paths:
            raise forms.ValidationError("Select at least one file or folder first.")
        if not data.get("package") and not (data.get("new_package_name") or "").strip():
            raise forms.ValidationError("Choose a package, or name a new one.")
        return data


class AddSearchForm(SearchForm):
    """ "Add all matches to a package" on the search page: the search, then where to."""

    source = forms.UUIDField(widget=forms.HiddenInput)
    package = forms.UUIDField(required=False)
    new_package_name = forms.CharField(max_length=200, required=False, label="or a new package named")
    target = forms.CharField(max_length=1024, required=False, label="into folder")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("package") and not (data.get("new_package_name") or "").strip():
            raise forms.ValidationError("Choose a package, or name a new one.")
        return data


class TextEntryForm(forms.Form):
    path = forms.CharField(max_length=1024, initial="README.md", help_text="For example README.md or docs/notes.md")
    content = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 20, "class": "mono"}), strip=False)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, (list, tuple)) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class UploadForm(forms.Form):
    folder = forms.CharField(max_length=1024, required=False, label="into folder")
    uploads = MultipleFileField(label="Files")


class MoveForm(forms.Form):
    new_path = forms.CharField(max_length=1024, label="New path", widget=forms.TextInput(attrs={"autofocus": True}))


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, initial="my laptop")


class PublicationForm(forms.Form):
    destination: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        queryset=None,
        to_field_name="public_id",
        empty_label=None,
        help_text="One of your S3 or Azure sources whose credentials may write there.",
    )
    key_template = forms.CharField(
        max_length=300,
        required=False,
        initial="releases/{package}/v{version}-{date}/",
        help_text="Placeholders: {package}, {version}, {top_hash}, {date} (YYYYMMDD), {time} (HHMMSS), "
        "of the version's publication.",
    )
    include_zip = forms.BooleanField(required=False, label="Also write a ZIP of the text files and manifests")

    def __init__(self, *args: Any, owner: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from sources.backends import writable_kinds
        from sources.models import Source
        from teams import policy

        # The sources the user may write into: their own, and those of teams they curate in.
        writable = Source.objects.filter(policy.usable(owner, "curator"), kind__in=writable_kinds())
        self.fields["destination"].queryset = writable.order_by("name")  # type: ignore[attr-defined]


class PublishForm(forms.Form):
    message = forms.CharField(
        max_length=10_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What changed in this version"}),
        help_text="Freezes the package as it is now. Every data file is checksummed (sha256 and md5) first.",
    )


class LicenseInput(forms.TextInput):
    """A text box that offers the SPDX License List as the browser's suggestions (a datalist):
    typed freely, chosen from the list, and checked against it by packager.metadata."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        listed = f"{(attrs or {}).get('id') or name}-choices"
        box = super().render(name, value, {**(attrs or {}), "list": listed, "autocomplete": "off"}, renderer)
        choices = format_html_join("", '<option value="{}">', ((spdx,) for spdx in sorted(SPDX_LICENSE_IDS)))
        return format_html('{}<datalist id="{}">{}</datalist>', box, listed, choices)


class MetadataForm(forms.Form):
    """The citation metadata, one text box per field; people, funding and related identifiers
    one per line with " | " between their parts. packager.metadata checks it (as the API)."""

    title = forms.CharField(max_length=500, required=False)
    description = forms.CharField(max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 4}))
    creators = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line: name | ORCID iD | affiliation | ROR id (only the name is needed).",
    )
    contributors = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="As creators.")
    license = forms.CharField(
        max_length=100,
        required=False,
        widget=LicenseInput,
        help_text="An SPDX id from the list: CC-BY-4.0, CC0-1.0, MIT…",
    )
    keywords = forms.CharField(required=False, help_text="Separated by commas.")
    subjects = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="One per line.")
    funding = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line: funder | funder ROR id | award number.",
    )
    related = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line: DOI or URL | relation (IsSupplementTo, References, IsDerivedFrom…).",
    )
    version_name = forms.CharField(max_length=100, required=False)
    publication_date = forms.CharField(
        max_length=10, required=False, help_text="YYYY-MM-DD; empty: the day of publishing."
    )
    language = forms.CharField(max_length=35, required=False, help_text="en, de, pt-BR…")
    spatial_coverage = forms.CharField(max_length=500, required=False)
    temporal_coverage = forms.CharField(max_length=50, required=False, help_text="2020 or 2020-01-01/2020-06-30")

    PEOPLE = ("name", "orcid", "affiliation", "ror")

    @staticmethod
    def _rows(text: str, names: tuple[str, ...]) -> list[dict[str, str]]:
        rows = []
        for line in text.splitlines():
            if line.strip():
                values = [value.strip() for value in line.split("|")]
                rows.append(dict(zip(names, values, strict=False)))
        return rows

    def metadata(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            **{name: data[name] for name in ("title", "description", "license", "version_name", "language")},
            "publication_date": data["publication_date"] or None,
            "spatial_coverage": data["spatial_coverage"],
            "temporal_coverage": data["temporal_coverage"],
            "creators": self._rows(data["creators"], self.PEOPLE),
            "contributors": self._rows(data["contributors"], self.PEOPLE),
            "keywords": [word for word in data["keywords"].split(",")],
            "subjects": data["subjects"].splitlines(),
            "funding": self._rows(data["funding"], ("funder", "funder_ror", "award")),
            "related": self._rows(data["related"], ("identifier", "relation")),
        }

    @classmethod
    def initial_from(cls, stored: dict[str, Any]) -> dict[str, Any]:
        def lines(rows: list[dict[str, Any]], names: tuple[str, ...]) -> str:
            return "\n".join(" | ".join(row.get(name) or "" for name in names).rstrip(" |") for row in rows)

        initial = {name: stored.get(name) or "" for name in cls.base_fields}
        initial.update(
            creators=lines(stored.get("creators", []), cls.PEOPLE),
            contributors=lines(stored.get("contributors", []), cls.PEOPLE),
            keywords=", ".join(stored.get("keywords", [])),
            subjects="\n".join(stored.get("subjects", [])),
            funding=lines(stored.get("funding", []), ("funder", "funder_ror", "award")),
            related=lines(stored.get("related", []), ("identifier", "relation")),
        )
        return initial
