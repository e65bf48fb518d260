from __future__ import annotations

from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "teams"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.models.signals import post_delete

        from teams import oidc  # noqa: F401  (registers its system check)
        from teams.departures import user_deleted

        # The audit entries of what a deleted account handed to its teams (teams.departures).
        post_delete.connect(user_deleted, sender=settings.AUTH_USER_MODEL, dispatch_uid="teams.user_deleted")
