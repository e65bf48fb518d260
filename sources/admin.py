from __future__ import annotations

from django.contrib import admin

from sources.models import Source


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "owner", "bucket", "status", "object_count", "last_indexed_at")
    list_filter = ("kind", "status")
    search_fields = ("name", "bucket", "owner__username")
    # Credentials are never shown, not even to administrators.
    exclude = ("encrypted_credentials",)
    readonly_fields = ("public_id", "status", "last_error", "last_indexed_at", "object_count", "total_size")
