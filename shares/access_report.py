"""What the owner's access-log page and its CSV read: a fixed number of queries.

The counts come from the access log's aggregates (shares.access_log writes them in
batches): ShareDailyCount (per share, UTC day and kind), ShareFileCount (per share and
file) and ShareEvent rows for failed unlocks only. Only the four `_…` readers below know
those tables; the report, the page, the chart and the CSV read what they return. Counts
still waiting in a web process's memory appear once it flushes them.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape

from django.db.models import Sum
from django.utils import timezone

from shares.models import Share, ShareDailyCount, ShareEvent, ShareFileCount

CHART_DAYS = 30
FILE_LIMIT = 200
UNLOCK_LIMIT = 50


@dataclass(frozen=True)
class FileFetches:
    path: str
    count: int
    last_at: dt.datetime


@dataclass(frozen=True)
class AccessReport:
    totals: dict[str, int]  # ShareEvent.Kind value -> count, every kind present
    fetches_by_day: list[tuple[dt.date, int]]  # the last CHART_DAYS days, oldest first, zeros kept
    files: list[FileFetches]  # most fetched first
    failed_unlocks: list[tuple[dt.datetime, str | None]]  # newest first


def _totals(share: Share) -> dict[str, int]:
    counted = dict(share.daily_counts.values_list("kind").annotate(total=Sum("count")).order_by())
    return {kind: int(counted.get(kind, 0)) for kind in ShareEvent.Kind.values}


Daily = tuple[dt.date, str, int]


def _daily(share: Share, *, since: dt.date | None = None, kind: str | None = None) -> Iterator[Daily]:
    """(day, kind, count), by UTC day, oldest first."""
    rows = ShareDailyCount.objects.filter(share=share)
    if kind is not None:
        rows = rows.filter(kind=kind)
    if since is not None:
        rows = rows.filter(day__gte=since)
    yield from rows.order_by("day", "kind").values_list("day", "kind", "count").iterator()


def _files(share: Share, *, limit: int | None) -> list[FileFetches]:
    rows = ShareFileCount.objects.filter(share=share).order_by("-count", "path")
    found = rows.values_list("path", "count", "last_fetched_at")
    return [FileFetches(path, count, last_at) for path, count, last_at in (found[:limit] if limit else found)]


def _failed_unlocks(share: Share, *, limit: int | None) -> list[tuple[dt.datetime, str | None]]:
    events = ShareEvent.objects.filter(share=share, kind=ShareEvent.Kind.UNLOCK_FAILED).order_by("-at")
    rows = events.values_list("at", "ip_address")
    return list(rows[:limit] if limit else rows)


def share_access_report(*, share: Share, today: dt.date | None = None) -> AccessReport:
    today = today or timezone.now().astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=CHART_DAYS - 1)
    counted = {day: count for day, _, count in _daily(share, since=first, kind=ShareEvent.Kind.RESOLVE)}
    return AccessReport(
        totals=_totals(share),
        fetches_by_day=[
            (day, counted.get(day, 0)) for day in (first + dt.timedelta(days=n) for n in range(CHART_DAYS))
        ],
        files=_files(share, limit=FILE_LIMIT),
        failed_unlocks=_failed_unlocks(share, limit=UNLOCK_LIMIT),
    )


def fetches_chart_svg(days: list[tuple[dt.date, int]], *, width: int = 720, height: int = 160) -> str:
    """A bar chart of fetches per day as SVG markup: no script, no style attribute (CSP)."""
    top = max((count for _, count in days), default=0) or 1
    gap, left, bottom = 2, 36, 20
    bar = (width - left) / max(len(days), 1)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Files fetched per day, the last {len(days)} days">',
        f'<text x="0" y="12" font-size="11" fill="#667085">{top}</text>',
        f'<text x="0" y="{height - bottom}" font-size="11" fill="#667085">0</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#e4e7ec"/>',
    ]
    usable = height - bottom - 8
    for index, (day, count) in enumerate(days):
        bar_height = round(usable * count / top, 1)
        x = round(left + index * bar, 1)
        label = escape(f"{day:%Y-%m-%d}: {count} file{'s' if count != 1 else ''} fetched")
        parts.append(
            f'<rect x="{x}" y="{height - bottom - bar_height}" width="{round(bar - gap, 1)}" height="{bar_height}" '
            f'fill="#2a5bd7"><title>{label}</title></rect>'
        )
        if index % 7 == 0 or index == len(days) - 1:
            parts.append(f'<text x="{x}" y="{height - 4}" font-size="11" fill="#667085">{day:%m-%d}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _cell(text: str) -> str:
    """A path as a CSV cell that no spreadsheet runs as a formula."""
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def share_access_csv(*, share: Share) -> Iterable[str]:
    """The whole log as CSV rows: daily counts per kind, fetches per file, failed unlocks."""
    writer = csv.writer(_Echo())
    yield writer.writerow(["record", "day", "kind", "path", "count", "at", "address"])
    for day, kind, count in _daily(share):
        yield writer.writerow(["daily", day.isoformat(), kind, "", count, "", ""])
    for item in _files(share, limit=None):
        yield writer.writerow(
            ["file", "", ShareEvent.Kind.RESOLVE, _cell(item.path), item.count, item.last_at.isoformat(), ""]
        )
    for at, address in _failed_unlocks(share, limit=None):
        yield writer.writerow(
            ["failed_unlock", "", ShareEvent.Kind.UNLOCK_FAILED, "", 1, at.isoformat(), address or ""]
        )
