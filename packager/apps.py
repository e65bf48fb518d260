from __future__ import annotations

from django.apps import AppConfig


class PackagerConfig(AppConfig):
    name = "packager"
    verbose_name = "Packages"

    def ready(self) -> None:
        from packager import (
            checks,  # noqa: F401  (registers the system checks)
            checksumming,  # noqa: F401  (registers its job kind with web.jobs, as do the two below)
            citation,
            doi,
            publications,  # noqa: F401
            services,  # noqa: F401
        )

        # A version made private hides its findable DOI at DataCite (findable again once public).
        citation.visibility_register("doi", doi.doi_follow_visibility)
