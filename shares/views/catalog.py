"""The shares page: every share the user can see (their own and their teams'), and bulk revoke."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from shares import listing, services
from shares.models import Share
from teams import policy
from web.cursors import InvalidCursor
from web.http import AuthenticatedRequest

PAGE_SIZE = 100
MAX_BULK = 500


@login_required
@require_GET
def share_list(request: AuthenticatedRequest) -> HttpResponse:
    rows = listing.shares_visible(request.user)
    try:
        shares, next_cursor = listing.shares_page(rows, cursor=request.GET.get("cursor", ""), limit=PAGE_SIZE)
    except InvalidCursor as error:
        raise Http404(error.message) from None
    return render(
        request,
        "shares/list.html",
        {
            "rows": [
                (share, listing.share_state(share), policy.can_share_package(request.user, share.package))
                for share in shares
            ],
            "next_cursor": next_cursor,
        },
    )


@login_required
@require_POST
def share_bulk_revoke(request: AuthenticatedRequest) -> HttpResponse:
    """Revoke the chosen shares; those the user's role does not allow are left, and counted.

    Like every other route: 404 when the user can see none of the chosen shares, 403 when
    their role allows revoking none of them.
    """
    tokens = request.POST.getlist("token")[:MAX_BULK]
    shares = Share.objects.filter(policy.visible(request.user, "package"), token__in=tokens).select_related("package")
    if tokens and not shares:
        raise Http404("Not found.")
    if shares and not any(policy.can_share_package(request.user, share.package) for share in shares):
        raise PermissionDenied("Your role in this team does not allow this.")
    revoked = refused = 0
    for share in shares:
        if not policy.can_share_package(request.user, share.package):
            refused += 1
            continue
        if not share.is_revoked:
            services.share_revoke(share=share, actor=request.user)
            revoked += 1
    if revoked:
        messages.success(request, f"Revoked {revoked} share link{'s' if revoked != 1 else ''}.")
    if refused:
        messages.error(request, f"{refused} share link(s) not revoked: your role in their team does not allow it.")
    if not revoked and not refused:
        messages.info(request, "Choose the share links to revoke.")
    return redirect("shares_list")
