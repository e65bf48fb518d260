from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from sources.backends.local import local_path_error
from sources.models import Source


class SourceAdminForm(forms.ModelForm):
    """The admin's edits pass the same folder check as the forms, the API and the commands."""

    class Meta:
        model = Source
        fields = (
            "owner", "name", "kind", "bucket", "prefix", "endpoint_url", "region",
            "addressing_style", "local_path", "presign_ttl", "max_presign_ttl",
        )  # fmt: skip

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if cleaned.get("kind") == Source.Kind.LOCAL:
            refused = local_path_error(cleaned.get("local_path") or "")
            if refused:
                self.add_error("local_path", refused)
        return cleaned


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    form = SourceAdminForm
    list_display = ("name", "kind", "owner", "bucket", "status", "object_count", "last_indexed_at")
    list_filter = ("kind", "status")
    search_fields = ("name", "bucket", "owner__username")
    # Credentials are never shown, not even to administrators.
    exclude = ("encrypted_credentials",)
    readonly_fields = ("public_id", "status", "last_error", "last_indexed_at", "object_count", "total_size")
