from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

from sources.backends import BACKENDS
from sources.models import Source
from sources.search import Search
from sources.services import CREDENTIAL_FIELDS, CREDENTIAL_NAMES, EDITABLE_FIELDS
from teams import policy
from teams.models import Role, Team

SECRET = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})


class SourceForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Source.Kind.choices)
    bucket = forms.CharField(max_length=255, required=False, label="Bucket or container")
    # Named key_prefix: a form's own `prefix` attribute means something else to Django.
    key_prefix = forms.CharField(
        max_length=1024, required=False, label="Prefix", help_text="Only objects under this prefix are shown."
    )
    endpoint_url = forms.CharField(
        max_length=500,
        required=False,
        label="Endpoint or account URL",
        help_text="S3: empty for AWS, or e.g. https://ACCOUNT.r2.cloudflarestorage.com. "
        "Azure: https://ACCOUNT.blob.core.windows.net.",
    )
    region = forms.CharField(max_length=64, required=False, help_text="S3 only, e.g. eu-west-1.")
    addressing_style = forms.ChoiceField(choices=Source.AddressingStyle.choices, initial="auto", required=False)
    local_path = forms.CharField(max_length=1024, required=False, label="Folder on the server")
    presign_ttl = forms.IntegerField(
        min_value=60, max_value=7 * 24 * 3600, initial=900, label="Download link lifetime (seconds)"
    )
    max_presign_ttl = forms.IntegerField(
        min_value=60,
        max_value=7 * 24 * 3600,
        required=False,
        label="Longest link lifetime a collaborator may ask for (seconds)",
        help_text="For direct URL lists (direct.txt?expires_in=). Empty: no longer than the download link "
        "lifetime. A storage link handed out cannot be revoked: it works until it expires.",
    )
    reindex_every_hours = forms.IntegerField(
        min_value=1,
        max_value=24 * 365,
        required=False,
        label="Re-index every (hours)",
        help_text="Leave empty to re-index only when you ask.",
    )
    access_key_id = forms.CharField(required=False, widget=SECRET, label="Access key id")
    secret_access_key = forms.CharField(required=False, widget=SECRET, label="Secret access key")
    session_token = forms.CharField(required=False, widget=SECRET, label="Session token (optional)")
    account_key = forms.CharField(required=False, widget=SECRET, label="Account key")
    sas_token = forms.CharField(required=False, widget=SECRET, label="SAS token")
    connection_string = forms.CharField(required=False, widget=SECRET, label="Connection string")

    team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        empty_label="Me",
        label="Owned by",
        help_text="A team you administer: its members then see and use the source, as their role allows.",
    )

    def __init__(
        self, *args: Any, allow_local: bool, source: Source | None = None, user: Any = None, **kwargs: Any
    ) -> None:
        if source is not None:
            initial = {name: getattr(source, name) for name in (*EDITABLE_FIELDS, "kind")}
            initial["key_prefix"] = initial.pop("prefix")
            kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        self.source = source
        #: set by the view after a connection test
        self.failed_part = ""
        self.test_passed = False
        if self.is_bound:
            # A bound form's values are the ones posted in this request: a secret typed
            # into this form goes back into its field (in a no-store response) so that a
            # validation error does not make the user type it again. A stored secret is
            # never in a form's initial values, so it can never be rendered.
            for name in CREDENTIAL_NAMES:
                widget = self.fields[name].widget
                assert isinstance(widget, forms.PasswordInput)
                widget.render_value = True
        if not allow_local:
            kind = self.fields["kind"]
            assert isinstance(kind, forms.ChoiceField)
            kind.choices = [c for c in Source.Kind.choices if not BACKENDS[c[0]].administrators_only]
        # The teams the user may give a new source to (policy.can_manage_team); a source
        # moves between teams through the API.
        team = self.fields["team"]
        assert isinstance(team, forms.ModelChoiceField)
        if source is None and user is not None:
            team.queryset = Team.objects.filter(pk__in=policy.teams_with_role(user, Role.ADMIN))
        else:
            del self.fields["team"]
        if source is not None:
            self.fields["kind"].disabled = True
            for name in CREDENTIAL_NAMES:
                self.fields[name].help_text = "Leave empty to keep the stored value."

    def source_fields(self) -> dict[str, Any]:
        fields = {name: self.cleaned_data.get(name) for name in EDITABLE_FIELDS if name != "prefix"}
        fields["prefix"] = self.cleaned_data.get("key_prefix")
        return fields

    def credentials(self) -> dict[str, str]:
        kind = self.cleaned_data["kind"]
        return {name: self.cleaned_data.get(name) or "" for name in CREDENTIAL_FIELDS[kind]}


class SearchForm(forms.Form):
    """The search of a source's index, as the browser page and "add all matches" send it."""

    q = forms.CharField(max_length=200, required=False, label="Name contains")
    glob = forms.CharField(
        max_length=1024, required=False, label="Key matches", help_text="e.g. **/*.parquet or raw/2024-*/**"
    )
    min_size = forms.IntegerField(min_value=0, required=False, label="At least (bytes)")
    max_size = forms.IntegerField(min_value=0, required=False, label="At most (bytes)")
    modified_after = forms.DateField(
        required=False, label="Modified on or after", widget=forms.DateInput(attrs={"type": "date"})
    )
    modified_before = forms.DateField(
        required=False, label="Modified before", widget=forms.DateInput(attrs={"type": "date"})
    )

    @staticmethod
    def _midnight(day: dt.date | None) -> dt.datetime | None:
        return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) if day else None

    def search(self) -> Search:
        data = self.cleaned_data
        return Search(
            q=(data.get("q") or "").strip(),
            glob=(data.get("glob") or "").strip(),
            min_size=data.get("min_size"),
            max_size=data.get("max_size"),
            modified_after=self._midnight(data.get("modified_after")),
            modified_before=self._midnight(data.get("modified_before")),
        )
