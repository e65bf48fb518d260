"""Team pages: the list, a team's members and invitations, accepting an invitation, the audit log."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from teams import policy, selectors, services
from teams.forms import AuditFilterForm, InviteForm, RoleForm, TeamForm
from teams.models import Invitation, Membership, Team
from web.cursors import InvalidCursor
from web.errors import ApplicationError
from web.http import AuthenticatedRequest, public_url


@login_required
@require_http_methods(["GET", "POST"])
def team_list(request: AuthenticatedRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = services.team_create(name=form.cleaned_data["name"], creator=request.user)
        messages.success(request, f"Team “{team.name}” created; you are its admin.")
        return redirect("team_detail", public_id=team.public_id)
    teams = policy.visible_teams(request.user).annotate(member_count=Count("memberships", distinct=True))
    roles = policy.team_roles(request.user)
    rows = [(team, roles.get(team.pk)) for team in teams]
    return render(request, "teams/list.html", {"rows": rows, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def team_detail(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    """Members and their roles; an admin renames the team here."""
    allowed = policy.can_manage_team if request.method == "POST" else policy.can_view_team
    team = policy.get_team_for(request.user, allowed, public_id=public_id)
    form = TeamForm(request.POST or None, initial={"name": team.name})
    if request.method == "POST" and form.is_valid():
        services.team_update(team=team, name=form.cleaned_data["name"], actor=request.user)
        messages.success(request, "Team renamed.")
        return redirect("team_detail", public_id=team.public_id)
    manages = policy.can_manage_team(request.user, team)
    context = {
        "team": team,
        "role": policy.role_in_team(request.user, team),
        "manages": manages,
        "members": team.memberships.select_related("user").order_by("user__username"),
        "invitations": team.invitations.filter(accepted_at__isnull=True)[:50] if manages else [],
        "form": form,
        "invite_form": InviteForm(),
        "role_choices": RoleForm.base_fields["role"].choices,  # type: ignore[attr-defined]
    }
    return render(request, "teams/detail.html", context)


@login_required
@require_POST
def team_invite(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    team = policy.get_team_for(request.user, policy.can_manage_team, public_id=public_id)
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a user name or an email address, and a role.")
        return redirect("team_detail", public_id=team.public_id)
    who, role = form.cleaned_data["who"].strip(), form.cleaned_data["role"]
    try:
        if "@" in who:
            services.invitation_create(
                team=team,
                email=who,
                role=role,
                actor=request.user,
                accept_url=lambda token: public_url(request, reverse("invitation_accept", args=[token])),
            )
            messages.success(request, f"Invitation sent to {who}.")
        else:
            account = services.user_by_name_or_email(username=who)
            if account is None:
                raise services.TeamError("No active account has this user name; invite them by email instead.")
            services.member_add(team=team, user=account, role=role, actor=request.user)
            messages.success(request, f"{who} is now a member ({role}).")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("team_detail", public_id=team.public_id)


def _membership(team: Team, user_id: int) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user", "team"), team=team, user_id=user_id)


@login_required
@require_POST
def member_role(request: AuthenticatedRequest, public_id: uuid.UUID, user_id: int) -> HttpResponse:
    team = policy.get_team_for(request.user, policy.can_manage_team, public_id=public_id)
    membership = _membership(team, user_id)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.member_update(membership=membership, role=form.cleaned_data["role"], actor=request.user)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"{membership.user.get_username()} is now {membership.role}.")
    return redirect("team_detail", public_id=team.public_id)


@login_required
@require_POST
def member_remove(request: AuthenticatedRequest, public_id: uuid.UUID, user_id: int) -> HttpResponse:
    """An admin removes a member, or a member leaves."""
    team = policy.get_team_for(request.user, policy.can_view_team, public_id=public_id)
    if user_id != request.user.pk and not policy.can_manage_team(request.user, team):
        raise PermissionDenied("Only the team's admins remove other members.")
    membership = _membership(team, user_id)
    try:
        services.member_remove(membership=membership, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("team_detail", public_id=team.public_id)
    if user_id == request.user.pk:
        messages.success(request, f"You left “{team.name}”.")
        return redirect("team_list")
    messages.success(request, f"{membership.user.get_username()} was removed from the team.")
    return redirect("team_detail", public_id=team.public_id)


@login_required
@require_POST
def team_delete(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    team = policy.get_team_for(request.user, policy.can_manage_team, public_id=public_id)
    try:
        services.team_delete(team=team, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("team_detail", public_id=team.public_id)
    messages.success(request, f"Team “{team.name}” deleted.")
    return redirect("team_list")


@login_required
@require_http_methods(["GET", "POST"])
def invitation_accept(request: AuthenticatedRequest, token: str) -> HttpResponse:
    """The link of an invitation email: the signed-in reader joins (after login or sign-up)."""
    invitation = Invitation.objects.select_related("team", "invited_by").filter(token=token).first()
    if invitation is None:
        raise Http404("No such invitation")
    if request.method == "POST":
        try:
            services.invitation_accept(invitation=invitation, user=request.user)
        except ApplicationError as error:
            messages.error(request, error.message)
            return redirect("team_list")
        messages.success(request, f"You joined “{invitation.team.name}” as {invitation.role}.")
        return redirect("team_detail", public_id=invitation.team.public_id)
    return render(request, "teams/invitation.html", {"invitation": invitation})


# Audit log ---------------------------------------------------------------------------

AUDIT_PAGE = 100


def _audit_rows(request: AuthenticatedRequest) -> tuple[AuditFilterForm, object]:
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        raise Http404("Not a valid filter")
    data = form.cleaned_data if form.is_bound else {}
    team = None
    if data.get("team"):
        team = policy.get_team_for(request.user, policy.can_read_team_audit, public_id=data["team"])
    bounds = form.bounds() if form.is_bound else {"since": None, "until": None}
    rows = selectors.audit_entries(request.user, team=team, package_id=data.get("package"), **bounds)
    return form, rows


@login_required
@require_GET
def audit_log(request: AuthenticatedRequest) -> HttpResponse:
    """Your actions, and everything done in the teams you administer; filter, export as CSV."""
    form, rows = _audit_rows(request)
    try:
        entries, next_cursor = selectors.audit_page(rows, cursor=request.GET.get("cursor", ""), limit=AUDIT_PAGE)  # type: ignore[arg-type]
    except InvalidCursor as error:
        raise Http404(error.message) from None
    query = request.GET.copy()
    query.pop("cursor", None)
    context = {
        "form": form,
        "entries": entries,
        "next_cursor": next_cursor,
        "query": query.urlencode(),
        "teams": [
            (team, team.pk in policy.teams_with_role(request.user, "admin"))
            for team in policy.visible_teams(request.user)
        ],
    }
    return render(request, "teams/audit.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def audit_log_csv(request: AuthenticatedRequest) -> StreamingHttpResponse:
    _, rows = _audit_rows(request)

    def lines() -> Iterator[str]:
        writer = csv.writer(_Echo())
        yield writer.writerow(["at", "actor", "action", "team", "package", "package_name", "detail"])
        for entry in rows.iterator(chunk_size=2000):  # type: ignore[attr-defined]
            row = selectors.audit_row(entry)
            yield writer.writerow(
                [
                    row["at"].isoformat(),
                    row["actor"],
                    row["action"],
                    entry.team.name if entry.team else "",
                    row["package"] or "",
                    row["package_name"],
                    selectors.detail_text(entry.detail),
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
