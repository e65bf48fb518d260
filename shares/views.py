from __future__ import annotations

import base64
import binascii
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from packager import exports
from packager.exports import annex, direct, dvc, gitrepo
from packager.models import Package, PackageVersion, VersionEntry
from packager.paths import InvalidPath, normalize_folder, reserved_in, reserved_message
from packager.render import description_html, markdown_to_html_cached, render_text_cached
from packager.tree import list_version_folder
from shares import access_log, access_report, resolver, services
from shares.forms import ShareForm, UnlockForm
from shares.models import Share, ShareEvent
from sources.backends import StorageError
from sources.previews import Preview, object_preview
from web.cursors import InvalidCursor
from web.http import (
    AuthenticatedRequest,
    allow_image_origin,
    allow_storage_images,
    breadcrumbs,
    client_ip,
    path_url_prefix,
)

SESSION_KEY = "unlocked_shares"


# Access -----------------------------------------------------------------------------


def _is_owner(request: HttpRequest, share: Share) -> bool:
    return request.user.is_authenticated and request.user.pk == share.package.owner_id


def _basic_auth_password(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


def _needs_no_password(request: HttpRequest, share: Share) -> bool:
    """No password set, the owner, or a session that already gave the password."""
    return (
        not share.has_password
        or _is_owner(request, share)
        or request.session.get(SESSION_KEY, {}).get(share.token) == share.unlock_marker
    )


def _is_unlocked(request: HttpRequest, share: Share) -> bool:
    """As _needs_no_password, or the password given with HTTP Basic auth."""
    if _needs_no_password(request, share):
        return True
    password = _basic_auth_password(request)
    return password is not None and services.share_unlock(share=share, password=password, ip_address=client_ip(request))


def _remember_unlock(request: HttpRequest, share: Share) -> None:
    unlocked = dict(request.session.get(SESSION_KEY, {}))
    unlocked[share.token] = share.unlock_marker
    request.session[SESSION_KEY] = unlocked


def _get_share(token: str) -> Share:
    # The version and the package's latest one come along: share.serving_version costs no
    # query; the owner too, whose account must still be active.
    return get_object_or_404(
        Share.objects.select_related("package__owner", "version", "package__latest_version"), token=token
    )


def _is_open(share: Share) -> bool:
    """Neither revoked nor expired, and its owner's account is still active."""
    return share.is_active and share.package.owner.is_active


def _gone(request: HttpRequest, share: Share) -> HttpResponse:
    return render(request, "shares/gone.html", {"share": share}, status=410)


def _challenge(message: str = "This share needs its password.") -> HttpResponse:
    response = HttpResponse(
        f"{message} Use HTTP Basic auth: any user name, the share password as password "
        "(wget --user=share --ask-password ...).\n",
        status=401,
        content_type="text/plain; charset=utf-8",
    )
    response["WWW-Authenticate"] = 'Basic realm="packager share", charset="UTF-8"'
    return response


def _download_access(request: HttpRequest, token: str) -> Share | HttpResponse:
    """The share for a download endpoint, or the response that refuses it."""
    share = _get_share(token)
    if not _is_open(share):
        return _gone(request, share)
    try:
        if not _is_unlocked(request, share):
            return _challenge()
    except services.TooManyAttempts as error:
        return HttpResponse(error.message + "\n", status=429, content_type="text/plain; charset=utf-8")
    return share


def _resolve_base(request: HttpRequest, share: Share) -> str:
    return _links(request, share).resolve_base


def _no_store(response: HttpResponseBase) -> HttpResponseBase:
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


# Public pages -----------------------------------------------------------------------


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def share_page(request: HttpRequest, token: str) -> HttpResponseBase:
    share = _get_share(token)
    if not _is_open(share):
        return _gone(request, share)
    form = UnlockForm(request.POST or None)
    if not _needs_no_password(request, share):
        status = 200
        if request.method == "POST" and form.is_valid():
            try:
                if services.share_unlock(
                    share=share, password=form.cleaned_data["password"], ip_address=client_ip(request)
                ):
                    _remember_unlock(request, share)
                    return redirect("share_page", token=share.token)
                form.add_error("password", "That password is not right.")
                status = 403
            except services.TooManyAttempts as error:
                form.add_error(None, error.message)
                status = 429
        return _no_store(render(request, "shares/unlock.html", {"share": share, "form": form}, status=status))
    if request.method == "POST":
        return redirect("share_page", token=share.token)
    package = share.package
    version = share.serving_version
    if version is None:
        return _share_waiting(request, share)
    if getattr(request, "htmx", False):
        # The waiting page polls this URL: the version is out, so show it.
        return _no_store(HttpResponseClientRefresh())
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
    share_url = request.build_absolute_uri(reverse("share_page", kwargs={"token": share.token}))
    is_owner = _is_owner(request, share)
    readme = listing.readme
    readme_html = markdown_to_html_cached(sha256=readme.sha256, read=readme.read_text) if readme else ""
    about_html = description_html(package.description) if package.description else ""
    context = {
        "share": share,
        "package": package,
        "version": version,
        "listing": listing,
        # Each row links to its path: one reverse per route, not one per row.
        "urls": {
            "view": path_url_prefix("share_view_entry", share.token),
            "resolve": path_url_prefix("share_resolve", share.token),
        },
        "readme_html": readme_html,
        "description_html": about_html,
        "resolve_base": _resolve_base(request, share),
        "share_url": share_url,
        "is_owner": is_owner,
        "locked_until": services.shares_locked_until(shares=[share]).get(share.pk) if is_owner else None,
        "repositories": _repository_recipes(request, share, version, share_url),
    }
    response = render(request, "shares/page.html", context)
    allow_storage_images(response, readme_html + about_html, version.entry_sources())
    return _no_store(response)


def _repository_recipes(request: HttpRequest, share: Share, version: PackageVersion, share_url: str) -> dict[str, str]:
    """The clone recipes; showing them asks for the builds, so the repositories are
    usually ready by the time someone runs `git clone`."""
    services.share_repositories_prepare(share=share, version=version, base_url=_site_base(request))
    folder = share.package.slug
    return {
        "annex_recipe": annex.annex_recipe(share_url=share_url, folder=folder, has_password=share.has_password),
        "dvc_recipe": dvc.dvc_recipe(share_url=share_url, folder=folder, has_password=share.has_password),
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
        "is_owner": _is_owner(request, share),
        "checksumming": pending is not None and pending.state == PackageVersion.State.CHECKSUMMING,
    }
    template = "shares/_publishing.html" if getattr(request, "htmx", False) else "shares/waiting.html"
    return _no_store(render(request, template, context))


@require_http_methods(["GET", "HEAD"])
def share_view_entry(request: HttpRequest, token: str, path: str) -> HttpResponseBase:
    """A text file rendered (README, notebook), or the details of a data file."""
    access = _download_access(request, token)
    if isinstance(access, HttpResponse):
        if access.status_code == 401:
            return redirect("share_page", token=token)
        return access
    share = access
    version = share.serving_version
    if version is None:
        return redirect("share_page", token=token)
    entry = get_object_or_404(VersionEntry.objects.select_related("source"), package_version=version, path=path)
    kind, html = (
        render_text_cached(entry.path, sha256=entry.sha256, read=entry.read_text) if entry.is_text else ("pointer", "")
    )
    preview = None
    if entry.drift:
        # Like a download (resolved_response), a preview never shows bytes other than those published.
        change = "is gone from" if entry.drift == VersionEntry.Drift.MISSING else "has changed in"
        preview = Preview(
            kind="failed",
            name=entry.path.rpartition("/")[2],
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
            filename=entry.path.rpartition("/")[2],
        )
    context = {
        "share": share,
        "package": share.package,
        "version": version,
        "entry": entry,
        "kind": kind,
        "html": html,
        "preview": preview,
        "resolve_url": exports.resolve_url(_resolve_base(request, share), entry.path),
        "crumbs": breadcrumbs(entry.path.rpartition("/")[0]),
    }
    response = render(request, "shares/entry.html", context)
    if preview is not None and preview.image_url:
        allow_image_origin(response, preview.image_url)
    return _no_store(allow_storage_images(response, html, version.entry_sources()))


def _not_published(share: Share) -> HttpResponse:
    """Why a share has nothing to download yet: 503 while its version is being published."""
    if share.version_id is not None:
        pending = share.version
    else:
        pending = share.package.versions.exclude(state=PackageVersion.State.PUBLISHED).order_by("-number").first()
    if pending is not None and pending.state == PackageVersion.State.CHECKSUMMING:
        response = _text(
            f"Version {pending.number} of this package is being published ({pending.progress_done:,} of "
            f"{pending.progress_total:,} files checksummed); try again in a minute.\n",
            status=503,
        )
        response["Retry-After"] = "30"
        return response
    if pending is not None and pending.state == PackageVersion.State.FAILED:
        return _text(f"Version {pending.number} of this package could not be published: {pending.error}\n", status=409)
    return _text("This package has no published version yet: there is nothing to download.\n", status=409)


def _download_version(request: HttpRequest, token: str) -> tuple[Share, PackageVersion] | HttpResponse:
    """The share and the version it serves, or the response that refuses the download."""
    access = _download_access(request, token)
    if isinstance(access, HttpResponse):
        return access
    version = access.serving_version
    if version is None:
        return _not_published(access)
    if reserved := exports.reserved_path(version):
        refused = _text(
            f"Version {version.number} of this package cannot be downloaded: {reserved_message(reserved)} "
            "Ask the package's owner to move it and publish a new version.\n",
            status=409,
        )
        _no_store(refused)
        return refused
    return access, version


def _links(request: HttpRequest, share: Share) -> exports.ShareLinks:
    share_url = request.build_absolute_uri(reverse("share_page", kwargs={"token": share.token}))
    return exports.ShareLinks(share_url=share_url, has_password=share.has_password)


def _text(body: str, *, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


def _sized(request: HttpRequest, export: exports.Export, content_type: str) -> HttpResponseBase:
    """The export streamed with its exact length; HEAD gets the length alone."""
    response: HttpResponseBase
    if request.method == "HEAD":
        response = HttpResponse(content_type=content_type)
    else:
        response = StreamingHttpResponse(iter(export), content_type=content_type)
    response["Content-Length"] = str(export.size)
    return _no_store(response)


@require_http_methods(["GET", "HEAD"])
def share_download_zip(request: HttpRequest, token: str) -> HttpResponseBase:
    access = _download_version(request, token)
    if isinstance(access, HttpResponse):
        return access
    share, version = access
    archive = exports.download_zip(version, share.package, _links(request, share))
    if request.method == "GET":
        services.share_record(share=share, kind=ShareEvent.Kind.ZIP, ip_address=client_ip(request))
    response = _sized(request, archive, "application/zip")
    response["Content-Disposition"] = f'attachment; filename="{share.package.slug}-v{version.number}.zip"'
    return response


@require_http_methods(["GET", "HEAD"])
def share_urls(request: HttpRequest, token: str) -> HttpResponseBase:
    access = _download_version(request, token)
    if isinstance(access, HttpResponse):
        return access
    share, version = access
    if request.method == "GET":
        services.share_record(share=share, kind=ShareEvent.Kind.URLS, ip_address=client_ip(request))
    return _sized(request, exports.urls_txt(version, _links(request, share)), "text/plain; charset=utf-8")


def _direct_list(request: HttpRequest, token: str, kind: str) -> HttpResponseBase:
    """direct.txt / direct.tsv: freshly signed storage URLs for clients that cannot come back."""
    access = _download_version(request, token)
    if isinstance(access, HttpResponse):
        return access
    share, version = access
    try:
        expires_in = direct.parse_expires_in(request.GET.get("expires_in"))
        signers = direct.signers_for(version, expires_in, grant=services.share_grant(share))
    except direct.DirectListError as error:
        return _no_store(_text(error.message + "\n", status=400))
    except StorageError as error:
        return _no_store(_text(error.message + "\n", status=409 if error.reason == "config" else 502))
    base = request.build_absolute_uri("/")[:-1]

    def absolute(url: str) -> str:
        return base + url

    if kind == "tsv":
        body = direct.direct_tsv(version, signers=signers, absolute=absolute)
        content_type = "text/tab-separated-values; charset=utf-8"
    else:
        body = direct.direct_txt(version, signers=signers, absolute=absolute)
        content_type = "text/plain; charset=utf-8"
    if request.method == "HEAD":
        return _no_store(HttpResponse(content_type=content_type))
    access_log.share_access_record(share_id=share.pk, kind=ShareEvent.Kind.DIRECT)
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="direct.{kind}"'
    return _no_store(response)


@require_http_methods(["GET", "HEAD"])
def share_direct_txt(request: HttpRequest, token: str) -> HttpResponseBase:
    return _direct_list(request, token, "txt")


@require_http_methods(["GET", "HEAD"])
def share_direct_tsv(request: HttpRequest, token: str) -> HttpResponseBase:
    return _direct_list(request, token, "tsv")


@require_http_methods(["GET", "HEAD"])
def share_manifest(request: HttpRequest, token: str) -> HttpResponseBase:
    access = _download_version(request, token)
    if isinstance(access, HttpResponse):
        return access
    share, version = access
    if request.method == "GET":
        services.share_record(share=share, kind=ShareEvent.Kind.MANIFEST, ip_address=client_ip(request))
    export = exports.manifest_jsonl(version, _links(request, share))
    return _sized(request, export, "application/jsonl; charset=utf-8")


@require_http_methods(["GET", "HEAD"])
def share_datapackage(request: HttpRequest, token: str) -> HttpResponseBase:
    access = _download_version(request, token)
    if isinstance(access, HttpResponse):
        return access
    share, version = access
    return _sized(request, exports.datapackage_json(version, _links(request, share)), "application/json")


def resolve_entry(request: HttpRequest, token: str, *, match: str, value: str, what: str) -> HttpResponseBase:
    """307 to a freshly signed storage URL for one entry of the version a share serves.

    The hot path of every download: one query (resolver.lookup), no write, no session
    for a share without a password. `match` is the column the entry is found by (path,
    sha256, md5) and `what` names the file in messages.
    """
    looked_up = getattr(request, "resolve_lookup", None)  # by the fast lane, which passed it on
    if looked_up is not None and looked_up[0] == (token, match, value):
        found = looked_up[1]
    else:
        found = resolver.lookup(token, match=match, value=value)
    if found is None:
        raise Http404("No such share")
    if not found.is_active:
        return _gone(request, _get_share(token))
    if found.has_password:
        share = found.share()
        try:
            if not _is_unlocked(request, share):
                return _challenge()
        except services.TooManyAttempts as error:
            return _text(error.message + "\n", status=429)
    if found.version_id is None:
        return _not_published(_get_share(token))
    return resolved_response(request, found, what=what)


def resolve_open_share(
    request: HttpRequest, token: str, *, match: str, value: str, what: str
) -> HttpResponseBase | None:
    """resolve_entry for an active share without a password; None for anything else (an
    unknown token, a password, a revoked or expired link, nothing published), which the
    full view answers."""
    found = resolver.lookup(token, match=match, value=value)
    if found is None or not found.is_active or found.has_password or found.version_id is None:
        request.resolve_lookup = ((token, match, value), found)  # type: ignore[attr-defined]
        return None
    return resolved_response(request, found, what=what)


def resolved_response(request: HttpRequest, found: resolver.Found, *, what: str) -> HttpResponseBase:
    """The answer for an entry of the published version of a share the client may download from."""
    entry = found.entry
    if entry is None:
        return _no_store(_text(f"No file {what} in version {found.version_number} of this package.\n", status=404))
    if entry["drift"]:
        change = "is gone from" if entry["drift"] == VersionEntry.Drift.MISSING else "has changed in"
        return _no_store(
            _text(
                f"“{entry['path']}” {change} storage since version {found.version_number} was published, so "
                "packager will not send you to other bytes. Ask the package's owner to publish a new version.\n",
                status=409,
            )
        )
    if reserved_in(entry["path"]):
        return _no_store(_text(reserved_message(entry["path"]) + " It is not served.\n", status=409))
    requested_range = request.headers.get("Range", "")
    if requested_range and resolver.range_is_unsatisfiable(requested_range, entry["size"]):
        # Said here, not left to the store: some stores answer 206 to a range starting at
        # the end, and wget -c would then fetch a complete file forever.
        refused = _text(f"The range starts past the end of “{entry['path']}” ({entry['size']:,} bytes).\n", status=416)
        refused["Content-Range"] = f"bytes */{entry['size']}"
        return _no_store(refused)
    if found.source is None:
        # Text files are kept by packager itself: small, served as they are.
        with default_storage.open(entry["text_name"], "rb") as handle:
            return _no_store(HttpResponse(handle.read(), content_type="text/plain; charset=utf-8"))
    method = "HEAD" if request.method == "HEAD" else "GET"
    try:
        backend = resolver.backend_for_row(found.source)
        expires_in = resolver.presign_ttl(found.source)
        # Revoking the share stops the links that packager serves itself.
        grant = services.share_grant(found.share()) if backend.serves_own_links else ""
        url = backend.sign_url(
            entry["key"],
            method=method,
            expires_in=expires_in,
            version_id=entry["version_id"],
            filename=entry["path"].rpartition("/")[2],
            grant=grant,
        )
    except StorageError as error:
        return _no_store(_text(error.message + "\n", status=409 if error.reason == "config" else 502))
    if method == "GET":
        access_log.share_access_record(share_id=found.share_id, kind=ShareEvent.Kind.RESOLVE, path=entry["path"])
    response = HttpResponse(status=307)
    # Storage URLs are absolute; a local folder's signed link is packager's own path.
    response["Location"] = request.build_absolute_uri(url) if url.startswith("/") else url
    return _no_store(response)


@require_http_methods(["GET", "HEAD"])
def share_resolve(request: HttpRequest, token: str, path: str) -> HttpResponseBase:
    """307 to a freshly signed storage URL; the bytes never pass through packager."""
    return resolve_entry(request, token, match="path", value=path, what=f"“{path}”")


# Repositories and content-addressed lookup -------------------------------------------


def _site_base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")[:-1]


@require_http_methods(["GET", "HEAD"])
def share_by_hash(request: HttpRequest, token: str, algorithm: str, digest: str) -> HttpResponseBase:
    """/sha256/<hex> and /md5/<hex>: 307 to the file with that content in the share's
    version, through the same lookup as r/<path> (several paths may share one content:
    any of them is the same bytes)."""
    return resolve_entry(request, token, match=algorithm, value=digest.lower(), what=f"with {algorithm} {digest}")


@require_http_methods(["GET", "HEAD"])
def share_dvc_object(request: HttpRequest, token: str, head: str, tail: str) -> HttpResponseBase:
    """The share's DVC remote: DVC 3 asks for files/md5/<2 hex>/<30 hex>."""
    return share_by_hash(request, token=token, algorithm="md5", digest=head + tail)


@require_http_methods(["GET", "HEAD"])
def share_repository_file(request: HttpRequest, token: str, kind: str, name: str) -> HttpResponseBase:
    """A file of the share's git-annex or DVC repository, for git's dumb HTTP protocol."""
    access = _download_version(request, token)
    if isinstance(access, HttpResponse):
        return access
    share, version = access
    if not gitrepo.is_served_file(name):
        return _text("Not in this repository.\n", status=404)
    repository = services.share_repository_request(
        share=share, version=version, kind=kind, base_url=_site_base(request)
    )
    if not repository.is_ready:
        response = _text(
            f"The {repository.get_kind_display()} repository of this share is being prepared. Try again in a minute.\n",
            status=503,
        )
        response["Retry-After"] = "30"
        return _no_store(response)
    handle = default_storage.open(f"{repository.storage_prefix}/{name}", "rb")
    content_type = "application/octet-stream" if name.startswith("objects/pack/") else "text/plain; charset=utf-8"
    return _no_store(FileResponse(handle, content_type=content_type))


# Owner pages ------------------------------------------------------------------------


@sensitive_post_parameters("password")
@login_required
@require_http_methods(["GET", "POST"])
def package_shares(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    package = get_object_or_404(Package, public_id=public_id, owner=request.user)
    form = ShareForm(request.POST or None, package=package)
    if request.method == "POST" and form.is_valid():
        try:
            share = services.share_create(package=package, created_by=request.user, **form.cleaned_data)
        except services.ShareError as error:
            form.add_error(None, error.message)
        else:
            link = request.build_absolute_uri(reverse("share_page", kwargs={"token": share.token}))
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
            "base_url": request.build_absolute_uri("/")[:-1],
        },
    )


@login_required
@require_POST
def share_revoke(request: AuthenticatedRequest, token: str) -> HttpResponse:
    share = get_object_or_404(Share, token=token, package__owner=request.user)
    services.share_revoke(share=share)
    messages.success(request, "Share link revoked: it now answers “gone”.")
    return redirect("package_shares", public_id=share.package.public_id)


@login_required
@require_http_methods(["GET", "HEAD"])
def share_access_log(request: AuthenticatedRequest, token: str) -> HttpResponse:
    """Who used a share link, and how: for the package's owner only."""
    share = get_object_or_404(Share.objects.select_related("package"), token=token, package__owner=request.user)
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
    share = get_object_or_404(Share, token=token, package__owner=request.user)
    response = StreamingHttpResponse(
        access_report.share_access_csv(share=share), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="share-{share.token[:8]}-access-log.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
