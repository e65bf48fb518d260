from __future__ import annotations

from django.apps import AppConfig


class SourcesConfig(AppConfig):
    name = "sources"

    def ready(self) -> None:
        from sources import (
            checks,  # noqa: F401  (registers the system checks)
            indexing,  # noqa: F401  (registers the index runs' job kind with web.jobs)
        )
