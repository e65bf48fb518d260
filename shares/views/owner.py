"""The owner's pages of a package's shares: create, revoke, the access log."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from packager.models import Package
from shares import access_report, services
from shares.forms import ShareForm
from shares.models import Share, ShareEvent, ShareRepository
from shares.views.access import site_base
from teams import policy
from web.http import AuthenticatedRequest, public_url


@sensitive_post_parameters("password")
@login_required
@require_http_methods(["GET", "POST"])
def package_shares(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    allowed = policy.can_share_package if request.method == "POST" else policy.can_view_package
    package = policy.get_for(Package.objects.all(), request.user, allowed, public_id=public_id)
    if request.method == "GET" and request.GET.get("part") == "repositories":
        # The builds box alone, polled while a build is under way: one query.
        return render(request, "shares/_repository_builds.html", _repository_builds(package))
    form = ShareForm(request.POST or None, package=package)
    if request.method == "POST" and form.is_valid():
        try:
            share = services.share_create(
                package=package, created_by=request.user, base_url=site_base(request), **form.cleaned_data
            )
        except services.ShareError as error:
            form.add_error(None, error.message)
        else:
            link = public_url(request, reverse("share_page", kwargs={"token": share.token}))
            messages.success(request, f"Share link created: {link}")
            return redirect("package_shares", public_id=package.public_id)
    shares = list(package.shares.select_related("version", "package__latest_version"))
    locked = services.shares_locked_until(shares=shares)
    return render(
        request,
        "shares/package_shares.html",
        {
            "package": package,
            "form": form,
            "shares": [(share, locked.get(share.pk)) for share in shares],
            "base_url": site_base(request),
            **_repository_builds(package),
        },
    )


#: at most this many builds are listed (the newest)
REPOSITORY_BUILDS_SHOWN = 20
#: what the builds box shows of each (not the version's metadata and exports)
REPOSITORY_BUILD_FIELDS = (
    "public_id",
    "share",
    "version",
    "kind",
    "key_marker",
    "state",
    "size",
    "progress_done",
    "progress_total",
    "build_seconds",
    "error",
    "requested_at",
    "started_at",
    "built_at",
)


def _repository_builds(package: Package) -> dict[str, object]:
    """The newest git-annex and DVC repository builds of the package's open shares, and
    whether one is still waiting or running (the box then polls itself)."""
    builds = list(
        ShareRepository.objects.filter(share__package=package, share__revoked_at__isnull=True)
        .select_related("share", "version")
        .only(*REPOSITORY_BUILD_FIELDS, "share__token", "version__number")
        .order_by("-requested_at", "-pk")[:REPOSITORY_BUILDS_SHOWN]
    )
    running = {ShareRepository.State.PENDING, ShareRepository.State.BUILDING}
    return {
        "package": package,
        "repository_builds": builds,
        "repository_builds_running": any(build.state in running for build in builds),
    }


@login_required
@require_POST
def share_revoke(request: AuthenticatedRequest, token: str) -> HttpResponse:
    share = policy.get_for(
        Share.objects.select_related("package"), request.user, policy.can_share_package, through="package", token=token
    )
    services.share_revoke(share=share, actor=request.user)
    messages.success(request, "Share link revoked: it now answers “gone”.")
    return redirect("package_shares", public_id=share.package.public_id)


@login_required
@require_http_methods(["GET", "HEAD"])
def share_access_log(request: AuthenticatedRequest, token: str) -> HttpResponse:
    """Who used a share link, and how: for the package's owner only."""
    share = policy.get_for(
        Share.objects.select_related("package"), request.user, policy.can_view_package, through="package", token=token
    )
    report = access_report.share_access_report(share=share)
    context = {
        "share": share,
        "package": share.package,
        "report": report,
        "chart": access_report.fetches_chart_svg(report.fetches_by_day),
        "kinds": ShareEvent.Kind.choices,
    }
    return render(request, "shares/access_log.html", context)


@login_required
@require_http_methods(["GET", "HEAD"])
def share_access_log_csv(request: AuthenticatedRequest, token: str) -> StreamingHttpResponse:
    share = policy.get_for(
        Share.objects.select_related("package"), request.user, policy.can_view_package, through="package", token=token
    )
    response = StreamingHttpResponse(
        access_report.share_access_csv(share=share), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="share-{share.token[:8]}-access-log.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
