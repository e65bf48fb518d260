"""Database checks of sources: `manage.py check --database default` (and migrate) run them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DatabaseError, connections

from sources import crypto
from sources.models import Source


def _key_setting() -> str:
    if settings.CREDENTIALS_KEYS:
        return "CREDENTIALS_KEYS"
    return "SECRET_KEY (and SECRET_KEY_FALLBACKS; CREDENTIALS_KEYS is not set)"


@register(Tags.database)
def credentials_readable(
    app_configs: Any = None, databases: Iterable[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Every stored source credential decrypts with the configured keys.

    A node started with another key would serve and answer 409 on every source; refusing to
    start says what is wrong before anybody sees it.
    """
    errors: list[CheckMessage] = []
    for alias in databases or ():
        connection = connections[alias]
        try:
            if Source._meta.db_table not in connection.introspection.table_names():
                continue  # not migrated yet: nothing is stored
            stored = Source.objects.using(alias).exclude(encrypted_credentials="")
            unreadable = [
                name
                for name, token in stored.values_list("name", "encrypted_credentials").iterator()
                if not _readable(token)
            ]
        except DatabaseError as error:
            errors.append(Error(f"The database {alias!r} cannot be read: {error}", id="sources.E002"))
            continue
        if unreadable:
            shown = ", ".join(repr(name) for name in unreadable[:5])
            more = f" and {len(unreadable) - 5} more" if len(unreadable) > 5 else ""
            errors.append(
                Error(
                    f"The credentials of {len(unreadable)} source(s) in the database {alias!r} ({shown}{more}) "
                    f"cannot be decrypted with {_key_setting()}.",
                    hint="Start with the key the credentials were stored with (an old one may be listed in "
                    "SECRET_KEY_FALLBACKS or CREDENTIALS_KEYS, then `manage.py rotate_credentials`), "
                    "or give those sources their secrets again.",
                    id="sources.E001",
                )
            )
    return errors


def _readable(token: str) -> bool:
    try:
        crypto.decrypt_json(token)
    except crypto.CredentialsUnreadable:
        return False
    return True
