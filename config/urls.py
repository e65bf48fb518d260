from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.api import api
from packager import views
from packager.auth import LoginForm

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("packages/", views.package_list, name="packages"),
    path("packages/add-objects/", views.package_add_objects, name="package_add_objects"),
    path("packages/add-search/", views.package_add_search, name="package_add_search"),
    path("packages/<uuid:public_id>/", views.package_detail, name="package_detail"),
    path("packages/<uuid:public_id>/edit/", views.package_edit, name="package_edit"),
    path("packages/<uuid:public_id>/metadata/", views.package_metadata, name="package_metadata"),
    path("packages/<uuid:public_id>/add-jobs/", views.package_add_jobs, name="package_add_jobs"),
    path("packages/<uuid:public_id>/versions/", views.package_versions, name="package_versions"),
    path("packages/<uuid:public_id>/changes/", views.package_changes, name="package_changes"),
    path("packages/<uuid:public_id>/versions/<int:number>/", views.version_detail, name="version_detail"),
    path("packages/<uuid:public_id>/versions/<int:number>/verify/", views.version_verify, name="version_verify"),
    path("packages/<uuid:public_id>/versions/<int:number>/confirm/", views.version_confirm, name="version_confirm"),
    path("packages/<uuid:public_id>/versions/<int:number>/public/", views.version_public, name="version_public"),
    path("packages/<uuid:public_id>/versions/<int:number>/doi/", views.version_doi, name="version_doi"),
    path("packages/<uuid:public_id>/delete/", views.package_delete, name="package_delete"),
    path("packages/<uuid:public_id>/write/", views.entry_write, name="entry_write"),
    path("packages/<uuid:public_id>/write/<path:path>", views.entry_write, name="entry_edit"),
    path("packages/<uuid:public_id>/upload/", views.entry_upload, name="entry_upload"),
    path("packages/<uuid:public_id>/view/<path:path>", views.entry_view, name="entry_view"),
    path("packages/<uuid:public_id>/file/<path:path>", views.entry_file, name="entry_file"),
    path("packages/<uuid:public_id>/move/<path:path>", views.entry_move, name="entry_move"),
    path("packages/<uuid:public_id>/remove/<path:path>", views.entry_remove, name="entry_remove"),
    path(
        "packages/<uuid:public_id>/versions/<int:number>/bucket/",
        views.version_publications,
        name="version_publications",
    ),
    path("account/tokens/", views.api_tokens, name="api_tokens"),
    path("account/tokens/<int:token_id>/delete/", views.api_token_delete, name="api_token_delete"),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("", include("sources.urls")),
    path("", include("shares.urls")),
    path("", include("teams.urls")),
]

handler404 = "web.error_pages.not_found"
handler500 = "web.error_pages.server_error"
