from __future__ import annotations

from django.contrib import admin

from shares.models import Share, ShareRepository


@admin.register(Share)
class ShareAdmin(admin.ModelAdmin):
    list_display = ("package", "label", "created_at", "expires_at", "revoked_at", "view_count", "zip_count")
    exclude = ("password_hash",)
    readonly_fields = ("token",)


@admin.register(ShareRepository)
class ShareRepositoryAdmin(admin.ModelAdmin):
    """Builds are the task's business: shown here to see states, sizes and errors."""

    list_display = ("share", "kind", "version", "state", "size", "build_seconds", "built_at")
    list_filter = ("kind", "state")
    readonly_fields = [field.name for field in ShareRepository._meta.fields]
