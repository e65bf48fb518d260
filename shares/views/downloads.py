"""The share's whole-version downloads: ZIP, urls.txt, direct.txt/tsv, manifest.jsonl, datapackage.json."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.views.decorators.http import require_http_methods

from packager import exports
from packager.exports import direct
from shares import access_log, services
from shares.models import ShareEvent
from shares.views.access import download_version, links, no_store, text
from sources.backends.errors import StorageError
from web.http import client_ip


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
def share_download_zip(request: HttpRequest, token: str) -> HttpResponseBase:
    access = download_version(request, token)
    if isinstance(access, HttpResponse):
        return access
    share, version = access
    archive = exports.download_zip(version, share.package, links(request, share))
    if request.method == "GET":
        services.share_record(share=share, kind=ShareEvent.Kind.ZIP, ip_address=client_ip(request))
    response = _sized(request, archive, "application/zip")
    response["Content-Disposition"] = f'attachment; filename="{share.package.slug}-v{version.number}.zip"'
    return response


@require_http_methods(["GET", "HEAD"])
def share_urls(request: HttpRequest, token: str) -> HttpResponseBase:
    access = download_version(request, token)
    if isinstance(access, HttpResponse):
        return access
    share, version = access
    if request.method == "GET":
        services.share_record(share=share, kind=ShareEvent.Kind.URLS, ip_address=client_ip(request))
    return _sized(request, exports.urls_txt(version, links(request, share)), "text/plain; charset=utf-8")


def _direct_list(request: HttpRequest, token: str, kind: str) -> HttpResponseBase:
    """direct.txt / direct.tsv: freshly signed storage URLs for clients that cannot come back."""
    access = download_version(request, token)
    if isinstance(access, HttpResponse):
        return access
    share, version = access
    try:
        expires_in = direct.parse_expires_in(request.GET.get("expires_in"))
        signers = direct.signers_for(version, expires_in, grant=services.share_grant(share))
    except direct.DirectListError as error:
        return no_store(text(error.message + "\n", status=400))
    except StorageError as error:
        return no_store(text(error.message + "\n", status=409 if error.reason == "config" else 502))
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
        return no_store(HttpResponse(content_type=content_type))
    access_log.share_access_record(share_id=share.pk, kind=ShareEvent.Kind.DIRECT)
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="direct.{kind}"'
    return no_store(response)


@require_http_methods(["GET", "HEAD"])
def share_direct_txt(request: HttpRequest, token: str) -> HttpResponseBase:
    return _direct_list(request, token, "txt")


@require_http_methods(["GET", "HEAD"])
def share_direct_tsv(request: HttpRequest, token: str) -> HttpResponseBase:
    return _direct_list(request, token, "tsv")


@require_http_methods(["GET", "HEAD"])
def share_manifest(request: HttpRequest, token: str) -> HttpResponseBase:
    access = download_version(request, token)
    if isinstance(access, HttpResponse):
        return access
    share, version = access
    if request.method == "GET":
        services.share_record(share=share, kind=ShareEvent.Kind.MANIFEST, ip_address=client_ip(request))
    export = exports.manifest_jsonl(version, links(request, share))
    return _sized(request, export, "application/jsonl; charset=utf-8")


@require_http_methods(["GET", "HEAD"])
def share_datapackage(request: HttpRequest, token: str) -> HttpResponseBase:
    access = download_version(request, token)
    if isinstance(access, HttpResponse):
        return access
    share, version = access
    return _sized(request, exports.datapackage_json(version, links(request, share)), "application/json")
