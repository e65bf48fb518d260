from __future__ import annotations

from django.urls import path

from teams import oidc, views

urlpatterns = [
    path("teams/", views.team_list, name="team_list"),
    path("teams/<uuid:public_id>/", views.team_detail, name="team_detail"),
    path("teams/<uuid:public_id>/invite/", views.team_invite, name="team_invite"),
    path("teams/<uuid:public_id>/members/<int:user_id>/role/", views.member_role, name="team_member_role"),
    path("teams/<uuid:public_id>/members/<int:user_id>/remove/", views.member_remove, name="team_member_remove"),
    path("teams/<uuid:public_id>/delete/", views.team_delete, name="team_delete"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("audit/", views.audit_log, name="audit_log"),
    path("audit.csv", views.audit_log_csv, name="audit_log_csv"),
    # The names mozilla-django-oidc's views redirect by.
    path("oidc/authenticate/", oidc.oidc_authenticate, name="oidc_authentication_init"),
    path("oidc/callback/", oidc.oidc_callback, name="oidc_authentication_callback"),
]
