from __future__ import annotations

from typing import Any

from django import forms

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
