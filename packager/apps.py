from __future__ import annotations

from django.apps import AppConfig


class PackagerConfig(AppConfig):
    name = "packager"
    verbose_name = "Packages"
