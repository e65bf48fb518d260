"""System checks of the packages app: settings that only work on one machine."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register()
def text_storage_shared(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Local text storage with a database server: refused unless MEDIA_ROOT is shared.

    A database server means several machines may serve the site (web nodes, workers); a
    text file written under one machine's MEDIA_ROOT would be missing on the others. SQLite
    keeps everything on one machine, so `make run` keeps its local files. Settings only:
    this check needs no connection.
    """
    if settings.TEXT_STORAGE != "local" or settings.MEDIA_ROOT_SHARED:
        return []
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return []
    return [
        Error(
            f"TEXT_STORAGE=local keeps text files in MEDIA_ROOT ({settings.MEDIA_ROOT}) on this machine, "
            f"but the database ({engine.rsplit('.', 1)[-1]}) can be shared by several machines, which would "
            "not see those files.",
            hint="Set TEXT_STORAGE=s3 or azure (with TEXT_STORAGE_BUCKET), or, if MEDIA_ROOT is a folder "
            "every web node and worker mounts (NFS, a shared volume), set MEDIA_ROOT_SHARED=1.",
            id="packager.E001",
        )
    ]


@register()
def datacite_complete(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """DATACITE_URL set: DOIs are registered, which needs the prefix, the repository's
    account and packager's public origin (the DOI's URL is built without a request)."""
    if not settings.DATACITE_URL:
        return []
    missing = [
        name
        for name in ("DATACITE_PREFIX", "DATACITE_USERNAME", "DATACITE_PASSWORD", "SITE_URL")
        if not getattr(settings, name)
    ]
    if not missing:
        return []
    return [
        Error(
            f"DATACITE_URL is set, so DOIs are registered at DataCite, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not.",
            hint="Set DATACITE_PREFIX (10.xxxx), DATACITE_USERNAME and DATACITE_PASSWORD (the repository "
            "account), and SITE_URL (https://your.host), or unset DATACITE_URL.",
            id="packager.E002",
        )
    ]
