from __future__ import annotations

from django.urls import path

from shares import views

urlpatterns = [
    path("s/<str:token>/", views.share_page, name="share_page"),
    path("s/<str:token>/download.zip", views.share_download_zip, name="share_download_zip"),
    path("s/<str:token>/urls.txt", views.share_urls, name="share_urls"),
    path("s/<str:token>/manifest.jsonl", views.share_manifest, name="share_manifest"),
    path("s/<str:token>/direct.txt", views.share_direct_txt, name="share_direct_txt"),
    path("s/<str:token>/direct.tsv", views.share_direct_tsv, name="share_direct_tsv"),
    path("s/<str:token>/datapackage.json", views.share_datapackage, name="share_datapackage"),
    path("s/<str:token>/r/<path:path>", views.share_resolve, name="share_resolve"),
    path("s/<str:token>/view/<path:path>", views.share_view_entry, name="share_view_entry"),
    path("packages/<uuid:public_id>/shares/", views.package_shares, name="package_shares"),
    path("shares/<str:token>/revoke/", views.share_revoke, name="share_revoke"),
]
