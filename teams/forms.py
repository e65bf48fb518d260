from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

from teams.models import Role


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100)


class InviteForm(forms.Form):
    """A user name adds the account at once; an email address sends an invitation link."""

    who = forms.CharField(max_length=254, label="User name or email")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AuditFilterForm(forms.Form):
    team = forms.UUIDField(required=False)
    package = forms.UUIDField(required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="inclusive")

    def bounds(self) -> dict[str, Any]:
        """since/until as aware datetimes: from the start of `since` to the end of `until` (UTC)."""
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        return {
            "since": dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC) if since else None,
            "until": dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC) if until else None,
        }
