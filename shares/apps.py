from __future__ import annotations

from django.apps import AppConfig


class SharesConfig(AppConfig):
    name = "shares"

    def ready(self) -> None:
        from packager import citation, published
        from shares.services import (
            share_grant_stands,
            share_landing_follow,
            shares_version_published,
        )  # registers the repository builds' job kind
        from sources import grants
        from web import checks  # noqa: F401  (registers the check that links handed out have a known origin)

        # Local-folder links issued through a share stop working when the share does.
        grants.register("share", share_grant_stands)
        # A new version's repositories are built before anyone clones them.
        published.register("shares", shares_version_published)
        # A version made private again takes its landing share (the DOI's page) down with it.
        citation.visibility_register("landing share", share_landing_follow)
