"""The share's git-annex and DVC repositories, served for git's dumb HTTP protocol."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.views.decorators.http import require_http_methods

from packager.exports import gitrepo
from packager.models import PackageVersion
from shares import services
from shares.models import Share, ShareEvent, ShareRepository
from shares.views.access import came_by_key_link, no_store, serves_version, site_base, text
from web.http import client_ip


@require_http_methods(["GET", "HEAD"])
@serves_version
def share_repository_file(
    request: HttpRequest, share: Share, version: PackageVersion, kind: str, name: str
) -> HttpResponseBase:
    """A file of the share's git-annex or DVC repository, for git's dumb HTTP protocol."""
    if not gitrepo.is_served_file(name):
        return text("Not in this repository.\n", status=404)
    # Through the key link, the repository whose URLs are key links too (git-annex and DVC
    # need absolute URLs, so each link gets its own build).
    keyed = came_by_key_link(request, share)
    repository = services.share_repository_request(
        share=share, version=version, kind=kind, base_url=site_base(request), key_link=keyed
    )
    if not repository.is_ready:
        response = text(
            f"The {repository.get_kind_display()} repository of this share is being prepared. Try again in a minute.\n",
            status=503,
        )
        response["Retry-After"] = "30"
        return no_store(response)
    if name == "info/refs" and request.method == "GET":
        # Every clone and fetch starts here, once: the rest of its requests are not counted.
        clone = ShareEvent.Kind.ANNEX_CLONE if kind == ShareRepository.Kind.ANNEX else ShareEvent.Kind.DVC_CLONE
        services.share_record(share=share, kind=clone, ip_address=client_ip(request))
    handle = default_storage.open(f"{repository.storage_prefix}/{name}", "rb")
    content_type = "application/octet-stream" if name.startswith("objects/pack/") else "text/plain; charset=utf-8"
    return no_store(FileResponse(handle, content_type=content_type))
