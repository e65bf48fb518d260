from __future__ import annotations

from django.apps import AppConfig


class SharesConfig(AppConfig):
    name = "shares"

    def ready(self) -> None:
        from shares.services import share_grant_stands
        from sources import grants
        from web import checks  # noqa: F401  (registers the check that links handed out have a known origin)

        # Local-folder links issued through a share stop working when the share does.
        grants.register("share", share_grant_stands)
