from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from packager import catalog, citation, doi, drift, publications, services, versions
from packager.forms import (
    AddObjectsForm,
    AddSearchForm,
    ApiTokenForm,
    CatalogForm,
    MetadataForm,
    MoveForm,
    PackageForm,
    PublicationForm,
    PublishForm,
    TextEntryForm,
    UploadForm,
)
from packager.metadata import MetadataInvalid
from packager.models import AddMatchesJob, ApiToken, Package, PackageEntry, PackageVersion
from packager.paths import InvalidPath, normalize_folder
from packager.render import markdown_to_html_cached, render_text_cached
from packager.tree import list_package_folder
from sources import clients
from sources.backends.errors import StorageError
from sources.models import Source
from teams import policy
from web.cursors import InvalidCursor
from web.http import AuthenticatedRequest, allow_storage_images, path_url_prefix
from web.links import rewrite_relative
from web.paths import folder_of


def _get_package(
    request: AuthenticatedRequest, public_id: uuid.UUID, allowed: Callable[[Any, Any], bool] = policy.can_view_package
) -> Package:
    """A package the user can see (else 404), if their role allows `allowed` (else 403)."""
    return policy.get_for(Package.objects.all(), request.user, allowed, public_id=public_id)


def _reading_or(request: AuthenticatedRequest, allowed: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """What a page that shows on GET and changes on POST needs."""
    return allowed if request.method == "POST" else policy.can_view_package


def _get_entry(package: Package, path: str) -> PackageEntry:
    return get_object_or_404(PackageEntry, package=package, path=path)


def _package_url(package: Package, folder: str = "") -> str:
    url = reverse("package_detail", kwargs={"public_id": package.public_id})
    return f"{url}?path={folder}" if folder else url


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return redirect("packages" if request.user.is_authenticated else "login")


CATALOG_PAGE = 50


@login_required
@require_http_methods(["GET", "POST"])
def package_list(request: AuthenticatedRequest) -> HttpResponse:
    """The catalog (search, team, sort, pages) and a form for a new package (yours or a team's)."""
    user_teams = list(policy.visible_teams(request.user))
    form = PackageForm(
        request.POST or None, teams=[t for t in user_teams if policy.can_create_in_team(request.user, t)]
    )
    if request.method == "POST" and form.is_valid():
        try:
            package = services.package_create(owner=request.user, **form.cleaned_data)
        except services.PackageError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Package “{package.name}” created. Add files from a source, or write a README.")
            return redirect(_package_url(package))
    search = CatalogForm(request.GET, teams=user_teams)
    if not search.is_valid():
        raise Http404("Not a valid search")
    rows = catalog.catalog_rows(request.user, q=search.cleaned_data["q"], team=search.cleaned_data["team"])
    try:
        page = catalog.catalog_page(
            rows, sort=search.cleaned_data["sort"] or "name", cursor=request.GET.get("cursor", ""), limit=CATALOG_PAGE
        )
    except InvalidCursor as error:
        raise Http404(error.message) from None
    query = request.GET.copy()
    query.pop("cursor", None)
    context = {
        "packages": page.packages,
        "next_cursor": page.next_cursor,
        "query": query.urlencode(),
        "search": search,
        "form": form,
        "searching": any(search.cleaned_data.values()),
    }
    return render(request, "packager/list.html", context)


@login_required
@require_safe
def package_detail(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    package = _get_package(request, public_id)
    try:
        folder = normalize_folder(request.GET.get("path", ""))
    except InvalidPath:
        raise Http404("No such folder") from None
    try:
        listing = list_package_folder(package, folder, cursor=request.GET.get("cursor", ""))
    except InvalidCursor as error:
        raise Http404(error.message) from None
    if not listing.exists:
        raise Http404("No such folder")
    readme = listing.readme
    readme_html = markdown_to_html_cached(sha256=readme.sha256, read=readme.read_text) if readme else ""
    if readme:
        readme_html = _draft_links(package, readme.path, readme_html)
    response = render(
        request,
        "packager/detail.html",
        {
            "package": package,
            "listing": listing,
            # Each row links to its path: one reverse per route, not one per row.
            "urls": {
                name: path_url_prefix(f"entry_{name}", package.public_id) for name in ("view", "edit", "move", "remove")
            },
            "readme_html": readme_html,
            "upload_form": UploadForm(initial={"folder": folder}),
            "edit_form": PackageForm(initial={"name": package.name, "description": package.description}),
            "versions": package.versions.order_by("-number")[:5],
            "publish_form": PublishForm(),
            **_recent_add_jobs(package),
        },
    )
    return allow_storage_images(response, readme_html, package.entry_sources())


@login_required
@require_POST
def package_edit(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    package = _get_package(request, public_id, policy.can_edit_package)
    form = PackageForm(request.POST)
    if form.is_valid():
        try:
            services.package_update(package=package, actor=request.user, **form.cleaned_data)
        except services.PackageError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Package saved.")
    else:
        messages.error(request, "Give the package a name.")
    return redirect(_package_url(package))


@login_required
@require_http_methods(["GET", "POST"])
def package_metadata(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    """The citation metadata of the draft; the next version published keeps it."""
    package = _get_package(request, public_id, _reading_or(request, policy.can_edit_package))
    form = MetadataForm(request.POST or None, initial=MetadataForm.initial_from(package.metadata))
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            citation.package_metadata_set(package=package, metadata=form.metadata(), actor=request.user)
        except MetadataInvalid as error:
            field = error.field.split(".")[0]
            form.add_error(field if field in form.fields else None, f"{error.field}: {error.message}")
        else:
            messages.success(request, "Metadata saved: the next version you publish carries it.")
            return redirect("package_metadata", public_id=package.public_id)
    if request.method == "POST":
        status = 422
    return render(request, "packager/metadata.html", {"package": package, "form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def package_delete(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    package = _get_package(request, public_id, policy.can_delete_package)
    if request.method == "POST":
        services.package_delete(package=package, actor=request.user)
        messages.success(request, f"Package “{package.name}” deleted. Its share links no longer work.")
        return redirect("packages")
    return render(request, "packager/delete.html", {"package": package})


def _add_to_package(
    request: AuthenticatedRequest,
    form: AddObjectsForm | AddSearchForm,
    invalid: str,
    add: Callable[[Package, Source], int | AddMatchesJob],
) -> HttpResponse:
    """The "add to package" actions: a chosen or new package, then add(package, source) files."""
    back = request.META.get("HTTP_REFERER") or reverse("source_list")
    if not form.is_valid():
        for error in form.non_field_errors() or [invalid]:
            messages.error(request, str(error))
        return redirect(back)
    source = policy.get_for(
        Source.objects.all(), request.user, policy.can_use_source, public_id=form.cleaned_data["source"]
    )
    package_id = form.cleaned_data.get("package")
    try:
        with transaction.atomic():  # a new package is not kept when adding fails
            if package_id:
                package = _get_package(request, package_id, policy.can_edit_package)
            else:
                package = services.package_create(owner=request.user, name=form.cleaned_data["new_package_name"])
            added = add(package, source)
    except services.PackageError as error:
        messages.error(request, error.message)
        return redirect(back)
    if isinstance(added, AddMatchesJob):
        messages.success(request, f"Adding {added.total:,} files to “{package.name}”: see the progress below.")
    else:
        messages.success(request, f"Added {added:,} file{'s' if added != 1 else ''} to “{package.name}”.")
    return redirect(_package_url(package))


@login_required
@require_POST
def package_add_objects(request: AuthenticatedRequest) -> HttpResponse:
    """The "add to package" action of the source browser."""
    form = AddObjectsForm(request.POST)

    def add(package: Package, source: Source) -> int:
        target = form.cleaned_data.get("target") or ""
        added = services.package_add_objects(
            package=package, source=source, paths=form.paths, target=target, actor=request.user
        )
        if added.refused:
            shown = "; ".join(reason for _, reason in added.refused[:5])
            more = f" (and {len(added.refused) - 5:,} more)" if len(added.refused) > 5 else ""
            left_out = f"Left out {len(added.refused):,} file(s) that cannot be package paths: {shown}{more}"
            messages.warning(request, left_out)
        return len(added)

    return _add_to_package(request, form, "Choose a package and select files.", add)


@login_required
@require_POST
def package_add_search(request: AuthenticatedRequest) -> HttpResponse:
    """ "Add all matches to a package" on a source's search page."""
    form = AddSearchForm(request.POST)

    def add(package: Package, source: Source) -> int | AddMatchesJob:
        target = form.cleaned_data.get("target") or ""
        return services.package_add_search(
            package=package, source=source, search=form.search(), target=target, actor=request.user
        )

    return _add_to_package(request, form, "Check the search and choose a package.", add)


@login_required
@require_http_methods(["GET", "POST"])
def entry_write(request: AuthenticatedRequest, public_id: uuid.UUID, path: str = "") -> HttpResponse:
    """Write a new text file, or edit the text file at `path`."""
    package = _get_package(request, public_id, policy.can_edit_package)
    entry = _get_entry(package, path) if path else None
    if entry is not None and not entry.is_text:
        raise Http404("Only text files can be edited")
    initial = (
        {"path": entry.path, "content": entry.read_text()} if entry else {"path": request.GET.get("path", "README.md")}
    )
    form = TextEntryForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        new_path = form.cleaned_data["path"]
        try:
            with transaction.atomic():  # a rename whose write fails is undone
                if entry is not None and new_path.strip("/") != entry.path:
                    services.package_move(package=package, path=entry.path, new_path=new_path, actor=request.user)
                saved = services.package_write_text(
                    package=package, path=new_path, content=form.cleaned_data["content"], actor=request.user
                )
        except services.PackageError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Saved “{saved.path}”.")
            return redirect(_package_url(package, folder_of(saved.path)))
    return render(request, "packager/write.html", {"package": package, "form": form, "entry": entry})


@login_required
@require_POST
def entry_upload(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    package = _get_package(request, public_id, policy.can_edit_package)
    form = UploadForm(request.POST, request.FILES)
    folder = request.POST.get("folder", "")
    if not form.is_valid():
        messages.error(request, "Choose one or more text files to upload.")
        return redirect(_package_url(package))
    saved = []
    try:
        folder = normalize_folder(folder)
        for upload in form.cleaned_data["uploads"]:
            if upload.size > services.MAX_TEXT_SIZE:
                raise services.PackageError(f"“{upload.name}” is too large for a text file; put it in a bucket.")
            saved.append(
                services.package_write_text(
                    package=package, path=folder + upload.name, content=upload.read(), actor=request.user
                )
            )
    except (services.PackageError, InvalidPath) as error:
        messages.error(request, getattr(error, "message", str(error)))
    if saved:
        messages.success(request, f"Uploaded {', '.join(entry.path for entry in saved)}.")
    return redirect(_package_url(package, folder if saved else ""))


@login_required
@require_safe
def entry_view(request: AuthenticatedRequest, public_id: uuid.UUID, path: str) -> HttpResponse:
    package = _get_package(request, public_id)
    entry = _get_entry(package, path)
    kind, html = (
        render_text_cached(entry.path, sha256=entry.sha256, read=entry.read_text) if entry.is_text else ("pointer", "")
    )
    if entry.is_text:
        html = _draft_links(package, entry.path, html)
    response = render(request, "packager/entry.html", {"package": package, "entry": entry, "kind": kind, "html": html})
    return allow_storage_images(response, html, package.entry_sources())


def _draft_links(package: Package, document: str, html: str) -> str:
    """A draft document's relative links lead to the draft's entries, its images to their bytes."""
    return rewrite_relative(
        html,
        folder=folder_of(document),
        link_prefix=path_url_prefix("entry_view", package.public_id),
        image_prefix=path_url_prefix("entry_file", package.public_id),
    )


@login_required
@require_safe
def entry_file(request: AuthenticatedRequest, public_id: uuid.UUID, path: str) -> HttpResponseBase:
    """The bytes of a draft entry: a text file from packager, a data file by a short-lived
    signed URL (so a README's images show on the curator's page)."""
    package = _get_package(request, public_id)
    entry = _get_entry(package, path)
    if entry.is_text:
        response = HttpResponse(entry.text_file.open("rb").read(), content_type=_guess_type(entry.name))
        response["Content-Disposition"] = "inline"
        return response
    if entry.source is None:
        raise Http404("No such file")
    try:
        url = clients.backend_for(entry.source).sign_url(
            entry.key, expires_in=300, version_id=entry.version_id, filename=entry.name
        )
    except StorageError as error:
        return HttpResponse(error.message, status=error.status, content_type="text/plain; charset=utf-8")
    return HttpResponseRedirect(url)


def _guess_type(name: str) -> str:
    import mimetypes

    found = mimetypes.guess_type(name)[0] or "text/plain"
    # Text kept by packager is shown as text, never run as a page of this site.
    return "text/plain; charset=utf-8" if found in {"text/html", "image/svg+xml", "application/xhtml+xml"} else found


@login_required
@require_http_methods(["GET", "POST"])
def entry_move(request: AuthenticatedRequest, public_id: uuid.UUID, path: str) -> HttpResponse:
    package = _get_package(request, public_id, policy.can_edit_package)
    entries = services.entries_at(package, path)
    if not entries:
        raise Http404("Nothing at this path")
    form = MoveForm(request.POST or None, initial={"new_path": path.strip("/")})
    if request.method == "POST" and form.is_valid():
        try:
            moved = services.package_move(
                package=package, path=path, new_path=form.cleaned_data["new_path"], actor=request.user
            )
        except services.PackageError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Moved {len(moved)} entr{'y' if len(moved) == 1 else 'ies'}.")
            return redirect(_package_url(package))
    return render(
        request, "packager/move.html", {"package": package, "path": path, "form": form, "count": len(entries)}
    )


@login_required
@require_POST
def entry_remove(request: AuthenticatedRequest, public_id: uuid.UUID, path: str) -> HttpResponse:
    package = _get_package(request, public_id, policy.can_edit_package)
    try:
        removed = services.package_remove(package=package, path=path, actor=request.user)
    except services.PackageError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            f"Removed {removed} entr{'y' if removed == 1 else 'ies'} from the package. The bucket was not touched.",
        )
    return redirect(_package_url(package, folder_of(path.strip("/"))))


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: AuthenticatedRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    new_token = ""
    if request.method == "POST" and form.is_valid():
        _, new_token = services.api_token_create(user=request.user, name=form.cleaned_data["name"])
        messages.success(request, "Token created. Copy it now: it is not shown again.")
    tokens = ApiToken.objects.filter(user=request.user)
    return render(request, "packager/tokens.html", {"form": form, "tokens": tokens, "new_token": new_token})


@login_required
@require_POST
def api_token_delete(request: AuthenticatedRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    token.delete()
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("api_tokens")


# Versions ------------------------------------------------------------------------------


def _get_version(
    request: AuthenticatedRequest,
    public_id: uuid.UUID,
    number: int,
    allowed: Callable[[Any, Any], bool] = policy.can_view_package,
) -> PackageVersion:
    return policy.get_for(
        PackageVersion.objects.select_related("package__owner"),
        request.user,
        allowed,
        through="package",
        package__public_id=public_id,
        number=number,
    )


def _recent_add_jobs(package: Package) -> dict[str, object]:
    """The running "add all matches" jobs of a package, and those that ended in the last hour."""
    recent = Q(finished_at__isnull=True) | Q(finished_at__gt=timezone.now() - dt.timedelta(hours=1))
    jobs = list(package.add_jobs.filter(recent).order_by("-created_at")[:5])
    return {"add_jobs": jobs, "add_jobs_running": any(job.running for job in jobs)}


@login_required
@require_GET
def package_add_jobs(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    """The progress of a package's "add all matches" jobs; the package page polls it while one runs."""
    package = _get_package(request, public_id)
    return render(request, "packager/_add_jobs.html", {"package": package, **_recent_add_jobs(package)})


@login_required
@require_http_methods(["GET", "POST"])
def package_versions(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    """Publish a new version; the list of versions (a partial that refreshes while one is checksummed)."""
    package = _get_package(request, public_id, _reading_or(request, policy.can_edit_package))
    form = PublishForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = versions.package_publish(
                package=package, message=form.cleaned_data["message"], created_by=request.user
            )
        except versions.VersionError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Publishing version {version.number}: checksumming its files.")
        return redirect("package_versions", public_id=package.public_id)
    context = {
        "package": package,
        "versions": package.versions.order_by("-number")[:100],
        "form": form,
        "nothing_to_publish": package.versions.exists() and versions.draft_changes(package, page=0).is_empty,
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "packager/_versions.html", context)
    return render(request, "packager/versions.html", context)


@login_required
@require_safe
def package_changes(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    """Every unpublished change of the draft, a page at a time (cursor: the last path shown)."""
    package = _get_package(request, public_id)
    if request.htmx:  # type: ignore[attr-defined]
        # The package page loads this after itself: its own cost stays the same whatever
        # the package's size, and the verdict replaces the publish form when there is
        # nothing to publish.
        changes = versions.draft_changes(package, page=50)
        context = {"package": package, "changes": changes, "has_versions": package.latest_version_id is not None}
        return render(request, "packager/_unpublished.html", context)
    changes = versions.draft_changes(package, after=request.GET.get("after", ""), page=200)
    return render(request, "packager/changes.html", {"package": package, "changes": changes})


@login_required
@require_safe
def version_detail(request: AuthenticatedRequest, public_id: uuid.UUID, number: int) -> HttpResponse:
    version = _get_version(request, public_id, number)
    if request.htmx:  # type: ignore[attr-defined]
        part = "_drift_check" if request.GET.get("part") == "drift" else "_version_status"
        return render(request, f"packager/{part}.html", {"version": version, "package": version.package})
    previous = versions.previous_version(version)
    after = request.GET.get("after", "")
    diff = versions.version_diff(version, previous, limit=0, after=after) if version.is_published else None
    metadata_changes = (
        citation.metadata_changes(version.metadata, previous.metadata if previous else None)
        if version.is_published
        else []
    )
    landing = doi.landing_url(version, origin=request.build_absolute_uri("/")[:-1])
    cite = citation.citation_for(version, url=landing, package=version.package)
    return render(
        request,
        "packager/version.html",
        {
            "version": version,
            "package": version.package,
            "previous": previous,
            "diff": diff,
            "cite": cite,
            "metadata_changes": metadata_changes,
            "doi_enabled": doi.doi_enabled(),
            "landing": landing,
        },
    )


@login_required
@require_POST
def version_public(request: AuthenticatedRequest, public_id: uuid.UUID, number: int) -> HttpResponse:
    """Make the version public (listed in the catalog and OAI-PMH, landing page open) or private."""
    version = _get_version(request, public_id, number, policy.can_edit_package)
    public = request.POST.get("public") == "1"
    try:
        citation.version_public_set(version=version, public=public)
    except citation.CitationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            "The version is public: listed in the catalog and over OAI-PMH."
            if public
            else "The version is private: no longer listed, and reported deleted over OAI-PMH.",
        )
    return redirect("version_detail", public_id=public_id, number=number)


@login_required
@require_POST
def version_doi(request: AuthenticatedRequest, public_id: uuid.UUID, number: int) -> HttpResponse:
    """Make the version's DOI findable, or send its metadata to DataCite again."""
    version = _get_version(request, public_id, number, policy.can_edit_package)
    action = request.POST.get("action")
    try:
        if action == "findable":
            doi.version_doi_publish(version=version)
            messages.success(request, f"The DOI {version.doi} is findable: it resolves to the landing page.")
        elif action == "update":
            doi.version_doi_update(version=version)
            messages.success(request, f"DataCite has the current metadata of {version.doi}.")
        else:
            messages.error(request, "Choose what to do with the DOI.")
    except doi.DoiError as error:
        messages.error(request, error.message)
    return redirect("version_detail", public_id=public_id, number=number)


@login_required
@require_POST
def version_verify(request: AuthenticatedRequest, public_id: uuid.UUID, number: int) -> HttpResponse:
    version = _get_version(request, public_id, number, policy.can_edit_package)
    try:
        drift.version_verify_request(version=version, actor=request.user)
    except versions.VersionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Checking every object against the store; reload in a moment for the result.")
    return redirect("version_detail", public_id=public_id, number=number)


@login_required
@require_POST
def version_confirm(request: AuthenticatedRequest, public_id: uuid.UUID, number: int) -> HttpResponse:
    version = _get_version(request, public_id, number, policy.can_edit_package)
    try:
        versions.version_confirm_read(version=version)
    except versions.VersionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Confirmed: the objects are being read to checksum them.")
    return redirect("version_detail", public_id=public_id, number=number)


@login_required
@require_http_methods(["GET", "POST"])
def version_publications(request: AuthenticatedRequest, public_id: uuid.UUID, number: int) -> HttpResponse:
    """Write a published version to a bucket, and the records of where it was written."""
    version = _get_version(request, public_id, number, _reading_or(request, policy.can_edit_package))
    package = version.package
    form = PublicationForm(request.POST or None, owner=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            publications.publication_request(
                version=version,
                source=form.cleaned_data["destination"],
                key_template=form.cleaned_data["key_template"] or "",
                include_zip=form.cleaned_data["include_zip"],
                created_by=request.user,
            )
        except publications.PublicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Publishing to the bucket: the record below fills in as objects are written.")
            return redirect("version_publications", public_id=package.public_id, number=version.number)
    records = list(version.publications.select_related("source").order_by("-created_at"))
    active = any(record.state in {"queued", "running"} for record in records)
    context = {"package": package, "version": version, "form": form, "records": records, "active": active}
    if getattr(request, "htmx", False):
        return render(request, "packager/_publications.html", context)
    return render(request, "packager/publications.html", context, status=400 if form.errors else 200)
