"""The share's pages for people: the folder page (with README and recipes), a file's page, the waiting page."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRefresh

from packager import exports
from packager.citation import citation_for
from packager.exports import annex, bibliography, dvc, howto, schemaorg
from packager.models import PackageVersion, VersionEntry
from packager.paths import InvalidPath, normalize_folder
from packager.render import description_html, markdown_to_html_cached, render_text_cached
from packager.tree import list_version_folder
from shares import services
from shares.forms import UnlockForm
from shares.models import Share, ShareEvent
from shares.views.access import (
    came_by_key_link,
    download_access,
    download_limit_refusal,
    get_share,
    gone,
    is_owner,
    key_link_url,
    needs_no_password,
    no_store,
    remember_unlock,
    resolve_base,
    share_path,
    site_base,
)
from sources.previews import Preview, object_preview
from web.cursors import InvalidCursor
from web.http import allow_image_origin, allow_storage_downloads, allow_storage_images, breadcrumbs, client_ip
from web.links import rewrite_relative
from web.paths import folder_of


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def share_page(request: HttpRequest, token: str) -> HttpResponseBase:
    share = get_share(token)
    if not share.is_open:
        return gone(request, share)
    form = UnlockForm(request.POST or None)
    if not needs_no_password(request, share):
        status = 200
        if request.method == "POST" and form.is_valid():
            try:
                if services.share_unlock(
                    share=share, password=form.cleaned_data["password"], ip_address=client_ip(request)
                ):
                    remember_unlock(request, share)
                    return redirect("share_page", token=share.token)
                form.add_error("password", "That password is not right.")
                status = 403
            except services.TooManyAttempts as error:
                form.add_error(None, error.message)
                status = error.status
        return no_store(render(request, "shares/unlock.html", {"share": share, "form": form}, status=status))
    if request.method == "POST":
        return redirect("share_page", token=share.token)
    package = share.package
    version = share.serving_version
    if version is None:
        return _share_waiting(request, share)
    if getattr(request, "htmx", False):
        # The waiting page polls this URL: the version is out, so show it.
        return no_store(HttpResponseClientRefresh())
    try:
        folder = normalize_folder(request.GET.get("path", ""))
        cursor = request.GET.get("cursor", "")
        listing = list_version_folder(version, folder, cursor=cursor)
    except InvalidPath:
        raise Http404("No such folder") from None
    except InvalidCursor as error:
        raise Http404(error.message) from None
    if not listing.exists:
        raise Http404("No such folder")
    if not folder and not cursor:
        services.share_record(share=share, kind=ShareEvent.Kind.VIEW, ip_address=client_ip(request))
    base = share_path(request, share)
    share_url = site_base(request) + base
    owner_viewing = is_owner(request, share)
    readme = listing.readme
    readme_html = markdown_to_html_cached(sha256=readme.sha256, read=readme.read_text) if readme else ""
    if readme:
        # Relative links lead to the share's pages of those files, images to their signed URLs.
        readme_html = rewrite_relative(
            readme_html, folder=folder_of(readme.path), link_prefix=base + "view/", image_prefix=base + "r/"
        )
    about_html = description_html(package.description) if package.description else ""
    context = {
        "share": share,
        "package": package,
        "version": version,
        "listing": listing,
        # Each row links to its path: one reverse per route, not one per row.
        "urls": {
            "view": base + "view/",
            "resolve": base + "r/",
        },
        "share_base": base,
        "cut_dirs": howto.cut_dirs(share_url),
        "asks_password": share.has_password and not came_by_key_link(request, share),
        "key_link": key_link_url(request, share),
        "readme_html": readme_html,
        "description_html": about_html,
        "resolve_base": resolve_base(request, share),
        "share_url": share_url,
        "docs_url": settings.DOCS_URL,
        "is_owner": owner_viewing,
        "locked_until": services.shares_locked_until(shares=[share]).get(share.pk) if owner_viewing else None,
        "repositories": _repository_recipes(request, share, version, share_url),
        # A password share's recipes use its key link: most clients would send the password on to storage.
        "recipes": howto.client_recipes(link=key_link_url(request, share) or share_url, folder=package.slug),
        **_cite_this(request, share, version, share_url),
    }
    response = render(request, "shares/page.html", context)
    # "Download all into a folder" fetches from storage (one query, none for a version of text files only).
    storages = list(version.entry_sources()) if version.source_ids else []
    allow_storage_downloads(response, storages)
    allow_storage_images(response, readme_html + about_html, storages)
    return no_store(response)


def _repository_recipes(request: HttpRequest, share: Share, version: PackageVersion, share_url: str) -> dict[str, str]:
    """The clone recipes; showing them asks for the builds, so the repositories are
    usually ready by the time someone runs `git clone`."""
    services.share_repositories_prepare(share=share, version=version, base_url=site_base(request))
    folder = share.package.slug
    asks_password = share.has_password and not came_by_key_link(request, share)
    return {
        "annex_recipe": annex.annex_recipe(share_url=share_url, folder=folder, has_password=asks_password),
        "dvc_recipe": dvc.dvc_recipe(share_url=share_url, folder=folder, has_password=asks_password),
    }


def _cite_this(request: HttpRequest, share: Share, version: PackageVersion, share_url: str) -> dict[str, str]:
    """The "Cite this" box (APA, BibTeX, RIS) and the schema.org JSON-LD of the page's head."""
    citation = citation_for(version, url=share_url, package=share.package)
    return {
        "cite_apa": bibliography.apa(citation),
        "cite_bibtex": bibliography.bibtex(citation),
        "cite_ris": bibliography.ris(citation),
        "json_ld": schemaorg.json_ld(
            citation,
            zip_url=share_url + "download.zip",
            urls_url=share_url + "urls.txt",
        ),
    }


def _share_waiting(request: HttpRequest, share: Share) -> HttpResponseBase:
    """No published version to show yet: say so, with the progress of the one being published.

    The page polls this same URL with htmx; the partial stops polling once the version is
    out (the response then tells htmx to reload the page) or has failed.
    """
    pending = share.version if share.version_id else share.package.versions.order_by("-number").first()
    context = {
        "share": share,
        "package": share.package,
        "pending": pending,
        "is_owner": is_owner(request, share),
        "checksumming": pending is not None and pending.state == PackageVersion.State.CHECKSUMMING,
    }
    template = "shares/_publishing.html" if getattr(request, "htmx", False) else "shares/waiting.html"
    return no_store(render(request, template, context))


@require_http_methods(["GET", "HEAD"])
def share_view_entry(request: HttpRequest, token: str, path: str) -> HttpResponseBase:
    """A text file rendered (README, notebook), or the details of a data file."""
    access = download_access(request, token)
    if isinstance(access, HttpResponse):
        if access.status_code == 401:
            return redirect("share_page", token=token)
        return access
    share = access
    version = share.serving_version
    if version is None:
        return redirect("share_page", token=token)
    # A file page may render or preview untrusted bytes: it costs more than a link.
    if refused := download_limit_refusal(request, share, cost=settings.DOWNLOAD_LIMIT_PAGE_COST):
        return refused
    entry = get_object_or_404(VersionEntry.objects.select_related("source"), package_version=version, path=path)
    kind, html = (
        render_text_cached(entry.path, sha256=entry.sha256, read=entry.read_text) if entry.is_text else ("pointer", "")
    )
    if entry.is_text:
        base = share_path(request, share)
        html = rewrite_relative(
            html, folder=folder_of(entry.path), link_prefix=base + "view/", image_prefix=base + "r/"
        )
    preview = None
    if entry.drift:
        # Like a download (resolved_response), a preview never shows bytes other than those published.
        change = "is gone from" if entry.drift == VersionEntry.Drift.MISSING else "has changed in"
        preview = Preview(
            kind="failed",
            name=entry.name,
            size=entry.size,
            error=f"This file {change} storage since version {version.number} was published, so there is no "
            "preview of it. Ask the package's owner to publish a new version.",
        )
    elif not entry.is_text and entry.source is not None:
        preview = object_preview(
            source=entry.source,
            key=entry.key,
            size=entry.size,
            etag=entry.etag,
            version_id=entry.version_id,
            filename=entry.name,
        )
    context = {
        "share": share,
        "package": share.package,
        "version": version,
        "entry": entry,
        "kind": kind,
        "html": html,
        "preview": preview,
        "resolve_url": exports.resolve_url(resolve_base(request, share), entry.path),
        "share_base": share_path(request, share),
        "crumbs": breadcrumbs(folder_of(entry.path)),
    }
    response = render(request, "shares/entry.html", context)
    if preview is not None and preview.image_url:
        allow_image_origin(response, preview.image_url)
    return no_store(allow_storage_images(response, html, version.entry_sources()))
