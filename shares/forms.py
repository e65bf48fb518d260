from __future__ import annotations

from typing import Any

from django import forms

from packager.models import Package, PackageVersion


class ShareForm(forms.Form):
    version = forms.ChoiceField(
        label="Version",
        required=False,
        help_text="“Latest” moves on to each new version once it is published; a number pins that version.",
    )
    label = forms.CharField(max_length=100, required=False, help_text="Who or what this link is for (only you see it).")
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Optional. Collaborators type it once in the browser, or give it to wget.",
    )
    expires_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        label="Expires",
        help_text="Optional. Empty: the link works until you revoke it.",
    )

    def __init__(self, *args: Any, package: Package, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        numbers = package.versions.exclude(state=PackageVersion.State.FAILED).values_list("number", "state")
        choices = [("latest", "Latest published version")]
        for number, state in numbers:
            choices.append((str(number), f"v{number}" if state == "published" else f"v{number} ({state})"))
        field = self.fields["version"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices
        field.initial = "latest"

    def clean_version(self) -> str:
        return str(self.cleaned_data.get("version") or "latest")


class UnlockForm(forms.Form):
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autofocus": True, "autocomplete": "current-password"})
    )
