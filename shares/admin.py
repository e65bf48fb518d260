from __future__ import annotations

from django.contrib import admin

from shares.models import Share


@admin.register(Share)
class ShareAdmin(admin.ModelAdmin):
    list_display = ("package", "label", "created_at", "expires_at", "revoked_at", "view_count", "zip_count")
    exclude = ("password_hash",)
    readonly_fields = ("token",)
