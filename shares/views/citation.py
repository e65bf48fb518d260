"""The share's citation files: CITATION.cff, datacite.xml, ro-crate-metadata.json, citation.bib, citation.ris."""

from __future__ import annotations

import hashlib

from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.views.decorators.http import require_http_methods

from packager import exports
from packager.exports import bibliography, cff, datacite
from packager.models import PackageVersion
from shares.models import Share
from shares.views.access import links, no_store, serves_version
from web.ranges import bytes_response

CONTENT_TYPES = {
    cff.NAME: "application/x-yaml; charset=utf-8",
    datacite.NAME: "application/xml; charset=utf-8",
    bibliography.BIBTEX_NAME: "application/x-bibtex; charset=utf-8",
    bibliography.RIS_NAME: "application/x-research-info-systems; charset=utf-8",
}


@require_http_methods(["GET", "HEAD"])
@serves_version
def share_citation_file(request: HttpRequest, share: Share, version: PackageVersion, name: str) -> HttpResponseBase:
    data = exports.citation_files(version, share.package, links(request, share))[name]
    # Served like a file: length, validators (the sha256 of these very bytes), ranges.
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    response = bytes_response(
        request, data, content_type=CONTENT_TYPES[name], etag=etag, last_modified=version.published_at
    )
    response["Content-Disposition"] = f'inline; filename="{name}"'
    return no_store(response)


@require_http_methods(["GET", "HEAD"])
@serves_version
def share_ro_crate(request: HttpRequest, share: Share, version: PackageVersion) -> HttpResponseBase:
    crate = exports.ro_crate_json(version, share.package, links(request, share))
    response: HttpResponseBase
    if request.method == "HEAD":
        response = HttpResponse(content_type="application/ld+json")
    else:
        response = StreamingHttpResponse(iter(crate), content_type="application/ld+json")
    response["Content-Length"] = str(crate.size)
    return no_store(response)
