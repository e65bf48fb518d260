"""The download hot path: from a share token and a file to a freshly signed storage URL.

Every file a collaborator fetches passes through here once (wget) or several times
(git-annex, DVC), so it is written for its cost:

- one indexed query finds the share, the version it serves, the entry (by path, sha256
  or md5) and the entry's source together (`lookup`); nothing else is read;
- no database write: accesses are counted by shares.access_log in memory;
- no session is loaded for a share without a password;
- signing is arithmetic (sources.backends.signing), with the storage client cached per
  source for as long as the source's settings and secrets are unchanged.

The resolver views (r/<path> and the content-addressed ones) share `resolve_entry`.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from packager.models import Package, PackageVersion, VersionEntry
from shares.models import Share
from sources import clients
from sources.backends import Backend
from sources.models import Source
from sources.services import EDITABLE_FIELDS

# Columns of the source an entry points at: all that building its storage client needs.
SOURCE_COLUMNS = (
    "id",
    "public_id",
    "kind",
    "encrypted_credentials",
    *(name for name in EDITABLE_FIELDS if name != "name"),
)
ENTRY_COLUMNS = ("path", "kind", "size", "key", "version_id", "drift", "text_name", "sha256")
MATCH_COLUMNS = {"path", "sha256", "md5"}


@dataclass(frozen=True, slots=True)
class Found:
    """What one lookup found: the share's state, the served version and the entry."""

    share_id: int
    token: str
    password_hash: str
    is_active: bool
    package_id: int
    owner_id: int
    version_id: int | None  # the served version, None while nothing is published
    version_number: int | None
    entry: dict[str, Any] | None
    source: tuple[Any, ...] | None

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    def share(self) -> Share:
        """A Share instance for the access checks (password shares only; no query)."""
        share = Share(pk=self.share_id, token=self.token, password_hash=self.password_hash, package_id=self.package_id)
        share.package = Package(pk=self.package_id, owner_id=self.owner_id)
        return share


def _sql(match: str) -> str:
    quote = connection.ops.quote_name

    def table(model: Any) -> str:
        return quote(model._meta.db_table)

    entry_columns = ", ".join(f"e.{quote(name)}" for name in ENTRY_COLUMNS)  # plain fields: column = name
    source_columns = ", ".join(f"src.{quote(name)}" for name in SOURCE_COLUMNS)
    # Table and column names come from the models, quoted by the backend; values are bound.
    return (
        f"SELECT s.id, s.password_hash, (s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > %s)), "  # noqa: S608
        f"p.id, p.owner_id, v.id, v.number, {entry_columns}, {source_columns} "
        f"FROM {table(Share)} s JOIN {table(Package)} p ON p.id = s.package_id "
        f"LEFT JOIN {table(PackageVersion)} v ON v.id = COALESCE(s.version_id, p.latest_version_id) "
        f"AND v.state = %s "
        f"LEFT JOIN {table(VersionEntry)} e ON e.package_version_id = v.id AND e.{quote(match)} = %s "
        f"LEFT JOIN {table(Source)} src ON src.id = e.source_id "
        f"WHERE s.token = %s ORDER BY e.position LIMIT 1"
    )


_statements: dict[tuple[str, str], str] = {}
# Recent lookups of this process: (token, match, value) -> (monotonic deadline, found).
_recent: dict[tuple[str, str, str], tuple[float, Found | None]] = {}


def forget() -> None:
    """Drop this process's recent lookups (after a change to a share made here)."""
    _recent.clear()


def lookup(token: str, *, match: str = "path", value: str) -> Found | None:
    """The share with this token and its served version's entry whose `match` column equals
    `value` (the first by path when several do), in one query; None for an unknown token.

    A lookup is kept for RESOLVE_CACHE_SECONDS, so clients that fetch the same file again
    and again (DVC, git-annex, retries) cost no query: a share revoked, expired, re-pinned
    or given a new version is seen by every web process within that time (at once by the
    process that made the change).
    """
    if match not in MATCH_COLUMNS:
        raise ValueError(f"cannot look entries up by {match}")
    lifetime = settings.RESOLVE_CACHE_SECONDS
    if lifetime <= 0:
        return _query(token, match, value)
    key = (token, match, value)
    now = time.monotonic()
    cached = _recent.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    found = _query(token, match, value)
    if len(_recent) >= 10_000:
        _recent.clear()
    _recent[key] = (now + lifetime, found)
    return found


def _query(token: str, match: str, value: str) -> Found | None:
    statement = _statements.get((connection.vendor, match))
    if statement is None:
        statement = _statements[(connection.vendor, match)] = _sql(match)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(statement, [now, PackageVersion.State.PUBLISHED, value, token])
        row = cursor.fetchone()
    if row is None:
        return None
    share_id, password_hash, is_active, package_id, owner_id, version_id, version_number = row[:7]
    entry_values = row[7 : 7 + len(ENTRY_COLUMNS)]
    source_values = row[7 + len(ENTRY_COLUMNS) :]
    return Found(
        share_id=share_id,
        token=token,
        password_hash=password_hash,
        is_active=bool(is_active),
        package_id=package_id,
        owner_id=owner_id,
        version_id=version_id,
        version_number=version_number,
        entry=dict(zip(ENTRY_COLUMNS, entry_values, strict=True)) if entry_values[0] is not None else None,
        source=tuple(source_values) if source_values[0] is not None else None,
    )


_backends_lock = threading.Lock()
_backends: dict[tuple[Any, ...], Backend] = {}


def backend_for_row(source_row: tuple[Any, ...]) -> Backend:
    """The storage client of a source read by `lookup`, built once per set of settings.

    Keyed by every column that a client depends on, so a changed endpoint or rotated
    secret gets a new client at once, without building a model instance per request.
    """
    backend = _backends.get(source_row)
    if backend is None:
        values = dict(zip(SOURCE_COLUMNS, source_row, strict=True))
        values["public_id"] = uuid.UUID(str(values["public_id"]))
        backend = clients.backend_for(Source(**values))
        with _backends_lock:
            if len(_backends) > 1000:
                _backends.clear()
            _backends[source_row] = backend
    return backend


def presign_ttl(source_row: tuple[Any, ...]) -> int:
    return int(source_row[SOURCE_COLUMNS.index("presign_ttl")])


def range_is_unsatisfiable(header: str, size: int) -> bool:
    """True when every range of a well-formed `bytes=` Range header starts at or past the
    end. (Anything else is left to the store, which answers 206, 200 or its own 416.)"""
    unit, _, ranges = header.partition("=")
    if unit.strip().lower() != "bytes" or not ranges.strip():
        return False
    for spec in ranges.split(","):
        first, dash, last = (part.strip() for part in spec.partition("-"))
        if not dash or (first and not first.isdigit()) or (last and not last.isdigit()) or not (first or last):
            return False
        if first and last and int(last) < int(first):
            return False
        satisfiable = int(first) < size if first else (int(last) > 0 and size > 0)
        if satisfiable:
            return False
    return True
