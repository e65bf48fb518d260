"""Teams, memberships and the audit log in Django's admin, for site staff.

The admin asks the policy like every other door: a staff member who is not a superuser sees
only their teams (and the audit entries they may read), changes a team or its members only
as its admin, and a membership changes through the services, so that the last admin stays
and the audit log records it. Superusers see and change everything.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from teams import policy, services
from teams.models import AuditEntry, Membership, Team
from web.errors import ApplicationError


def _is_superuser(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_superuser", False))


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = ("user", "role", "created_at")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # members are added on the team's page or through the API (invitations, audit)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    readonly_fields = ("public_id", "created_at", "updated_at")
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        if _is_superuser(request):
            return super().get_queryset(request)
        return policy.visible_teams(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or _is_superuser(request) or policy.can_manage_team(request.user, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or _is_superuser(request) or policy.can_manage_team(request.user, obj))


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("team", "user", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("team__name", "user__username", "user__email")
    list_select_related = ("team", "user")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("team", "user", "created_at") if obj is not None else ("created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        rows = super().get_queryset(request)
        if _is_superuser(request):
            return rows
        return rows.filter(team__in=policy.visible_teams(request.user))

    def _manages(self, request: HttpRequest, obj: Any) -> bool:
        return obj is None or _is_superuser(request) or policy.can_manage_team(request.user, obj.team)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._manages(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._manages(request, obj)

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        if not self._manages(request, obj):
            raise PermissionDenied("Your role in this team does not allow this.")
        try:
            if change:
                role = obj.role
                obj.role = Membership.objects.get(pk=obj.pk).role
                services.member_update(membership=obj, role=role, actor=request.user)
            else:
                created = services.member_add(team=obj.team, user=obj.user, role=obj.role, actor=request.user)
                obj.pk = created.pk
        except ApplicationError as error:  # the last admin stays; a member is added once
            self.message_user(request, error.message, messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        self.delete_queryset(request, Membership.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("team", "user"):
            try:
                services.member_remove(membership=membership, actor=request.user)
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is written by the services, never edited."""

    list_display = ("at", "actor_name", "action", "team", "package_name")
    list_filter = ("action",)
    search_fields = ("actor_name", "action", "package_name")
    date_hierarchy = "at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        rows = super().get_queryset(request).select_related("team")
        if _is_superuser(request):
            return rows
        readable = policy.teams_with_role(request.user, "admin")  # the teams whose log they read
        return rows.filter(Q(team_id__in=readable) | Q(actor_id=request.user.pk))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
