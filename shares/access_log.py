"""The access log of shares: counted in memory, written to the database in batches.

Every file a collaborator fetches passes through the resolver, so a row written per
request would make the database the bottleneck of every download. Instead each web
process counts what happens in memory and writes the sums in one short transaction when
ACCESS_LOG_FLUSH_SECONDS have passed since the first unwritten event or
ACCESS_LOG_FLUSH_EVENTS events are waiting (whichever comes first, checked as requests
arrive), and once more when the process exits normally (gunicorn's graceful restart and
shutdown, `manage.py` commands, Celery workers): nothing counted is lost then.

A process that is killed (SIGKILL, out of memory, power loss) loses what it had not
written yet: at most ACCESS_LOG_FLUSH_EVENTS events, or the events of its last
ACCESS_LOG_FLUSH_SECONDS seconds of traffic. A process that goes idle keeps its last
unwritten counts until its next request or its exit. Counts are the only thing at stake:
access control never depends on them.

The data model (what the owner's access-log pages read; all in shares.models):

- `ShareDailyCount(share, day, kind, count)`: how many times each kind of access happened
  per share and UTC day, one row per (share, day, kind). Kinds are ShareEvent.Kind
  (view, zip, urls, manifest, direct, datapackage, resolve, text, annex_clone, dvc_clone,
  unlock_failed). A chart reads a date range
  off the (share, day) index; a total sums one kind.
- `ShareFileCount(share, path, count, last_fetched_at)`: which files were fetched (GET
  on the resolver or a content-addressed link) and how often, one row per (share, path).
- `ShareEvent(share, kind=unlock_failed, ip_address, at)`: the last failed unlocks, one
  row each (they are few: SHARE_UNLOCK_ATTEMPTS per client and window at most).
- `Share.view_count`, `zip_count`, `resolve_count` and `last_accessed_at`: running totals
  on the share itself, for lists of shares.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from shares.models import Share, ShareDailyCount, ShareEvent, ShareFileCount

logger = logging.getLogger(__name__)

# Running totals kept on the share row, by kind.
SHARE_TOTALS: dict[str, str] = {
    ShareEvent.Kind.VIEW: "view_count",
    ShareEvent.Kind.ZIP: "zip_count",
    ShareEvent.Kind.RESOLVE: "resolve_count",
}
# Statements stay well under SQLite's limit on bound parameters.
ROWS_PER_STATEMENT = 500


@dataclass
class _Pending:
    """What one process counted and has not written yet."""

    daily: Counter[tuple[int, dt.date, str]] = field(default_factory=Counter)
    files: Counter[tuple[int, str]] = field(default_factory=Counter)
    file_last: dict[tuple[int, str], dt.datetime] = field(default_factory=dict)
    last_access: dict[int, dt.datetime] = field(default_factory=dict)
    unlock_failures: list[tuple[int, dt.datetime, str | None]] = field(default_factory=list)
    events: int = 0
    first_at: float = 0.0  # time.monotonic() of the oldest unwritten event

    def merge(self, other: _Pending) -> None:
        """Take back counts that could not be written (they are older than ours)."""
        self.daily.update(other.daily)
        self.files.update(other.files)
        for item, moment in other.file_last.items():
            self.file_last[item] = max(moment, self.file_last.get(item, moment))
        for share_id, moment in other.last_access.items():
            self.last_access[share_id] = max(moment, self.last_access.get(share_id, moment))
        self.unlock_failures[:0] = other.unlock_failures
        self.events += other.events
        self.first_at = min(self.first_at or other.first_at, other.first_at)


_lock = threading.Lock()
_pending = _Pending()
_owner_pid = os.getpid()


def _current() -> _Pending:
    """This process's counts; a forked child starts from nothing (its parent writes its own)."""
    global _pending, _owner_pid
    if _owner_pid != os.getpid():
        _pending = _Pending()
        _owner_pid = os.getpid()
    return _pending


def share_access_record(
    *, share_id: int, kind: str, path: str = "", ip_address: str | None = None, now: dt.datetime | None = None
) -> None:
    """Count one access. No database work, unless this call makes a batch due."""
    moment = now or timezone.now()
    with _lock:
        pending = _current()
        if not pending.events:
            pending.first_at = time.monotonic()
        pending.events += 1
        pending.daily[(share_id, moment.astimezone(dt.UTC).date(), kind)] += 1
        pending.last_access[share_id] = moment
        if path:
            item = (share_id, path[:1024])
            pending.files[item] += 1
            pending.file_last[item] = moment
        if kind == ShareEvent.Kind.UNLOCK_FAILED:
            pending.unlock_failures.append((share_id, moment, ip_address))
        due = (
            pending.events >= settings.ACCESS_LOG_FLUSH_EVENTS
            or time.monotonic() - pending.first_at >= settings.ACCESS_LOG_FLUSH_SECONDS
        )
    if due:
        access_log_flush()


def access_log_pending() -> int:
    """How many events this process has counted and not written yet."""
    with _lock:
        return _current().events


def access_log_discard() -> int:
    """Drop what this process counted and has not written (tests start clean with it)."""
    global _pending
    with _lock:
        dropped = _current().events
        _pending = _Pending()
    return dropped


def access_log_flush() -> int:
    """Write what this process counted; returns the number of events written.

    On a database error the counts go back to memory for the next attempt.
    """
    global _pending
    with _lock:
        taken = _current()
        if not taken.events:
            return 0
        _pending = _Pending()
    try:
        _write(taken)
    except DatabaseError:
        logger.exception("access log: could not write %d events; keeping them for the next flush", taken.events)
        with _lock:
            _current().merge(taken)
        return 0
    return taken.events


def _upsert(table: type, columns: list[str], conflict: list[str], updates: str, rows: list[tuple[Any, ...]]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE, which SQLite (3.24+) and PostgreSQL both speak."""
    quote = connection.ops.quote_name
    name = quote(table._meta.db_table)  # type: ignore[attr-defined]
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            # Table and column names come from the models; values are bound parameters.
            sql = (
                f"INSERT INTO {name} ({', '.join(quote(column) for column in columns)}) "  # noqa: S608
                f"VALUES {', '.join([placeholders] * len(chunk))} "
                f"ON CONFLICT ({', '.join(quote(column) for column in conflict)}) DO UPDATE SET {updates}"
            )
            cursor.execute(sql, [value for row in chunk for value in row])


def _write(pending: _Pending) -> None:
    share_ids = set(pending.last_access)
    existing = set(Share.objects.filter(pk__in=share_ids).values_list("pk", flat=True))  # deleted meanwhile: dropped
    adapt = connection.ops.adapt_datetimefield_value
    daily_table = connection.ops.quote_name(ShareDailyCount._meta.db_table)
    file_table = connection.ops.quote_name(ShareFileCount._meta.db_table)
    with transaction.atomic():
        _upsert(
            ShareDailyCount,
            ["share_id", "day", "kind", "count"],
            ["share_id", "day", "kind"],
            f'"count" = {daily_table}."count" + excluded."count"',
            [
                (share_id, connection.ops.adapt_datefield_value(day), kind, count)
                for (share_id, day, kind), count in pending.daily.items()
                if share_id in existing
            ],
        )
        _upsert(
            ShareFileCount,
            ["share_id", "path", "count", "last_fetched_at"],
            ["share_id", "path"],
            f'"count" = {file_table}."count" + excluded."count", last_fetched_at = CASE WHEN '
            f"excluded.last_fetched_at > {file_table}.last_fetched_at THEN excluded.last_fetched_at "
            f"ELSE {file_table}.last_fetched_at END",
            [
                (share_id, path, count, adapt(pending.file_last[(share_id, path)]))
                for (share_id, path), count in pending.files.items()
                if share_id in existing
            ],
        )
        totals: dict[int, Counter[str]] = {}
        for (share_id, _day, kind), count in pending.daily.items():
            if kind in SHARE_TOTALS:
                totals.setdefault(share_id, Counter())[SHARE_TOTALS[kind]] += count
        quote = connection.ops.quote_name
        share_table = quote(Share._meta.db_table)
        with connection.cursor() as cursor:
            for share_id in sorted(existing):
                added = totals.get(share_id, Counter())
                columns = ", ".join(f"{quote(name)} = {quote(name)} + %s" for name in SHARE_TOTALS.values())
                last = quote("last_accessed_at")
                written = quote("counts_written_at")
                cursor.execute(
                    f"UPDATE {share_table} SET {columns}, {written} = %s, "  # noqa: S608
                    f"{last} = CASE WHEN {last} IS NULL OR {last} < %s THEN %s ELSE {last} END WHERE id = %s",
                    [
                        *(added[name] for name in SHARE_TOTALS.values()),
                        adapt(timezone.now()),
                        adapt(pending.last_access[share_id]),
                        adapt(pending.last_access[share_id]),
                        share_id,
                    ],
                )
        ShareEvent.objects.bulk_create(
            [
                ShareEvent(share_id=share_id, kind=ShareEvent.Kind.UNLOCK_FAILED, ip_address=ip_address, at=moment)
                for share_id, moment, ip_address in pending.unlock_failures
                if share_id in existing
            ]
        )


def _flush_at_exit() -> None:
    try:
        access_log_flush()
    except Exception:  # the process is going away: say so, do not hide the exit status
        logger.exception("access log: flush at exit failed")
    finally:
        connection.close()


atexit.register(_flush_at_exit)
