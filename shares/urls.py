from __future__ import annotations

from django.urls import path

from shares.views import catalog, citation, downloads, owner, pages, public, repositories, resolve

urlpatterns = [
    path("catalog/", public.catalog, name="catalog"),
    path("catalog/<uuid:public_id>/<int:number>/", public.version_landing, name="version_landing"),
    path("oai", public.oai_endpoint, name="oai"),
    path("s/<str:token>/", pages.share_page, name="share_page"),
    path("s/<str:token>/key", downloads.share_key, name="share_key"),
    path("s/<str:token>/download.zip", downloads.share_download_zip, name="share_download_zip"),
    path("s/<str:token>/urls.txt", downloads.share_urls, name="share_urls"),
    path("s/<str:token>/manifest.jsonl", downloads.share_manifest, name="share_manifest"),
    path("s/<str:token>/direct.txt", downloads.share_direct_txt, name="share_direct_txt"),
    path("s/<str:token>/direct.tsv", downloads.share_direct_tsv, name="share_direct_tsv"),
    path("s/<str:token>/datapackage.json", downloads.share_datapackage, name="share_datapackage"),
    path("s/<str:token>/r/", resolve.share_folder_index, name="share_index"),
    path("s/<str:token>/CITATION.cff", citation.share_citation_file, {"name": "CITATION.cff"}, name="share_cff"),
    path("s/<str:token>/datacite.xml", citation.share_citation_file, {"name": "datacite.xml"}, name="share_datacite"),
    path("s/<str:token>/citation.bib", citation.share_citation_file, {"name": "citation.bib"}, name="share_bibtex"),
    path("s/<str:token>/citation.ris", citation.share_citation_file, {"name": "citation.ris"}, name="share_ris"),
    path("s/<str:token>/ro-crate-metadata.json", citation.share_ro_crate, name="share_ro_crate"),
    path("s/<str:token>/r/<path:path>", resolve.share_resolve, name="share_resolve"),
    path(
        "s/<str:token>/annex.git/<path:name>",
        repositories.share_repository_file,
        {"kind": "annex"},
        name="share_annex_repository",
    ),
    path(
        "s/<str:token>/dvc.git/<path:name>",
        repositories.share_repository_file,
        {"kind": "dvc"},
        name="share_dvc_repository",
    ),
    path("s/<str:token>/dvc/files/md5/<str:head>/<str:tail>", resolve.share_dvc_object, name="share_dvc_object"),
    path("s/<str:token>/sha256/<str:digest>", resolve.share_by_hash, {"algorithm": "sha256"}, name="share_by_sha256"),
    path("s/<str:token>/md5/<str:digest>", resolve.share_by_hash, {"algorithm": "md5"}, name="share_by_md5"),
    path("s/<str:token>/view/<path:path>", pages.share_view_entry, name="share_view_entry"),
    path("packages/<uuid:public_id>/shares/", owner.package_shares, name="package_shares"),
    path("shares/", catalog.share_list, name="shares_list"),
    path("shares/revoke/", catalog.share_bulk_revoke, name="share_bulk_revoke"),
    path("shares/<str:token>/revoke/", owner.share_revoke, name="share_revoke"),
    path("shares/<str:token>/log/", owner.share_access_log, name="share_access_log"),
    path("shares/<str:token>/log.csv", owner.share_access_log_csv, name="share_access_log_csv"),
]
