from __future__ import annotations

from django.urls import path

from sources import views

urlpatterns = [
    path("sources/", views.source_list, name="source_list"),
    path("sources/add/", views.source_add, name="source_add"),
    path("sources/<uuid:public_id>/edit/", views.source_edit, name="source_edit"),
    path("sources/<uuid:public_id>/delete/", views.source_delete, name="source_delete"),
    path("sources/<uuid:public_id>/test/", views.source_test, name="source_test"),
    path("sources/<uuid:public_id>/reindex/", views.source_reindex, name="source_reindex"),
    path("sources/<uuid:public_id>/index/", views.source_index_progress, name="source_index_progress"),
    path("sources/<uuid:public_id>/index/cancel/", views.source_index_cancel, name="source_index_cancel"),
    path("sources/<uuid:public_id>/search/", views.source_search, name="source_search"),
    path("sources/<uuid:public_id>/browse/", views.source_browse, name="source_browse"),
    path("sources/<uuid:public_id>/browse/<path:folder>", views.source_browse, name="source_browse"),
    path("sources/<uuid:public_id>/object/<path:path>", views.source_object, name="source_object"),
    path("sources/<uuid:public_id>/link/<path:path>", views.source_object_link, name="source_object_link"),
    path("files/<str:token>/", views.local_file, name="local_file"),
]
