from __future__ import annotations

from django import forms


class ShareForm(forms.Form):
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


class UnlockForm(forms.Form):
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autofocus": True, "autocomplete": "current-password"})
    )
