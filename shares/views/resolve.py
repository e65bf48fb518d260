"""Resolve: one file of a share to a freshly signed storage URL (by path, by hash, as a DVC remote)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.utils.crypto import constant_time_compare
from django.utils.html import escape
from django.views.decorators.http import require_http_methods

from packager.models import PackageVersion, VersionEntry
from packager.paths import reserved_in, reserved_message
from shares import access_log, resolver, services
from shares.models import Share, ShareEvent
from shares.views.access import (
    KeyLink,
    challenge,
    get_share,
    gone,
    is_unlocked,
    no_store,
    not_published,
    serves_version,
    storage_failure,
    text,
)
from sources.backends.errors import StorageError
from web.http import public_url
from web.paths import name_of
from web.ranges import bytes_response, range_is_unsatisfiable


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
    if not found.is_open:
        return gone(request, get_share(token))
    request.share_cors = not found.has_password or _keyed(request, found)  # type: ignore[attr-defined]
    if found.has_password:
        share = found.share()
        try:
            if not is_unlocked(request, share):
                return challenge()
        except services.TooManyAttempts as error:
            return text(error.message + "\n", status=error.status)
    if found.version_id is None:
        return not_published(get_share(token))
    return resolved_response(request, found, what=what)


def resolve_open_share(
    request: HttpRequest, token: str, *, match: str, value: str, what: str
) -> HttpResponseBase | None:
    """resolve_entry for an active share without a password or reached by its key link;
    None for anything else (an unknown token, a password, a revoked or expired link,
    nothing published), which the full view answers."""
    looked_up = getattr(request, "resolve_lookup", None)  # with a key link's check, by the fast lane
    if looked_up is not None and looked_up[0] == (token, match, value):
        found = looked_up[1]
    else:
        found = resolver.lookup(token, match=match, value=value)
    if (
        found is None
        or not found.is_open
        or found.version_id is None
        or (found.has_password and not _keyed(request, found))
    ):
        request.resolve_lookup = ((token, match, value), found)  # type: ignore[attr-defined]
        return None
    request.share_cors = True  # type: ignore[attr-defined]
    return resolved_response(request, found, what=what)


def _keyed(request: HttpRequest, found: resolver.Found) -> bool:
    """Whether the request came through the key link of the share found (the middleware
    checked the key; the same comparison here, against the state of this very lookup)."""
    used: KeyLink | None = getattr(request, "share_key_link", None)
    return used is not None and used.token == found.token and constant_time_compare(used.key, found.link_key)


def resolved_response(request: HttpRequest, found: resolver.Found, *, what: str) -> HttpResponseBase:
    """The answer for an entry of the published version of a share the client may download from."""
    entry = found.entry
    if entry is None:
        return no_store(text(f"No file {what} in version {found.version_number} of this package.\n", status=404))
    if entry["drift"]:
        change = "is gone from" if entry["drift"] == VersionEntry.Drift.MISSING else "has changed in"
        if "text/html" in request.headers.get("Accept", ""):
            # A person clicked a link: a page of this site that says what happened, never
            # the storage service's own error document.
            context = {"path": entry["path"], "change": change, "number": found.version_number}
            return no_store(render(request, "shares/file_drifted.html", context, status=409))
        return no_store(
            text(
                f"“{entry['path']}” {change} storage since version {found.version_number} was published, so "
                "packager will not send you to other bytes. Ask the package's owner to publish a new version.\n",
                status=409,
            )
        )
    if reserved_in(entry["path"]):
        return no_store(text(reserved_message(entry["path"]) + " It is not served.\n", status=409))
    requested_range = request.META.get("HTTP_RANGE", "")  # not request.headers, which copies them all
    if requested_range and range_is_unsatisfiable(requested_range, entry["size"]):
        # Said here, not left to the store: some stores answer 206 to a range starting at
        # the end, and wget -c would then fetch a complete file forever.
        refused = text(f"The range starts past the end of “{entry['path']}” ({entry['size']:,} bytes).\n", status=416)
        refused["Content-Range"] = f"bytes */{entry['size']}"
        return no_store(refused)
    if found.source is None:
        # Text files are kept by packager itself: small, served as they are.
        if request.method == "GET":
            access_log.share_access_record(share_id=found.share_id, kind=ShareEvent.Kind.TEXT, path=entry["path"])
        with default_storage.open(entry["text_name"], "rb") as handle:
            body = handle.read()
        return no_store(
            bytes_response(
                request,
                body,
                content_type="text/plain; charset=utf-8",
                etag=f'"{entry["sha256"]}"',
                last_modified=found.published_at,
            )
        )
    method = "HEAD" if request.method == "HEAD" else "GET"
    try:
        backend = resolver.backend_for_row(found.source)
        # Like direct.txt: no storage link outlives the share that handed it out.
        expires_in = resolver.presign_ttl(found.source, not_after=found.expires_at)
        # Revoking the share stops the links that packager serves itself.
        grant = services.share_grant(found.share()) if backend.serves_own_links else ""
        url = backend.sign_url(
            entry["key"],
            method=method,
            expires_in=expires_in,
            version_id=entry["version_id"],
            filename=name_of(entry["path"]),
            grant=grant,
        )
    except StorageError as error:
        return storage_failure(error)
    if method == "GET":
        access_log.share_access_record(share_id=found.share_id, kind=ShareEvent.Kind.RESOLVE, path=entry["path"])
    response = HttpResponse(status=307)
    # Storage URLs are absolute; a local folder's signed link is packager's own path.
    response["Location"] = public_url(request, url) if url.startswith("/") else url
    return no_store(response)


@require_http_methods(["GET", "HEAD"])
def share_resolve(request: HttpRequest, token: str, path: str) -> HttpResponseBase:
    """307 to a freshly signed storage URL; the bytes never pass through packager. A path
    ending with "/" is a folder: its index."""
    if path.endswith("/"):
        return share_folder_index(request, token, path)
    return resolve_entry(request, token, match="path", value=path, what=f"“{path}”")


@require_http_methods(["GET", "HEAD"])
@serves_version
def share_folder_index(
    request: HttpRequest, share: Share, version: PackageVersion, folder: str = ""
) -> HttpResponseBase:
    """r/ and r/<folder>/: an HTML index with one relative link per child (folders end with
    "/"), so tools that walk a web server's folders (rclone's http backend, `wget -r`,
    fsspec's `ls`) can walk the share. Every child at once, streamed: three queries
    whatever the size (the folder, its folders, its files), off the version's folder rows."""
    # `folder` as the version's folder rows name it: "" for the top, else "a/b/".
    if folder and not version.folders.filter(path=folder).exists():
        return no_store(text(f"No folder “{folder}” in version {version.number} of this package.\n", status=404))
    response: HttpResponseBase
    if request.method == "HEAD":
        response = HttpResponse(content_type="text/html; charset=utf-8")
    else:
        response = StreamingHttpResponse(_index_lines(version, folder), content_type="text/html; charset=utf-8")
    return no_store(response)


def _index_lines(version: PackageVersion, folder: str) -> Iterator[bytes]:
    title = escape(f"/{folder}")
    yield f'<!doctype html>\n<html><head><meta charset="utf-8"><title>Index of {title}</title></head>\n'.encode()
    yield f"<body><h1>Index of {title}</h1>\n<ul>\n".encode()
    folders = version.folders.filter(parent=folder).order_by("path").values_list("path", flat=True)
    for path in folders.iterator(chunk_size=2000):
        name = name_of(path)
        yield f'<li><a href="{quote(name, safe="")}/">{escape(name)}/</a></li>\n'.encode()
    files = version.entries.filter(parent=folder).order_by("path").values_list("path", "size")
    for path, size in files.iterator(chunk_size=2000):
        name = name_of(path)
        yield f'<li><a href="{quote(name, safe="")}">{escape(name)}</a> {size}</li>\n'.encode()
    yield b"</ul>\n</body></html>\n"


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
