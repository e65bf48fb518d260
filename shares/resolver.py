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

import datetime as dt
import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from packager.models import Package, PackageVersion, VersionEntry
from shares.models import Share, open_sql, share_link_key
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
ENTRY_COLUMNS = ("path", "kind", "size", "key", "version_id", "drift", "text_name", "sha256", "position")
MATCH_COLUMNS = {"path", "sha256", "md5"}


@dataclass(frozen=True, slots=True)
class Found:
    """What one lookup found: the share's state, the served version and the entry."""

    share_id: int
    token: str
    password_hash: str
    is_open: bool
    package_id: int
    owner_id: int
    team_id: int | None
    version_id: int | None  # the served version, None while nothing is published
    version_number: int | None
    entry: dict[str, Any] | None
    source: tuple[Any, ...] | None
    link_key: str = ""  # the share's key link secret, "" without a password
    published_at: dt.datetime | None = None  # when the served version was published
    expires_at: dt.datetime | None = None  # when the share expires, if it does

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    def share(self) -> Share:
        """A Share instance for the access checks (password shares only; no query)."""
        share = Share(pk=self.share_id, token=self.token, password_hash=self.password_hash, package_id=self.package_id)
        share.package = Package(pk=self.package_id, owner_id=self.owner_id, team_id=self.team_id)
        return share


def _sql(match: str) -> str:
    quote = connection.ops.quote_name

    def table(model: Any) -> str:
        return quote(model._meta.db_table)

    entry_columns = ", ".join(f"e.{quote(name)}" for name in ENTRY_COLUMNS)  # plain fields: column = name
    source_columns = ", ".join(f"src.{quote(name)}" for name in SOURCE_COLUMNS)
    # Table and column names come from the models, quoted by the backend; values are bound.
    return (
        f"SELECT s.id, s.password_hash, "  # noqa: S608
        f"{open_sql('s', 'u', 'p')}, "
        f"p.id, p.owner_id, p.team_id, v.id, v.number, v.drift_checked_at, v.published_at, s.expires_at, "
        f"{entry_columns}, {source_columns} "
        f"FROM {table(Share)} s JOIN {table(Package)} p ON p.id = s.package_id "
        f"JOIN {table(get_user_model())} u ON u.id = p.owner_id "
        f"LEFT JOIN {table(PackageVersion)} v ON v.id = COALESCE(s.version_id, p.latest_version_id) "
        f"AND v.state = %s "
        f"LEFT JOIN {table(VersionEntry)} e ON e.package_version_id = v.id AND e.{quote(match)} = %s "
        f"LEFT JOIN {table(Source)} src ON src.id = e.source_id "
        f"WHERE s.token = %s ORDER BY e.position LIMIT 1"
    )


# Entries a block query reads at once: urls.txt, wget -i and git annex get go through a
# version in position order, so the next files asked for are usually in the block. A
# block is read only once a process sees a client going that way (two misses close in
# position); a client asking for files at random pays for one row a miss, not 256.
ENTRY_BLOCK = 256
STREAK_GAP = ENTRY_BLOCK + 64


def _entry_sql(match: str, *, block: bool) -> str:
    """The entries of one version (and their sources): by `match` = value, or (block) the
    ENTRY_BLOCK entries from the one whose path = value on, in position order."""
    quote = connection.ops.quote_name
    entries, sources = quote(VersionEntry._meta.db_table), quote(Source._meta.db_table)
    entry_columns = ", ".join(f"e.{quote(name)}" for name in ENTRY_COLUMNS)
    source_columns = ", ".join(f"src.{quote(name)}" for name in SOURCE_COLUMNS)
    if block:
        where = (
            f"e.package_version_id = %s AND e.position >= "  # noqa: S608
            f"(SELECT position FROM {entries} WHERE package_version_id = %s AND path = %s)"
        )
        limit = ENTRY_BLOCK
    else:
        where = f"e.package_version_id = %s AND e.{quote(match)} = %s"
        limit = 1
    # Table and column names come from the models, quoted by the backend; values are bound.
    return (
        f"SELECT {entry_columns}, {source_columns} FROM {entries} e "  # noqa: S608
        f"LEFT JOIN {sources} src ON src.id = e.source_id "
        f"WHERE {where} ORDER BY e.position LIMIT {limit}"
    )


def _source_sql() -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in SOURCE_COLUMNS)
    return f"SELECT {columns} FROM {quote(Source._meta.db_table)} WHERE id = %s"  # noqa: S608


_statements: dict[tuple[Any, ...], str] = {}


def _statement(key: tuple[Any, ...], build: Callable[[], str]) -> str:
    """The statement `build` makes, built once per database vendor and key."""
    full_key = (connection.vendor, *key)
    statement = _statements.get(full_key)
    if statement is None:
        statement = _statements[full_key] = build()
    return statement


@dataclass(frozen=True, slots=True)
class _ShareState:
    """The share columns of a Found, and the served version's drift stamp."""

    share_id: int
    password_hash: str
    is_open: bool
    package_id: int
    owner_id: int
    team_id: int | None
    version_id: int | None
    version_number: int | None
    drift_checked_at: Any
    # The share's key link secret ("" without a password), derived once per read of the share.
    link_key: str
    published_at: dt.datetime | None
    expires_at: dt.datetime | None  # the share's expiry: no storage link outlives it


# What this process read recently (see `lookup`):
# token -> (monotonic deadline, share state or None for an unknown token)
_shares: dict[str | bytes, tuple[float, _ShareState | None]] = {}
# source id -> (monotonic deadline, source columns)
_sources: dict[int, tuple[float, tuple[Any, ...]]] = {}
# (version id, drift stamp, match, value) -> (entry columns, source id) or None. A published
# version's entries never change but for their drift, which a verify rewrites together
# with the version's drift_checked_at: keyed by both, an entry read once stays true.
_entries: dict[tuple[Any, ...], tuple[tuple[Any, ...], int | None] | None] = {}


# version id -> (positions of this process's last misses by path, whether the last one
# came right after one of those: then misses read blocks). Several are kept because several
# clients may go through the same version at once, each in order.
_streaks: dict[int, tuple[list[int], bool]] = {}
POSITION = ENTRY_COLUMNS.index("position")


def _bounded(value: str) -> str | bytes:
    """A key for this process's caches that stays small whatever the client sent: a URL may
    carry a path or token of any length."""
    if len(value) <= 128:
        return value
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def forget() -> None:
    """Drop this process's recent lookups (after a change to a share made here)."""
    _shares.clear()
    _sources.clear()


def lookup(token: str, *, match: str = "path", value: str) -> Found | None:
    """The share with this token and its served version's entry whose `match` column equals
    `value` (the first by path when several do); None for an unknown token. At most one
    query, and usually none:

    - a share's state (and a source's settings) read by one process is reused for
      RESOLVE_CACHE_SECONDS: a share revoked, expired, re-pinned or given a new version,
      or a source given new settings, is seen by every web process within that time (at
      once by the process that made the change);
    - an entry of a published version, once read, is kept (up to RESOLVE_CACHE_ENTRIES per
      process) until a verify changes the version's drift; once misses come in position
      order, looking a path up reads the ENTRY_BLOCK entries that follow it too, so a
      client going through urls.txt costs a query per block of files, not per file.
    """
    if match not in MATCH_COLUMNS:
        raise ValueError(f"cannot look entries up by {match}")
    lifetime = settings.RESOLVE_CACHE_SECONDS
    now = time.monotonic()
    cached_share = _shares.get(_bounded(token)) if lifetime > 0 else None
    if cached_share is None or cached_share[0] <= now:
        return _query(token, match, value, now + lifetime)
    state = cached_share[1]
    if state is None or state.version_id is None:
        return _found(token, state, None, None) if state is not None else None
    key = (state.version_id, state.drift_checked_at, match, _bounded(value))
    if key in _entries:
        cached_entry = _entries[key]
        if cached_entry is None:
            return _found(token, state, None, None)
        entry_values, source_id = cached_entry
        source = _sources.get(source_id) if source_id is not None else None
        if source_id is None or (source is not None and source[0] > now):
            return _found(token, state, entry_values, source[1] if source else None)
        with connection.cursor() as cursor:
            cursor.execute(_statement(("source",), _source_sql), [source_id])
            row = cursor.fetchone()
        if row is None:
            return _query(token, match, value, now + lifetime)
        _sources[source_id] = (now + lifetime, tuple(row))
        return _found(token, state, entry_values, tuple(row))
    streak = _streaks.get(state.version_id)
    block = match == "path" and streak is not None and streak[1]  # misses come in order
    with connection.cursor() as cursor:
        arguments: list[int | str] = [state.version_id, state.version_id, value] if block else [state.version_id, value]
        cursor.execute(_statement(("entries", match, block), lambda: _entry_sql(match, block=block)), arguments)
        rows = cursor.fetchall()
    found_values: tuple[Any, ...] | None = None
    found_source: tuple[Any, ...] | None = None
    for row in rows:
        entry_values, source_values = _split(row)
        if found_values is None:
            found_values, found_source = entry_values, source_values
        # A block is remembered by path (the first column), one entry by what it was asked.
        _remember(state, match, entry_values[0] if block else value, entry_values, source_values, now + lifetime)
    if found_values is None:
        _remember(state, match, value, None, None, now + lifetime)
    elif match == "path":
        _note_miss(state.version_id, found_values[POSITION])
    return _found(token, state, found_values, found_source)


def share_state(token: str) -> tuple[bool, str] | None:
    """(has a password, key link secret) of the share with this token, revoked or expired
    ones included; None for an unknown token. Reads the share state `lookup` keeps (one
    query when this process has none fresh)."""
    lifetime = settings.RESOLVE_CACHE_SECONDS
    now = time.monotonic()
    cached_share = _shares.get(_bounded(token)) if lifetime > 0 else None
    if cached_share is None or cached_share[0] <= now:
        found = _query(token, "path", "", now + lifetime)
        if found is None:
            return None
        key = share_link_key(share_id=found.share_id, token=token, password_hash=found.password_hash)
        return found.has_password, key
    state = cached_share[1]
    return (bool(state.password_hash), state.link_key) if state is not None else None


def key_link_matches(token: str, key: str) -> bool:
    """Whether `key` is the key of the password share with this token (compared in constant
    time), revoked or expired ones included (their views say "gone"). From the share state
    `lookup` keeps, so a key link costs no query that its share's plain link does not."""
    state = share_state(token)
    return state is not None and bool(state[1]) and constant_time_compare(key, state[1])


def _note_miss(version_id: int, position: int) -> None:
    recent = _streaks[version_id][0] if version_id in _streaks else []
    in_order = any(0 < position - earlier <= STREAK_GAP for earlier in recent)
    if len(_streaks) >= 1000:
        _streaks.clear()
    _streaks[version_id] = ([*recent[-7:], position], in_order)


def _split(row: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
    entry_values = tuple(row[: len(ENTRY_COLUMNS)])
    source_values = tuple(row[len(ENTRY_COLUMNS) :])
    return entry_values, source_values if source_values[0] is not None else None


def _remember(
    state: _ShareState,
    match: str,
    value: str,
    entry_values: tuple[Any, ...] | None,
    source_values: tuple[Any, ...] | None,
    deadline: float,
) -> None:
    """Keep what a query found for `match` = `value` (None: no such entry) and its source."""
    if len(_entries) >= settings.RESOLVE_CACHE_ENTRIES:
        _entries.clear()
    key = (state.version_id, state.drift_checked_at, match, _bounded(value))
    if entry_values is None:
        _entries[key] = None
        return
    source_id = source_values[0] if source_values is not None else None
    if source_values is not None:
        _sources[source_values[0]] = (deadline, source_values)
    _entries[key] = (entry_values, source_id)


def _found(
    token: str, state: _ShareState, entry_values: tuple[Any, ...] | None, source: tuple[Any, ...] | None
) -> Found:
    return Found(
        share_id=state.share_id,
        token=token,
        password_hash=state.password_hash,
        is_open=state.is_open,
        package_id=state.package_id,
        owner_id=state.owner_id,
        team_id=state.team_id,
        version_id=state.version_id,
        version_number=state.version_number,
        entry=dict(zip(ENTRY_COLUMNS, entry_values, strict=True)) if entry_values is not None else None,
        source=source,
        link_key=state.link_key,
        published_at=state.published_at,
        expires_at=state.expires_at,
    )


def _datetime(value: Any) -> dt.datetime | None:
    """A datetime column as the raw cursor gave it (SQLite gives text or a naive UTC datetime),
    as an aware datetime."""
    if value is None:
        return None
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _query(token: str, match: str, value: str, deadline: float) -> Found | None:
    """The share, its served version and the entry in one query; remembers what it read."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        statement = _statement(("share", match), lambda: _sql(match))
        cursor.execute(statement, [now, PackageVersion.State.PUBLISHED, value, token])
        row = cursor.fetchone()
    lifetime_on = settings.RESOLVE_CACHE_SECONDS > 0
    if row is None:
        if lifetime_on:
            if len(_shares) >= 10_000:
                _shares.clear()
            _shares[_bounded(token)] = (deadline, None)
        return None
    (
        share_id,
        password_hash,
        is_open,
        package_id,
        owner_id,
        team_id,
        version_id,
        version_number,
        stamp,
        published_at,
        expires_at,
    ) = row[:11]
    link_key = share_link_key(share_id=share_id, token=token, password_hash=password_hash)
    state = _ShareState(
        share_id,
        password_hash,
        bool(is_open),
        package_id,
        owner_id,
        team_id,
        version_id,
        version_number,
        stamp,
        link_key,
        _datetime(published_at),
        _datetime(expires_at),
    )
    entry_values: tuple[Any, ...] | None
    entry_values, source_values = _split(row[11:])
    if entry_values[0] is None:
        entry_values = source_values = None
    if lifetime_on:
        if len(_shares) >= 10_000:
            _shares.clear()
        _shares[_bounded(token)] = (deadline, state)
        if state.version_id is not None:
            _remember(state, match, value, entry_values, source_values, deadline)
            if entry_values is not None and match == "path":
                _note_miss(state.version_id, entry_values[POSITION])
    return _found(token, state, entry_values, source_values)


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


def presign_ttl(source_row: tuple[Any, ...], *, not_after: dt.datetime | None = None) -> int:
    """The source's link lifetime, never past `not_after` (the share's expiry)."""
    lifetime = int(source_row[SOURCE_COLUMNS.index("presign_ttl")])
    if not_after is not None:
        lifetime = min(lifetime, max(1, int((not_after - timezone.now()).total_seconds())))
    return lifetime
