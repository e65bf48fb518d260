from __future__ import annotations

from django.apps import AppConfig


class SharesConfig(AppConfig):
    name = "shares"

    def ready(self) -> None:
        from packager import published
        from shares.services import share_grant_stands, shares_version_published
        from sources import grants

        # Local-folder links issued through a share stop working when the share does.
        grants.register("share", share_grant_stands)
        # A new version's repositories are built before anyone clones them.
        published.register("shares", shares_version_published)
