"""The share's whole-version downloads: ZIP, urls.txt, direct.txt/tsv, manifest.jsonl, datapackage.json."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.views.decorators.http import require_http_methods

from packager import exports
from packager.exports import direct
from packager.models import PackageVersion
from shares import access_log, services
from shares.models import Share, ShareEvent
from shares.views.access import (
    challenge,
    get_share,
    gone,
    is_unlocked,
    key_link_url,
    limited,
    links,
    no_store,
    serves_version,
    site_base,
    storage_failure,
    text,
)
from sources.backends.errors import StorageError
from web.http import client_ip


@require_http_methods(["GET", "HEAD"])
def share_key(request: HttpRequest, token: str) -> HttpResponseBase:
    """The key link of a password share, as text, for whoever gives the password (HTTP Basic
    auth, any user name; or an unlocked session, the owner, the key link itself). The same
    guessing limits as every password check."""
    share = get_share(token)
    if not share.is_open:
        return gone(request, share)
    link = key_link_url(request, share)
    if link is None:
        return no_store(text("This share has no password, so no key link: its own link needs none.\n", status=404))
    try:
        if not is_unlocked(request, share):
            return no_store(challenge())
    except services.TooManyAttempts as error:
        return no_store(text(error.message + "\n", status=error.status))
    return no_store(text(link + "\n"))


def _sized(request: HttpRequest, export: exports.Export, content_type: str) -> HttpResponseBase:
    """The export streamed with its exact length; HEAD gets the length alone."""
    response: HttpResponseBase
    if request.method == "HEAD":
        response = HttpResponse(content_type=content_type)
    else:
        response = StreamingHttpResponse(iter(export), content_type=content_type)
    response["Content-Length"] = str(export.size)
    return no_store(response)


@require_http_methods(["GET", "HEAD"])
@serves_version
@limited
def share_download_zip(request: HttpRequest, share: Share, version: PackageVersion) -> HttpResponseBase:
    archive = exports.download_zip(version, share.package, links(request, share))
    if request.method == "GET":
        services.share_record(share=share, kind=ShareEvent.Kind.ZIP, ip_address=client_ip(request))
    response = _sized(request, archive, "application/zip")
    response["Content-Disposition"] = f'attachment; filename="{share.package.slug}-v{version.number}.zip"'
    return response


@require_http_methods(["GET", "HEAD"])
@serves_version
@limited
def share_urls(request: HttpRequest, share: Share, version: PackageVersion) -> HttpResponseBase:
    if request.method == "GET":
        services.share_record(share=share, kind=ShareEvent.Kind.URLS, ip_address=client_ip(request))
    return _sized(request, exports.urls_txt(version, links(request, share)), "text/plain; charset=utf-8")


def _direct_list(request: HttpRequest, share: Share, version: PackageVersion, kind: str) -> HttpResponseBase:
    """direct.txt / direct.tsv: freshly signed storage URLs for clients that cannot come back."""
    try:
        expires_in = direct.parse_expires_in(request.GET.get("expires_in"))
        signers = direct.signers_for(version, expires_in, grant=services.share_grant(share), not_after=share.expires_at)
    except direct.DirectListError as error:
        return no_store(text(error.message + "\n", status=400))
    except StorageError as error:
        return storage_failure(error)
    base = site_base(request)

    def absolute(url: str) -> str:
        return base + url

    if kind == "tsv":
        body = direct.direct_tsv(version, signers=signers, absolute=absolute)
        content_type = "text/tab-separated-values; charset=utf-8"
    else:
        body = direct.direct_txt(version, signers=signers, absolute=absolute)
        content_type = "text/plain; charset=utf-8"
    if request.method == "HEAD":
        return no_store(HttpResponse(content_type=content_type))
    access_log.share_access_record(share_id=share.pk, kind=ShareEvent.Kind.DIRECT)
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="direct.{kind}"'
    return no_store(response)


@require_http_methods(["GET", "HEAD"])
@serves_version
@limited
def share_direct_txt(request: HttpRequest, share: Share, version: PackageVersion) -> HttpResponseBase:
    return _direct_list(request, share, version, "txt")


@require_http_methods(["GET", "HEAD"])
@serves_version
@limited
def share_direct_tsv(request: HttpRequest, share: Share, version: PackageVersion) -> HttpResponseBase:
    return _direct_list(request, share, version, "tsv")


@require_http_methods(["GET", "HEAD"])
@serves_version
@limited
def share_manifest(request: HttpRequest, share: Share, version: PackageVersion) -> HttpResponseBase:
    if request.method == "GET":
        services.share_record(share=share, kind=ShareEvent.Kind.MANIFEST, ip_address=client_ip(request))
    export = exports.manifest_jsonl(version, links(request, share))
    return _sized(request, export, "application/jsonl; charset=utf-8")


@require_http_methods(["GET", "HEAD"])
@serves_version
@limited
def share_datapackage(request: HttpRequest, share: Share, version: PackageVersion) -> HttpResponseBase:
    if request.method == "GET":
        services.share_record(share=share, kind=ShareEvent.Kind.DATAPACKAGE, ip_address=client_ip(request))
    return _sized(request, exports.datapackage_json(version, links(request, share)), "application/json")
