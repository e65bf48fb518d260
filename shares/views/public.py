"""Public pages of public versions: the catalog, each version's landing page, and OAI-PMH."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from packager.citation import citation_for
from packager.models import PackageVersion
from shares import oai, services
from shares.views.access import site_base

# The metadata fields ?q= looks in (each a JSON text: a string, or a list as JSON).
SEARCHED = ("title", "description", "creators", "keywords", "subjects")


def landing_base(request: HttpRequest) -> str:
    """The origin of landing URLs: SITE_URL when set (as registered DOIs have it), else this request's."""
    return settings.SITE_URL or site_base(request)


@require_http_methods(["GET", "HEAD"])
def catalog(request: HttpRequest) -> HttpResponse:
    """Every public version, newest first; ?q= searches their frozen metadata. Two queries a page."""
    query = request.GET.get("q", "").strip()[:200]
    versions = PackageVersion.objects.filter(public=True, state=PackageVersion.State.PUBLISHED)
    if query:
        match = Q(package__name__icontains=query)
        for field in SEARCHED:
            match |= Q(**{f"metadata__{field}__icontains": query})
        versions = versions.filter(match)
    versions = versions.select_related("package__owner").order_by("-public_changed_at", "-id")
    page = Paginator(versions, settings.CATALOG_PAGE_SIZE).get_page(request.GET.get("page"))
    base = landing_base(request)
    entries = [
        (citation_for(version, url=base + oai.landing_path(version), package=version.package), version)
        for version in page.object_list
    ]
    return render(request, "shares/catalog.html", {"page": page, "entries": entries, "query": query})


@require_http_methods(["GET", "HEAD"])
def version_landing(request: HttpRequest, public_id: uuid.UUID, number: int) -> HttpResponse:
    """A public version's landing page (the URL its DOI resolves to): its own public share.
    A version made private again answers 410 Gone with a page saying it was withdrawn: its DOI
    still resolves here (DataCite never deletes a registered DOI), so a bare 404 would read as
    a broken link. A version that was never public is not found."""
    version = get_object_or_404(
        PackageVersion.objects.select_related("package__owner"),
        package__public_id=public_id,
        number=number,
        state=PackageVersion.State.PUBLISHED,
        public_changed_at__isnull=False,
    )
    if not version.public:
        return render(request, "shares/withdrawn.html", {"version": version}, status=410)
    share = services.share_landing(version=version)
    return redirect("share_page", token=share.token)


@csrf_exempt  # harvesters POST the protocol's arguments; nothing is changed by a request
@require_http_methods(["GET", "HEAD", "POST"])
def oai_endpoint(request: HttpRequest) -> HttpResponse:
    """OAI-PMH 2.0 (GET, or POST with form arguments as the protocol allows)."""
    arguments = request.POST if request.method == "POST" else request.GET
    base = landing_base(request)
    body = oai.response(
        {name: arguments.getlist(name) for name in arguments},
        base_url=request.build_absolute_uri(reverse("oai")),
        landing=lambda version: base + oai.landing_path(version),
    )
    return HttpResponse(body, content_type="text/xml; charset=utf-8")
