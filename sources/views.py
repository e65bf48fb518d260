from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.http import http_date
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from sources import clients, services
from sources.backends.errors import ObjectNotFound, StorageError
from sources.browse import BrowsePage, browse_page, folder_rows
from sources.forms import SearchForm, SourceForm
from sources.models import Source, SourceObject
from sources.previews import object_preview
from sources.search import InvalidSearch, search_page
from teams import policy
from web.http import AuthenticatedRequest, allow_image_origin, breadcrumbs, path_url_prefix, public_url
from web.paths import folder_of, name_of
from web.ranges import single_range

PAGE_SIZE = 200


def _get_source(
    request: AuthenticatedRequest, public_id: uuid.UUID, allowed: Callable[[Any, Any], bool] = policy.can_view_source
) -> Source:
    """A source the user can see (else 404), if their role allows `allowed` (else 403)."""
    return policy.get_for(Source.objects.all(), request.user, allowed, public_id=public_id)


@login_required
@require_safe
def source_list(request: AuthenticatedRequest) -> HttpResponse:
    sources = Source.objects.filter(policy.visible(request.user)).select_related("team")
    return render(request, "sources/list.html", {"sources": sources})


def _apply_form(request: AuthenticatedRequest, form: SourceForm, source: Source | None) -> Source | None:
    """Test or save from a valid form; errors go onto the form. The source when saved."""
    testing = request.POST.get("action") == "test"
    form.failed_part = ""
    try:
        if source is None:
            result = services.source_create(
                owner=request.user,
                kind=form.cleaned_data["kind"],
                fields=form.source_fields(),
                credentials=form.credentials(),
                save=not testing,
                team=form.cleaned_data.get("team"),  # offered only where policy.can_manage_team
            )
        else:
            result = services.source_update(
                source=source,
                fields=form.source_fields(),
                credentials=form.credentials(),
                user=request.user,
                save=not testing,
            )
    except ValidationError as error:
        form.add_error(None, error)
        return None
    except StorageError as error:
        form.failed_part = error.part
        form.add_error(None, f"Connection test failed: {error.message}")
        return None
    if testing:
        form.test_passed = True
        if not request.htmx:  # type: ignore[attr-defined]
            messages.success(request, "Connection test passed: packager can list this location.")
        return None
    return result


def _form_page(request: AuthenticatedRequest, form: SourceForm, source: Source | None) -> HttpResponse:
    """The source form, or (for the "Test connection" button, sent by htmx) only the test's outcome.

    Through htmx the page is not re-rendered at all, so every typed value stays in the
    browser's fields. Without script the bound form renders back the secrets typed in this
    very request (SourceForm does that), never a stored one.
    """
    if request.htmx and request.POST.get("action") == "test":  # type: ignore[attr-defined]
        response = render(request, "sources/_connection_result.html", {"form": form})
    else:
        response = render(request, "sources/form.html", {"form": form, "source": source})
    add_never_cache_headers(response)
    return response


@sensitive_post_parameters(*services.CREDENTIAL_NAMES)
@login_required
@require_http_methods(["GET", "POST"])
def source_add(request: AuthenticatedRequest) -> HttpResponse:
    allow_local = services.can_add_local_sources(request.user)
    form = SourceForm(request.POST or None, allow_local=allow_local, user=request.user)
    if request.method == "POST" and form.is_valid():
        source = _apply_form(request, form, None)
        if source is not None:
            messages.success(request, f"Source “{source.name}” added. Its listing is being indexed.")
            return redirect("source_browse", public_id=source.public_id)
    return _form_page(request, form, None)


@sensitive_post_parameters(*services.CREDENTIAL_NAMES)
@login_required
@require_http_methods(["GET", "POST"])
def source_edit(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    source = _get_source(request, public_id, policy.can_edit_source)
    form = SourceForm(request.POST or None, allow_local=True, source=source)
    if request.method == "POST" and form.is_valid():
        saved = _apply_form(request, form, source)
        if saved is not None:
            messages.success(request, f"Source “{saved.name}” saved.")
            return redirect("source_browse", public_id=saved.public_id)
        source.refresh_from_db()
    return _form_page(request, form, source)


@login_required
@require_http_methods(["GET", "POST"])
def source_delete(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    source = _get_source(request, public_id, policy.can_edit_source)
    if request.method == "POST":
        try:
            services.source_delete(source=source, actor=request.user)
        except services.SourceInUse as error:
            messages.error(request, str(error))
            return redirect("source_browse", public_id=source.public_id)
        messages.success(request, f"Source “{source.name}” deleted. The bucket itself was not touched.")
        return redirect("source_list")
    return render(request, "sources/delete.html", {"source": source})


@login_required
@require_POST
def source_test(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    source = _get_source(request, public_id, policy.can_edit_source)
    try:
        services.source_check(source=source)
    except StorageError as error:
        messages.error(request, f"Connection test failed: {error.message}")
    else:
        messages.success(request, "Connection test passed.")
    return redirect("source_browse", public_id=source.public_id)


@login_required
@require_POST
def source_reindex(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    source = _get_source(request, public_id, policy.can_edit_source)
    services.source_index_request(source=source)
    messages.success(request, "Refreshing the listing. New objects appear when it finishes.")
    return redirect("source_browse", public_id=source.public_id)


@login_required
@require_POST
def source_index_cancel(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    source = _get_source(request, public_id, policy.can_edit_source)
    try:
        services.source_index_cancel(source=source)
    except services.NothingToCancel as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Indexing cancelled. What was listed so far stays in the index.")
    return redirect("source_browse", public_id=source.public_id)


@login_required
@require_safe
def source_index_progress(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    """The index progress box; the browse page polls it while an index runs."""
    source = _get_source(request, public_id)
    return render(request, "sources/_index_progress.html", {"source": source})


@login_required
@require_safe
def source_browse(request: AuthenticatedRequest, public_id: uuid.UUID, folder: str = "") -> HttpResponse:
    source = _get_source(request, public_id)
    folder = folder.lstrip("/")
    if folder and not folder.endswith("/"):
        folder += "/"
    name_filter = request.GET.get("q", "").strip()
    cursor = request.GET.get("cursor", "")
    listing_error = ""
    try:
        page = browse_page(source, folder, cursor=cursor, name_contains=name_filter, limit=PAGE_SIZE)
    except StorageError as error:
        page, listing_error = BrowsePage(origin="live", rows=[], next_cursor=""), error.message
    if folder and not page.rows and not cursor and not name_filter and not listing_error:
        live = page.origin == "live"
        if live or not SourceObject.objects.filter(source=source, path=folder, vanished_at__isnull=True).exists():
            raise Http404("No such folder")
    context = {
        "source": source,
        "folder": folder,
        "crumbs": breadcrumbs(folder),
        "rows": page.rows,
        # Each row links to its path: one reverse per route, not one per row.
        "folder_rows": folder_rows(
            page.rows,
            folder,
            browse_url=path_url_prefix("source_browse", source.public_id),
            object_url=path_url_prefix("source_object", source.public_id),
        ),
        "origin": page.origin,
        "next_cursor": page.next_cursor,
        "cursor": cursor,
        "q": name_filter,
        "listing_error": listing_error,
    }
    if getattr(request, "htmx", False):
        return render(request, "sources/_rows.html", context)
    return render(request, "sources/browse.html", context)


@login_required
@require_safe
def source_search(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    """Search the index: name, glob, size, date; results a page at a time, and "add all"."""
    source = _get_source(request, public_id)
    form = SearchForm(request.GET or None)
    context: dict[str, object] = {"source": source, "form": form, "rows": [], "searched": False}
    if form.is_bound and form.is_valid() and source.is_indexed and not form.search().is_empty():
        search = form.search()
        cursor = request.GET.get("cursor", "")
        try:
            page = search_page(source, search, cursor=cursor, limit=PAGE_SIZE)
        except InvalidSearch as error:
            form.add_error(error.field or None, str(error))  # None: shown above the form
        else:
            query = request.GET.copy()
            query.pop("cursor", None)
            context.update(
                searched=True,
                rows=page.rows,
                total=page.total,
                exact=page.exact,
                next_cursor=page.next_cursor,
                cursor=cursor,
                query=query.urlencode(),
                search_fields=[(name, value) for name, value in query.items() if value],
            )
    if getattr(request, "htmx", False) and context["searched"]:
        return render(request, "sources/_search_rows.html", context)
    return render(request, "sources/search.html", context)


@login_required
@require_safe
def source_object(request: AuthenticatedRequest, public_id: uuid.UUID, path: str) -> HttpResponse:
    source = _get_source(request, public_id, policy.can_use_source)
    error = ""
    info = preview = None
    status = 200
    try:
        info = clients.backend_for(source).stat(source.key_for(path))
    except ObjectNotFound:
        error = "This object no longer exists in the bucket. Refresh the listing to drop it."
        status = 404
    except StorageError as storage_error:
        error = storage_error.message
        status = 502
    if info is not None:
        preview = object_preview(
            source=source,
            key=info.key,
            size=info.size,
            etag=info.etag,
            version_id=info.version_id,
            content_type=info.content_type,
        )
    context = {
        "source": source,
        "path": path,
        "info": info,
        "error": error,
        "preview": preview,
        "crumbs": breadcrumbs(folder_of(path)),
        "name": name_of(path),
    }
    response = render(request, "sources/object.html", context, status=status)
    if preview is not None and preview.image_url:
        allow_image_origin(response, preview.image_url)
    return response


@login_required
@require_POST
def source_object_link(request: AuthenticatedRequest, public_id: uuid.UUID, path: str) -> JsonResponse:
    """A presigned link for the owner to copy; made on POST so a page load never mints one."""
    source = _get_source(request, public_id, policy.can_use_source)
    try:
        url = services.source_sign_url(source=source, key=source.key_for(path))
    except StorageError as error:
        return JsonResponse({"detail": error.message}, status=409)
    absolute = public_url(request, url) if url.startswith("/") else url
    return JsonResponse({"url": absolute, "expires_in": source.presign_ttl})


def _file_chunks(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(256 * 1024, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


@require_http_methods(["GET", "HEAD"])
def local_file(request: HttpRequest, token: str) -> HttpResponseBase:
    """Serve a file of a local-folder source from a signed, expiring link, with Range."""
    try:
        served = services.source_served_file(token=token)
    except services.LinkGone as error:
        return HttpResponse(error.message + "\n", status=error.status, content_type="text/plain; charset=utf-8")
    except ObjectNotFound:
        raise Http404("File not found") from None
    except StorageError as error:  # e.g. the folder is no longer under LOCAL_SOURCE_ROOTS
        return HttpResponse(error.message + "\n", status=403, content_type="text/plain; charset=utf-8")
    path = served.path
    stat = path.stat()
    size = stat.st_size
    etag = f'"{stat.st_mtime_ns:x}-{size:x}"'
    wanted = single_range(request.headers.get("Range", ""), size)
    if_range = request.headers.get("If-Range")
    if if_range and if_range != etag and if_range != http_date(stat.st_mtime):
        wanted = None  # the file changed since the client's partial copy: start over
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": http_date(stat.st_mtime),
        "Content-Disposition": served.content_disposition,
        "Cache-Control": "private, no-store",
    }
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if wanted == "unsatisfiable":
        return HttpResponse(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = wanted if isinstance(wanted, tuple) else (0, size - 1)
    length = max(end - start + 1, 0)
    status = 206 if isinstance(wanted, tuple) else 200
    if isinstance(wanted, tuple):
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if request.method == "HEAD":
        response: HttpResponseBase = HttpResponse(status=status, content_type=content_type, headers=headers)
    else:
        response = StreamingHttpResponse(
            _file_chunks(path, start, length), status=status, content_type=content_type, headers=headers
        )
    response["Content-Length"] = str(length)
    return response
